"""What the lessons' helpers promise: lesson 05's channel-choice task and the diagrams.

The task's claims are what lesson 05 teaches, so they are pinned here: the squeeze reads the offset
exactly on the informative channel and 0 elsewhere; the mask is that channel's shapes; and a 3x3
convolution followed by instance normalisation keeps, inside a one-pixel border, only a per-map
rescaled copy of its maps when a constant is added to an input channel.
"""
from __future__ import annotations

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from coursekit import diagrams  # noqa: E402
from coursekit.channel_task import (InputGateUNet, channel_choice_segmentation,  # noqa: E402
                                    channel_gates, plot_channel_gates, plot_sse_maps, sse_maps)
from scse_ref import TinyUNet  # noqa: E402


@pytest.mark.parametrize("channels, offset", [(4, 2.0), (3, 0.5), (2, 0.0)])
def test_the_squeeze_reads_the_offset_on_the_informative_channel_only(channels, offset):
    images, masks, informative = channel_choice_segmentation(16, channels=channels, seed=3,
                                                             offset=offset)
    expected = offset * F.one_hot(informative, channels).float()
    torch.testing.assert_close(images.mean(dim=(2, 3)), expected, rtol=0, atol=1e-5)


def test_the_mask_is_the_informative_channels_shapes_and_every_channel_has_shapes():
    images, masks, informative, shapes = channel_choice_segmentation(32, seed=4, with_shapes=True)
    assert masks.shape == (32, 1, 32, 32) and shapes.shape == (32, 4, 32, 32)
    torch.testing.assert_close(masks[:, 0], shapes[torch.arange(32), informative])
    assert bool((shapes.flatten(2).sum(-1) > 0).all()), "a channel without shapes"
    assert set(informative.tolist()) == {0, 1, 2, 3}


def test_the_task_is_a_function_of_its_seed():
    a = channel_choice_segmentation(8, seed=5)
    b = channel_choice_segmentation(8, seed=5)
    c = channel_choice_segmentation(8, seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_the_task_refuses_a_single_channel():
    with pytest.raises(ValueError, match="channels must be at least 2"):
        channel_choice_segmentation(4, channels=1)


def test_conv_and_instance_norm_keep_a_rescaled_copy_of_each_map_when_a_channel_is_offset():
    """Lesson 05, section 6: inside a one-pixel border, each normalised map of the first U-Net
    block is a * map + b after a constant is added to an input channel."""
    torch.manual_seed(0)
    block = TinyUNet(in_channels=4).encoders[0]
    x = channel_choice_segmentation(2, seed=7)[0]
    shifted = x.clone()
    shifted[:, 1] += 2.0
    with torch.no_grad():
        before = block.norm1(block.conv1(x))[:, :, 1:-1, 1:-1].flatten(2)
        after = block.norm1(block.conv1(shifted))[:, :, 1:-1, 1:-1].flatten(2)
    fit = torch.stack([before, torch.ones_like(before)], dim=-1)
    coef = torch.linalg.lstsq(fit, after.unsqueeze(-1)).solution
    residual = (fit @ coef).squeeze(-1) - after
    assert residual.abs().max() < 1e-4
    assert not torch.allclose(after, before, atol=1e-3), "the offset changed nothing at all"


def test_input_gate_unet_reads_gates_and_spatial_maps():
    torch.manual_seed(0)
    model = InputGateUNet(4)
    images, masks, informative = channel_choice_segmentation(3, seed=8)
    assert model(images).shape == (3, 1, 32, 32)
    gates = channel_gates(model, images)
    assert gates.shape == (3, 4) and bool(((gates > 0) & (gates < 1)).all())
    maps = sse_maps(model, images)
    assert {k: tuple(v.shape[-2:]) for k, v in maps.items()} == {
        "unet.encoders.0.attention": (32, 32), "unet.encoders.1.attention": (16, 16),
        "unet.encoders.2.attention": (8, 8), "unet.decoders.0.attention": (16, 16),
        "unet.decoders.1.attention": (32, 32)}
    assert model.training, "reading the maps must leave the model's mode as it was"
    assert len(plot_channel_gates(gates, informative).axes) == 3
    assert plot_sse_maps(images, masks, informative, maps, overlay="unet.encoders.1.attention")


def test_sse_maps_of_a_model_without_spatial_units_is_empty():
    assert sse_maps(TinyUNet(in_channels=2), torch.randn(1, 2, 8, 8)) == {}


@pytest.mark.parametrize("kinds", [("cse", "sse", "scse"), ("cse", "eca"), ("scse", "cbam"),
                                   ("unet", "gated_unet")])
def test_block_diagrams_draw_one_panel_per_block(kinds):
    assert len(diagrams.attention_blocks(kinds).axes) == len(kinds)


def test_block_diagrams_refuse_an_unknown_block():
    with pytest.raises(ValueError, match="unknown blocks"):
        diagrams.attention_blocks(("cse", "bam"))


def test_the_other_diagrams_draw():
    assert diagrams.se_block().axes
    assert len(diagrams.memory_layout().axes) == 3
    x = torch.rand(6, 6) + 0.1
    assert len(diagrams.aggregation_gates(x, 0.4, torch.rand(6, 6)).axes) == 8


def test_aggregation_gates_refuses_a_feature_that_is_not_positive():
    with pytest.raises(ValueError, match="feature must be positive"):
        diagrams.aggregation_gates(torch.zeros(4, 4), 0.5, torch.rand(4, 4))
