"""``scse_ref.networks`` and ``scse_ref.smooth``: SE units in ResNet, Inception and U-Net blocks, and
the smoothed spatial gate of lesson 06.

The parameter counts are the published ones (torchvision's and timm's ResNet-50, timm's
``seresnet50``), pinned exactly; formulas are written here from the weights alone (``F.conv2d``,
``F.linear``), so that a test fails for the wrong placement it names.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import scse_ref
from scse_ref import (SCSE, SE_PLACEMENTS, UNET_ATTENTIONS, Bottleneck, ChannelSE, InceptionBlock,
                      ResNet, SmoothSpatialSE, SpatialSE, TinyUNet, UNetBlock, count_parameters,
                      resnet50, se_resnet50)
from tests.helpers import draw_double as _draw

F64 = dict(rtol=1e-12, atol=1e-12)


def _x(*shape, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _meta_count(build) -> int:
    with torch.device("meta"):
        return count_parameters(build())


# ----------------------------------------------------------------------- published counts, exactly

def test_resnet50_has_the_published_25_557_032_parameters():
    assert _meta_count(resnet50) == 25_557_032


def test_se_resnet50_has_timms_28_088_024_parameters():
    assert _meta_count(se_resnet50) == 28_088_024


def test_timm_rounding_and_the_floor_agree_for_resnet50_up_to_r32_and_differ_at_r64():
    for r in (2, 4, 8, 16, 32):
        assert _meta_count(lambda: se_resnet50(r)) == \
            _meta_count(lambda: se_resnet50(r, rd_divisor=None))
    # 256 / 64 = 4 hidden units by the floor, rounded up to 8 by timm's make_divisible
    assert _meta_count(lambda: se_resnet50(64)) > _meta_count(lambda: se_resnet50(64,
                                                                                 rd_divisor=None))


@pytest.mark.parametrize("reduction, exact, paper", [
    (2, 45_699_240, 45.7), (4, 35_635_688, 35.7), (8, 30_603_912, 30.7), (16, 28_088_024, 28.1),
    (32, 26_830_080, 26.9),
])
def test_r_ablation_counts_and_their_distance_to_senets_table_10(reduction, exact, paper):
    """The exact counts; r = 2 and 16 round to the paper's numbers, r = 4, 8, 32 round 0.1M below
    it (lesson 05 shows and discusses the difference)."""
    count = _meta_count(lambda: se_resnet50(reduction))
    assert count == exact
    assert abs(round(count / 1e6, 1) - paper) == pytest.approx(0.0 if reduction in (2, 16)
                                                               else 0.1)


def test_se_overhead_is_the_sum_of_the_excitation_layers():
    """2 C^2 / r + C / r + C per block, over ResNet-50's 16 blocks of widths 256 ... 2048."""
    widths = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    r = 16
    assert sum(2 * c * (c // r) + c // r + c for c in widths) == 28_088_024 - 25_557_032


@pytest.mark.parametrize("placement", list(SE_PLACEMENTS))
def test_each_placement_of_se_resnet50_runs_and_places_its_unit(placement):
    net = ResNet((1, 1, 1, 1), num_classes=10, se=True, placement=placement).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    first = net.layer1[0]
    width = first.in_channels if placement == "pre" else first.out_channels
    assert first.se.channels == width


def test_se_pre_is_the_only_placement_with_another_count():
    counts = {p: _meta_count(lambda p=p: se_resnet50(placement=p)) for p in SE_PLACEMENTS}
    assert counts["standard"] == counts["post"] == counts["identity"] == 28_088_024
    assert counts["pre"] < counts["standard"]


# ----------------------------------------------------------------------------- the bottleneck

def _bottleneck_by_weights(b: Bottleneck, x: torch.Tensor) -> torch.Tensor:
    """Every placement of the bottleneck (norm=False), from the weights alone."""
    def conv(c, t):
        return F.conv2d(t, c.weight, c.bias, c.stride, c.padding)

    def se(t):
        ex = b.se.excitation
        g = torch.sigmoid(F.linear(F.relu(F.linear(t.mean((2, 3)), ex.fc1.weight, ex.fc1.bias)),
                                   ex.fc2.weight, ex.fc2.bias))
        return t * g[:, :, None, None]

    def branch(t):
        return conv(b.conv3, F.relu(conv(b.conv2, F.relu(conv(b.conv1, t)))))

    def short(t):
        return t if b.downsample is None else conv(b.downsample, t)

    return {"standard": lambda: F.relu(se(branch(x)) + short(x)),
            "pre": lambda: F.relu(branch(se(x)) + short(x)),
            "post": lambda: se(F.relu(branch(x) + short(x))),
            "identity": lambda: F.relu(branch(x) + se(short(x)))}[b.placement]()


@pytest.mark.parametrize("placement", list(SE_PLACEMENTS))
@pytest.mark.parametrize("cin, planes, stride", [(16, 4, 1), (8, 4, 2), (12, 4, 1)])
def test_bottleneck_placement_computes_its_formula(placement, cin, planes, stride):
    b = _draw(Bottleneck(cin, planes, stride, se=True, reduction=4, placement=placement,
                         norm=False))
    x = _x(2, cin, 7, 6)
    torch.testing.assert_close(b(x), _bottleneck_by_weights(b, x), **F64)


def test_the_projection_exists_only_when_the_shape_changes():
    assert Bottleneck(256, 64).downsample is None
    assert isinstance(Bottleneck(64, 64).downsample, nn.Sequential)        # channels change
    assert isinstance(Bottleneck(256, 64, 2, norm=False).downsample, nn.Conv2d)


def test_resnet_v1_5_puts_the_stride_in_the_3x3_convolution():
    b = Bottleneck(64, 32, 2)
    assert b.conv1.stride == (1, 1) and b.conv2.stride == (2, 2)
    assert b(torch.randn(1, 64, 9, 9)).shape == (1, 128, 5, 5)


def test_bottleneck_without_norm_keeps_samples_independent_in_training_mode():
    b = _draw(Bottleneck(8, 4, 2, se=True, reduction=2, norm=False)).train()
    x = _x(3, 8, 6, 6)
    y = x.clone()
    y[1:] = _x(2, 8, 6, 6, seed=5)
    torch.testing.assert_close(b(x)[0], b(y)[0], **F64)


def test_bottleneck_without_se_has_no_se_unit_and_timms_layer_names():
    b = Bottleneck(64, 64)
    assert b.se is None
    names = {k for k, _ in b.named_parameters()}
    assert {"conv1.weight", "bn1.weight", "conv3.weight", "bn3.bias", "downsample.0.weight",
            "downsample.1.weight"} <= names


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(placement="inside"), ValueError, "placement='inside' is not an SE placement"),
    (dict(stride=0), ValueError, "stride must be a positive int"),
    (dict(reduction=1.5), TypeError, "reduction must be a positive int"),
])
def test_bottleneck_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Bottleneck(64, 16, **kwargs)


def test_resnet_refuses_a_wrong_number_of_stages_and_input_channels():
    with pytest.raises(ValueError, match="4 stages"):
        ResNet((3, 4, 6))
    with pytest.raises(ValueError, match="x has 1 channels"):
        ResNet((1, 1, 1, 1))(torch.randn(1, 1, 32, 32))


# ----------------------------------------------------------------------------- Inception

def test_se_inception_rescales_the_concatenated_output():
    block = _draw(InceptionBlock(6, 2, 3, 4, 2, 3, 2, se=True, reduction=4))
    x = _x(2, 6, 5, 7)
    plain = torch.cat([block.branch1(x), block.branch2(x), block.branch3(x), block.branch4(x)],
                      dim=1)
    assert plain.shape == (2, 11, 5, 7)
    torch.testing.assert_close(block(x), block.se(plain), **F64)
    assert count_parameters(block) - count_parameters(InceptionBlock(6, 2, 3, 4, 2, 3, 2)) == \
        count_parameters(ChannelSE(11, 4))


# ----------------------------------------------------------------------------- U-Net

@pytest.mark.parametrize("attention", UNET_ATTENTIONS)
def test_unet_block_puts_its_attention_after_the_last_relu(attention):
    block = _draw(UNetBlock(3, 8, attention=attention, reduction=2))
    x = _x(2, 3, 6, 5)
    h = F.relu(F.instance_norm(F.conv2d(x, block.conv1.weight, padding=1),
                               weight=block.norm1.weight, bias=block.norm1.bias))
    h = F.relu(F.instance_norm(F.conv2d(h, block.conv2.weight, padding=1),
                               weight=block.norm2.weight, bias=block.norm2.bias))
    kinds = {"none": nn.Identity, "cse": ChannelSE, "sse": SpatialSE, "scse": SCSE}
    assert type(block.attention) is kinds[attention]
    torch.testing.assert_close(block(x), block.attention(h), **F64)


@pytest.mark.parametrize("attention", UNET_ATTENTIONS)
@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (1, 1, 8, 12)])
def test_tiny_unet_keeps_the_image_size_for_every_attention(attention, shape):
    net = TinyUNet(attention=attention)
    assert net(torch.randn(shape)).shape == (shape[0], 1, *shape[2:])
    blocks = [m for m in net.modules() if isinstance(m, UNetBlock)]
    assert len(blocks) == 5                                   # 3 encoder levels, 2 decoder
    assert all(b.attention_kind == attention for b in blocks)


def test_tiny_unet_with_more_classes_and_levels():
    net = TinyUNet(3, 4, widths=(4, 8, 16, 32), attention="scse")
    assert net(torch.randn(1, 3, 16, 24)).shape == (1, 4, 16, 24)


def test_tiny_unet_refuses_sizes_the_pooling_cannot_halve():
    with pytest.raises(ValueError, match="multiples of 4"):
        TinyUNet()(torch.randn(1, 1, 30, 32))


def test_scse_overhead_in_a_unet_of_the_original_widths():
    """About 1.4% at r = 8, 0.7% at r = 16, 5.6% at r = 2 (lesson 05's table)."""
    widths = (64, 128, 256, 512, 1024)
    base = _meta_count(lambda: TinyUNet(widths=widths))
    over = {r: _meta_count(lambda r=r: TinyUNet(widths=widths, attention="scse", reduction=r))
            / base - 1 for r in (2, 8, 16)}
    assert over[16] < over[8] < 0.015 < over[2]
    assert 0.013 < over[8]


def test_attention_unit_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="attention='gate' is not known"):
        UNetBlock(3, 8, attention="gate")


# ----------------------------------------------------------------------------- smoothed sSE

def test_smooth_sse_is_a_normalised_binomial_smoothing_of_the_logits():
    m = _draw(SmoothSpatialSE(4))
    x = _x(2, 4, 5, 6)
    s = F.conv2d(x, m.conv.weight, m.conv.bias)
    k = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    k = (torch.outer(k, k) / 16).view(1, 1, 3, 3)
    smooth = F.conv2d(s, k, padding=1) / F.conv2d(torch.ones_like(s), k, padding=1)
    torch.testing.assert_close(m.gate(x), torch.sigmoid(smooth), **F64)
    torch.testing.assert_close(m(x), x * torch.sigmoid(smooth), **F64)


def test_smooth_sse_keeps_its_filter_as_a_buffer_that_follows_the_module():
    m = SmoothSpatialSE(4)
    assert "kernel" in m.state_dict() and "kernel" not in dict(m.named_parameters())
    assert m.to(torch.float64).kernel.dtype == torch.float64
    with torch.device("meta"):
        out = SmoothSpatialSE(4)(torch.randn(2, 4, 5, 5))
    assert out.device.type == "meta"


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_smooth_sse_keeps_the_dtype(dtype):
    m = SmoothSpatialSE(4).to(dtype)
    assert m(torch.randn(2, 4, 5, 5, dtype=dtype)).dtype == dtype


def test_count_parameters_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters([nn.Linear(2, 2)])


def test_the_new_names_are_exported():
    for name in ("Bottleneck", "ResNet", "resnet50", "se_resnet50", "InceptionBlock", "UNetBlock",
                 "TinyUNet", "count_parameters", "SmoothSpatialSE", "SE_PLACEMENTS"):
        assert name in scse_ref.__all__ and hasattr(scse_ref, name)


def test_one_placement_table_for_both_residual_blocks():
    """SEResidualBlock (lesson 04) and Bottleneck (lesson 05) take their placements from one
    table, and refuse any other with the same message."""
    assert SE_PLACEMENTS is scse_ref.PLACEMENTS
    for placement in scse_ref.PLACEMENTS:
        scse_ref.SEResidualBlock(8, 2, placement=placement)
        Bottleneck(8, 2, se=True, placement=placement)
    messages = set()
    for build in (lambda: scse_ref.SEResidualBlock(8, placement="inside"),
                  lambda: Bottleneck(8, 2, se=True, placement="inside"),
                  lambda: ResNet((1, 1, 1, 1), placement="inside")):
        with pytest.raises(ValueError, match="is not an SE placement") as info:
            build()
        messages.add(str(info.value))
    assert len(messages) == 1
