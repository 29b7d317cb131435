"""Unit tests of ``scse_ref.ECA`` and ``scse_ref.CBAM``: each test names the behaviour it pins down.

The formulas are written here from the papers' descriptions, independently of ``scse_ref``
(explicit padding and sums for ECA's 1-D convolution, ``F.linear`` / ``F.conv2d`` for CBAM), so a
test fails for the plausible wrong implementation it names. Parity with timm's ``EcaModule`` and
``CbamModule`` is in ``tests/test_parity.py``.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scse_ref import CBAM, ECA, eca_kernel_size
from tests.helpers import draw_double as _draw
from tests.test_scse_ref import _raises_before_tensor_work, _x

F64 = dict(rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- eca_kernel_size

@pytest.mark.parametrize("channels, k", [
    (1, 1), (4, 1), (8, 3), (16, 3), (64, 3), (127, 3), (128, 5), (256, 5), (1024, 5), (2047, 5),
    (2048, 7),
])
def test_eca_kernel_size_follows_the_papers_table(channels, k):
    assert eca_kernel_size(channels) == k


@pytest.mark.parametrize("gamma, beta", [(2, 1), (1, 2), (3, 0), (2.5, 1.5)])
def test_eca_kernel_size_is_the_nearest_odd_number_ties_up(gamma, beta):
    for c in range(1, 5000):
        t = (math.log2(c) + beta) / gamma
        assert eca_kernel_size(c, gamma, beta) == 2 * math.floor(t / 2) + 1, c


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(channels=0), ValueError, "channels must be a positive int, got 0"),
    (dict(channels=8.0), TypeError, "channels must be a positive int"),
    (dict(channels=8, gamma=0), ValueError, "gamma must be a positive number, got 0"),
    (dict(channels=8, beta="1"), ValueError, "beta must be a number"),
])
def test_eca_kernel_size_refuses_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        eca_kernel_size(**kwargs)


# ------------------------------------------------------------------------------------------ ECA

def _eca_gate(eca: ECA, x: torch.Tensor) -> torch.Tensor:
    """sigma(sum_j w_j z_{c+j}) with zero padding, written as an explicit sum over the window."""
    z = x.flatten(2).sum(-1) / x[0, 0].numel()                     # (N, C)
    k = eca.conv.weight.numel()
    w = eca.conv.weight.reshape(k)
    padded = F.pad(z, ((k - 1) // 2, (k - 1) // 2))                # zeros beyond both ends
    logits = sum(w[j] * padded[:, j:j + z.shape[1]] for j in range(k))
    return torch.sigmoid(logits).view(*z.shape, *(1,) * (x.dim() - 2))


@pytest.mark.parametrize("channels", [3, 16, 200])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_eca_gate_is_a_1d_convolution_across_the_squeezed_channels(channels, dims):
    shape = (3, channels) + {1: (7,), 2: (5, 3), 3: (3, 4, 2)}[dims]
    eca = _draw(ECA(channels))
    x = _x(shape)
    torch.testing.assert_close(eca.gate(x), _eca_gate(eca, x), **F64)
    torch.testing.assert_close(eca(x), x * _eca_gate(eca, x), **F64)


def test_eca_has_k_weights_no_bias_and_derives_k_from_c():
    for channels in (4, 64, 256, 2048):
        eca = ECA(channels)
        k = eca_kernel_size(channels)
        assert {n: tuple(p.shape) for n, p in eca.named_parameters()} == {"conv.weight": (1, 1, k)}
        assert eca.conv.padding == ((k - 1) // 2,)


def test_eca_gate_of_a_channel_depends_on_its_neighbours_only():
    eca = _draw(ECA(32, kernel_size=5))
    x = _x((1, 32, 4, 4))
    y = x.clone()
    y[:, 20] += 3.0                                                 # change channel 20
    changed = (eca.gate(x) - eca.gate(y)).flatten().abs() > 0
    assert changed.nonzero().flatten().tolist() == [18, 19, 20, 21, 22]


def test_eca_kernel_size_can_be_given():
    assert ECA(64, kernel_size=9).conv.weight.shape == (1, 1, 9)
    assert repr(ECA(64, kernel_size=9)) == "ECA(channels=64, kernel_size=9)"


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(channels=0), ValueError, "channels must be a positive int, got 0"),
    (dict(channels=True), TypeError, "channels must be a positive int"),
    (dict(channels=16, kernel_size=4), ValueError, "kernel_size must be odd"),
    (dict(channels=16, kernel_size=0), ValueError, "kernel_size must be a positive int"),
    (dict(channels=16, gamma=-1.0), ValueError, "gamma must be a positive number"),
    (dict(channels=16, gate_layer="sigmod"), ValueError, "gate_layer='sigmod' is not a known"),
])
def test_eca_refuses_bad_arguments_before_any_tensor_work(kwargs, error, match):
    _raises_before_tensor_work(error, match, lambda: ECA(**kwargs))


def test_eca_refuses_an_input_with_other_channels():
    with pytest.raises(ValueError, match="ECA: x has 8 channels"):
        ECA(16)(torch.randn(2, 8, 4, 4))


# ----------------------------------------------------------------------------------------- CBAM

def _cbam_parts(m: CBAM, x: torch.Tensor):
    """CBAM's two gates from the weights alone: (M_c(x), x', M_s(x'))."""
    def mlp(z):
        h = F.relu(F.linear(z, m.fc1.weight, m.fc1.bias))
        return F.linear(h, m.fc2.weight, m.fc2.bias)

    avg = x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])
    mx = x.flatten(2).max(dim=2).values
    m_c = torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]
    x1 = x * m_c
    pooled = torch.stack([x1.sum(dim=1) / x1.shape[1], x1.max(dim=1).values], dim=1)
    m_s = torch.sigmoid(F.conv2d(pooled, m.conv.weight, m.conv.bias, padding=m.kernel_size // 2))
    return m_c, x1, m_s


@pytest.mark.parametrize("channels, reduction, kernel_size, shape", [
    (16, 4, 7, (3, 16, 9, 6)), (6, 16, 3, (2, 6, 5, 5)), (32, 8, 5, (1, 32, 4, 7)),
], ids=["default-kernel", "c-below-r", "n1"])
def test_cbam_is_a_channel_gate_then_a_spatial_gate_on_the_result(channels, reduction,
                                                                   kernel_size, shape):
    m = _draw(CBAM(channels, reduction, kernel_size))
    x = _x(shape)
    m_c, x1, m_s = _cbam_parts(m, x)
    torch.testing.assert_close(m.channel_gate(x), m_c, **F64)
    torch.testing.assert_close(m.spatial_gate(x1), m_s, **F64)
    torch.testing.assert_close(m(x), x1 * m_s, **F64)


def test_cbam_channel_gate_uses_the_max_branch():
    m = _draw(CBAM(8, 2))
    x = _x((2, 8, 5, 5))
    y = x.clone()
    y[:, :, 0, 0] += 10.0 - y[:, :, 0, 0]              # one high pixel: the max moves, the mean
    y[:, :, 0, 1] -= 10.0 - x[:, :, 0, 0]              # is kept
    torch.testing.assert_close(y.mean((2, 3)), x.mean((2, 3)), **F64)
    assert not torch.allclose(m.channel_gate(x), m.channel_gate(y))


def test_cbam_spatial_gate_concatenates_mean_then_max():
    m = _draw(CBAM(8, 2))
    x = _x((2, 8, 6, 6))
    swapped = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], dim=1)
    wrong = torch.sigmoid(F.conv2d(swapped, m.conv.weight, m.conv.bias, padding=3))
    assert not torch.allclose(m.spatial_gate(x), wrong)


def test_cbam_parameters_are_the_contract():
    m = CBAM(64, 16, 7)
    assert {n: tuple(p.shape) for n, p in m.named_parameters()} == {
        "fc1.weight": (4, 64), "fc1.bias": (4,), "fc2.weight": (64, 4), "fc2.bias": (64,),
        "conv.weight": (1, 2, 7, 7), "conv.bias": (1,)}
    assert CBAM(8, 16).hidden == 1                      # max(1, C // r): the seed's trap avoided
    assert CBAM(64, rd_channels=8).hidden == 8
    assert CBAM(64, 16, rd_divisor=8).hidden == 8
    assert CBAM(64, bias=False).fc1.bias is None


def test_cbam_samples_are_independent_and_the_input_is_kept():
    m = _draw(CBAM(8, 2))
    x = _x((3, 8, 5, 6))
    before = x.clone()
    torch.testing.assert_close(m(x)[1:2], m(x[1:2]), **F64)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(channels=0), ValueError, "channels must be a positive int, got 0"),
    (dict(channels=16, reduction=0), ValueError, "reduction must be a positive int, got 0"),
    (dict(channels=16, kernel_size=6), ValueError, "kernel_size must be odd"),
    (dict(channels=16, rd_channels=0), ValueError, "rd_channels must be a positive int"),
    (dict(channels=16, act_layer="rleu"), ValueError, "act_layer='rleu' is not a known"),
])
def test_cbam_refuses_bad_arguments_before_any_tensor_work(kwargs, error, match):
    _raises_before_tensor_work(error, match, lambda: CBAM(**kwargs))


def test_cbam_refuses_inputs_that_are_not_4d_maps_of_its_channels():
    with pytest.raises(ValueError, match=r"CBAM: x must have 4 dims \(N, C, H, W\)"):
        CBAM(8)(torch.randn(2, 8, 5))
    with pytest.raises(ValueError, match="CBAM: x has 4 channels"):
        CBAM(8)(torch.randn(2, 4, 5, 5))


# ----------------------------------------------------------------------------------- both

@pytest.mark.parametrize("build, shape", [
    (lambda: ECA(6, kernel_size=3), (2, 6, 3, 4)),
    (lambda: CBAM(6, 2, 3), (2, 6, 4, 3)),
], ids=["eca", "cbam"])
def test_gradcheck_on_input_and_parameters(build, shape):
    m = _draw(build())
    x = _x(shape).requires_grad_()
    params = list(m.parameters())

    def f(x, *ps):
        out = torch.func.functional_call(m, dict(zip([n for n, _ in m.named_parameters()], ps)),
                                         (x,))
        return out

    assert torch.autograd.gradcheck(f, (x, *[p.detach().requires_grad_() for p in params]))


@pytest.mark.parametrize("build", [lambda: ECA(16), lambda: CBAM(16, 4)], ids=["eca", "cbam"])
def test_run_on_the_meta_device_and_channels_last(build):
    with torch.device("meta"):
        m = build()
        out = m(torch.empty(2, 16, 5, 6))
    assert out.device.type == "meta" and out.shape == (2, 16, 5, 6)
    m = _draw(build())
    x = _x((2, 16, 5, 6))
    torch.testing.assert_close(m(x.contiguous(memory_format=torch.channels_last)), m(x), **F64)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("build", [lambda: ECA(16), lambda: CBAM(16, 4)], ids=["eca", "cbam"])
def test_output_keeps_the_dtype(build, dtype):
    m = build().to(dtype)
    assert m(torch.randn(2, 16, 4, 4, dtype=dtype)).dtype == dtype


def test_reprs_read_as_one_line():
    assert repr(ECA(256)) == "ECA(channels=256, kernel_size=5)"
    assert repr(ECA(8, gate_layer="hard_sigmoid")) == \
        "ECA(channels=8, kernel_size=3, gate=hard_sigmoid)"
    assert repr(CBAM(64, bias=False)) == \
        "CBAM(channels=64, hidden=4, reduction=16, kernel_size=7, bias=False)"
