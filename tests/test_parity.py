"""Parity of ``scse_ref`` with the field's implementations: same weights in, same numbers out.

For each peer the test builds the peer and the matching ``scse_ref`` module, draws the reference's
weights, copies them into the peer (1x1 convolution kernels ``(C_out, C_in, 1, 1)`` <-> ``Linear``
weights ``(C_out, C_in)`` by reshape), runs both on the same input and compares the outputs, the
gradient of the input and the gradient of every parameter: float64 to 1e-12, float32 to a relative
1e-6 with an absolute floor proportional to the tensor's largest entry (a conv-1x1 path and a Linear
path differ by a few 1e-7 in float32; see ``assert_close``).

Which peer comes from where (see ``tests/peers.py``): MONAI and fvcore are imported as installed;
timm, segmentation_models_pytorch and torchvision are their own module files loaded from the wheels
in ``.venv/peers``; the seed tutorial's modules are transcribed in ``tests/peers.py``; the scSE
authors' code and the Keras reference are written below as the formulas their sources compute.
"""
from __future__ import annotations

import inspect
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import scse_ref
from tests import peers

SETUP_HINT = "run `make setup` (it installs the test extra: monai, fvcore)"

# float64: both paths agree to rounding. float32: relative 1e-6 (peers.md), and an absolute floor
# that grows with the tensor's scale: a gradient summed over L positions in another order (conv
# backward vs the fused bmm) differs by about eps * sqrt(L) of its largest entry; measured up to
# 8e-7 of it for L = 64 x 64, while each path is within 5e-7 of the float64 result.
FLOAT32_RTOL, FLOAT32_ATOL_PER_SCALE = 1e-6, 2e-6


def assert_close(actual: torch.Tensor, expected: torch.Tensor, msg=None) -> None:
    """``torch.testing.assert_close`` with this file's tolerances for ``expected``'s dtype."""
    if expected.dtype == torch.float64:
        tol = dict(rtol=1e-12, atol=1e-12)
    else:
        scale = max(1.0, expected.detach().abs().max().item()) if expected.numel() else 1.0
        tol = dict(rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL_PER_SCALE * scale)
    torch.testing.assert_close(actual, expected, **tol, msg=msg)


DTYPES = [torch.float32, torch.float64]


# --------------------------------------------------------------------------------------- helpers

def _peer(loader):
    """A peer class from ``.venv/peers``, or skip the test saying how to install it."""
    try:
        return loader()
    except peers.PeerUnavailable as exc:
        pytest.skip(str(exc))


def _monai():
    return pytest.importorskip("monai.networks.blocks", reason=SETUP_HINT)


def _fvcore():
    return pytest.importorskip("fvcore.nn.squeeze_excitation", reason=SETUP_HINT)


def _draw_(module: nn.Module, seed: int) -> None:
    """Draw every parameter of ``module``: weights N(0, 1/fan_in), so that pre-activations have unit
    scale (sigmoids not saturated, ReLUs cutting some units), biases N(0, 0.5^2)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                draw = torch.randn(p.shape, generator=gen, dtype=torch.float64) / fan_in ** 0.5
            else:
                draw = 0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_(draw)


def _input(shape, dtype, seed: int) -> torch.Tensor:
    """``N(0, 1)`` plus a per-(n, c) offset: channel means differ between channels and samples."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x += torch.randn(*shape[:2], *(1,) * (len(shape) - 2), generator=gen, dtype=torch.float64)
    return x.to(dtype)


def _copy_weights_(ref: nn.Module, peer: nn.Module, names: dict[str, str]) -> None:
    """Copy ``ref``'s parameters into ``peer``: ``names`` maps reference names to peer names, and
    must name every parameter of both, so that nothing is left at the peer's own init."""
    ref_params, peer_params = dict(ref.named_parameters()), dict(peer.named_parameters())
    assert sorted(names) == sorted(ref_params), "the mapping must cover every reference parameter"
    assert sorted(names.values()) == sorted(peer_params), "... and every peer parameter"
    with torch.no_grad():
        for ref_name, peer_name in names.items():
            src, dst = ref_params[ref_name], peer_params[peer_name]
            assert src.numel() == dst.numel(), (ref_name, src.shape, peer_name, dst.shape)
            dst.copy_(src.reshape(dst.shape))        # e.g. Linear (h, C) -> Conv2d 1x1 (h, C, 1, 1)


def _hidden_alive(ref: nn.Module, x: torch.Tensor) -> bool:
    """Whether some hidden ReLU unit of each excitation in ``ref`` is alive on ``x``. A dead layer
    would hide a wrong ``fc1``: its gradient is zero in both modules."""
    excitations = [m for m in ref.modules() if isinstance(m, scse_ref.Excitation)]
    seen = []
    hooks = [e.act.register_forward_hook(lambda m, i, out: seen.append(out)) for e in excitations]
    try:
        with torch.no_grad():
            ref(x)
    finally:
        for h in hooks:
            h.remove()
    return all(bool((out > 0).any()) for out in seen)


def _draw_alive_(ref: nn.Module, x: torch.Tensor, seed: int) -> None:
    """Draw ``ref``'s weights, trying further seeds until a hidden unit is alive on ``x``."""
    for attempt in range(20):
        _draw_(ref, seed + 1000 * attempt)
        if _hidden_alive(ref, x):
            return
    raise AssertionError("no draw kept a hidden unit alive: change the input")


def assert_parity(ref: nn.Module, peer: nn.Module, names: dict[str, str], shape, dtype,
                  seed: int = 0) -> None:
    """Outputs, input gradients and parameter gradients of ``ref`` and ``peer`` agree."""
    ref, peer = ref.to(dtype), peer.to(dtype)
    x = _input(shape, dtype, seed + 1)
    _draw_alive_(ref, x, seed)
    _copy_weights_(ref, peer, names)
    x_ref, x_peer = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out_peer = ref(x_ref), peer(x_peer)
    assert_close(out_ref, out_peer, msg=lambda m: f"outputs differ: {m}")
    # a random cotangent, not out.sum(): every output element gets its own weight
    gen = torch.Generator().manual_seed(seed + 2)
    cotangent = torch.randn(out_ref.shape, generator=gen, dtype=torch.float64).to(dtype)
    (out_ref * cotangent).sum().backward()
    (out_peer * cotangent).sum().backward()
    assert_close(x_ref.grad, x_peer.grad, msg=lambda m: f"input gradients differ: {m}")
    peer_params = dict(peer.named_parameters())
    for ref_name, p in ref.named_parameters():
        q = peer_params[names[ref_name]]
        assert p.grad is not None and q.grad is not None, ref_name
        assert_close(p.grad, q.grad.reshape(p.shape),
                     msg=lambda m, n=ref_name: f"gradient of {n} differs: {m}")


def _excitation_names(ref_prefix: str, fc1: str, fc2: str, bias: bool = True) -> dict[str, str]:
    keys = ("weight", "bias") if bias else ("weight",)
    names = {f"{ref_prefix}fc1.{k}": f"{fc1}.{k}" for k in keys}
    names.update({f"{ref_prefix}fc2.{k}": f"{fc2}.{k}" for k in keys})
    return names


def _conv_names(ref_prefix: str, conv: str, bias: bool = True) -> dict[str, str]:
    keys = ("weight", "bias") if bias else ("weight",)
    return {f"{ref_prefix}conv.{k}": f"{conv}.{k}" for k in keys}


SHAPES_2D = [(1, 32, 7, 5), (2, 48, 9, 4), (3, 64, 1, 1)]          # N = 1, odd, non-square, 1x1
SHAPES_BY_DIMS = {1: (2, 32, 11), 2: (1, 32, 7, 5), 3: (2, 16, 3, 5, 4)}


# ---------------------------------------------------------------------- segmentation_models_pytorch

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("reduction", [16, 8, 4])
def test_smp_scse_module_equals_scse_add(reduction, shape, fused, dtype):
    # smp's hidden width is in_channels // reduction, unguarded: every C here is >= reduction
    SCSEModule = _peer(peers.smp_scse_module)
    channels = shape[1]
    ref = scse_ref.SCSE(channels, reduction, mode="add", fused=fused)
    peer = SCSEModule(channels, reduction=reduction)
    names = {**_excitation_names("cse.excitation.", "cSE.1", "cSE.3"),
             **_conv_names("sse.", "sSE.0")}
    assert_parity(ref, peer, names, shape, dtype)


# ------------------------------------------------------------------------------------------- timm

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("rd_channels", [1, 5, 8])
def test_timm_se_module_equals_channel_se_with_rd_channels(rd_channels, shape, dtype):
    SEModule = _peer(peers.timm_se_module)
    channels = shape[1]
    ref = scse_ref.ChannelSE(channels, rd_channels=rd_channels)
    peer = SEModule(channels, rd_channels=rd_channels)
    assert_parity(ref, peer, _excitation_names("excitation.", "fc1", "fc2"), shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [16, 64, 200])
def test_timm_se_module_defaults_equal_channel_se_with_rd_divisor_8(channels, dtype):
    # timm's default width is make_divisible(C / 16, 8): 8 for C = 16 and 64, 16 for C = 200
    SEModule = _peer(peers.timm_se_module)
    ref = scse_ref.ChannelSE(channels, 16, rd_divisor=8)
    peer = SEModule(channels)
    assert ref.excitation.hidden == peer.fc1.out_channels
    assert_parity(ref, peer, _excitation_names("excitation.", "fc1", "fc2"),
                  (2, channels, 5, 3), dtype)


@pytest.mark.parametrize("options", [
    dict(ref=dict(bias=False), timm=dict(bias=False)),
    dict(ref=dict(act_layer="silu", gate_layer="hard_sigmoid"),
         timm=dict(act_layer=nn.SiLU, gate_layer="hard_sigmoid")),
    dict(ref=dict(act_layer=nn.GELU), timm=dict(act_layer=nn.GELU)),
], ids=["no-bias", "silu-hard-sigmoid", "gelu"])
def test_timm_se_module_options_equal_channel_se_options(options):
    SEModule = _peer(peers.timm_se_module)
    ref = scse_ref.ChannelSE(32, rd_channels=6, **options["ref"])
    peer = SEModule(32, rd_channels=6, **options["timm"])
    names = _excitation_names("excitation.", "fc1", "fc2", bias=options["ref"].get("bias", True))
    assert_parity(ref, peer, names, (2, 32, 5, 7), torch.float64)


def test_reduced_channels_with_divisor_8_is_timm_se_module_width_for_c_1_to_300():
    SEModule = _peer(peers.timm_se_module)
    ours = [scse_ref.reduced_channels(c, 16, divisor=8) for c in range(1, 301)]
    timm = [SEModule(c).fc1.out_channels for c in range(1, 301)]
    assert ours == timm
    assert ours[63] == 8 and ours[255] == 16        # C = 64 -> 8 (not 4); C = 256 -> 16


@pytest.mark.parametrize("divisor", [1, 4, 8, 16])
@pytest.mark.parametrize("reduction", [2, 4, 8, 16, 32])
def test_reduced_channels_with_divisor_is_timm_make_divisible(reduction, divisor):
    # what timm's SEModule calls: make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)
    make_divisible = _peer(peers.timm_make_divisible)
    for c in range(1, 301):
        timm = make_divisible(c * (1.0 / reduction), divisor, round_limit=0.0)
        assert scse_ref.reduced_channels(c, reduction, divisor=divisor) == timm, (c, reduction)
        assert scse_ref.make_divisible(c / reduction, divisor) == make_divisible(c / reduction,
                                                                                 divisor), c


# ------------------------------------------------------------------------------------------ MONAI

def test_monai_channel_se_layer_defaults_are_r2_relu_sigmoid():
    blocks = _monai()
    params = inspect.signature(blocks.ChannelSELayer).parameters
    assert params["r"].default == 2
    assert params["acti_type_1"].default == ("relu", {"inplace": True})
    assert params["acti_type_2"].default == "sigmoid"
    assert params["add_residual"].default is False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("r", [None, 4])
def test_monai_channel_se_layer_equals_channel_se(r, spatial_dims, dtype):
    blocks = _monai()
    shape = SHAPES_BY_DIMS[spatial_dims]
    channels = shape[1]
    if r is None:                                   # MONAI's default, r = 2
        peer, ref = blocks.ChannelSELayer(spatial_dims, channels), scse_ref.ChannelSE(channels, 2)
    else:
        peer = blocks.ChannelSELayer(spatial_dims, channels, r=r)
        ref = scse_ref.ChannelSE(channels, r)
    assert_parity(ref, peer, _excitation_names("excitation.", "fc.0", "fc.2"), shape, dtype)


def test_monai_refuses_zero_width_where_scse_ref_keeps_one_unit():
    blocks = _monai()
    with pytest.raises(ValueError, match="r must be positive and smaller than in_channels"):
        blocks.ChannelSELayer(2, 1, r=2)             # 1 // 2 == 0
    assert scse_ref.ChannelSE(1, 2).excitation.hidden == 1


# ----------------------------------------------------------------------------------------- fvcore

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("reduced", [None, 5])
def test_fvcore_channel_spatial_se_equals_scse_max(reduced, spatial_dims, dtype):
    fv = _fvcore()
    shape = (2, 48, 7, 5) if spatial_dims == 2 else (2, 32, 3, 5, 4)
    channels = shape[1]
    # fvcore's default reduction_ratio is 16.0 and its width int(C // 16.0)
    peer = fv.ChannelSpatialSqueezeExcitation(channels, num_channels_reduced=reduced,
                                              is_3d=spatial_dims == 3)
    ref = scse_ref.SCSE(channels, 16, mode="max", spatial_dims=spatial_dims, rd_channels=reduced)
    names = {**_excitation_names("cse.excitation.", "channel.block.0", "channel.block.2"),
             **_conv_names("sse.", "spatial.block.0")}
    assert_parity(ref, peer, names, shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_fvcore_squeeze_excitation_equals_channel_se(spatial_dims, dtype):
    fv = _fvcore()
    shape = SHAPES_BY_DIMS[spatial_dims]
    peer = fv.SqueezeExcitation(shape[1], is_3d=spatial_dims == 3)    # reduction_ratio=2.0
    ref = scse_ref.ChannelSE(shape[1], 2)
    assert_parity(ref, peer, _excitation_names("excitation.", "block.0", "block.2"), shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_fvcore_spatial_squeeze_excitation_equals_spatial_se(spatial_dims, dtype):
    fv = _fvcore()
    shape = SHAPES_BY_DIMS[spatial_dims]
    peer = fv.SpatialSqueezeExcitation(shape[1], is_3d=spatial_dims == 3)
    ref = scse_ref.SpatialSE(shape[1], spatial_dims=spatial_dims)
    assert_parity(ref, peer, _conv_names("", "block.0"), shape, dtype)


# ------------------------------------------------------------------------------------ torchvision

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("squeeze, act, gate, ref_act, ref_gate", [
    (4, nn.ReLU, nn.Sigmoid, "relu", "sigmoid"),
    (8, nn.Hardswish, nn.Hardsigmoid, "hard_swish", "hard_sigmoid"),   # MobileNetV3's choice
], ids=["relu-sigmoid", "hardswish-hardsigmoid"])
def test_torchvision_squeeze_excitation_equals_channel_se(squeeze, act, gate, ref_act, ref_gate,
                                                          shape, dtype):
    SqueezeExcitation = _peer(peers.torchvision_squeeze_excitation)
    channels = shape[1]
    peer = SqueezeExcitation(channels, squeeze, activation=act, scale_activation=gate)
    ref = scse_ref.ChannelSE(channels, rd_channels=squeeze, act_layer=ref_act, gate_layer=ref_gate)
    assert_parity(ref, peer, _excitation_names("excitation.", "fc1", "fc2"), shape, dtype)


# ----------------------------------------------------------------------------- the seed tutorial

SEED_SCSE_NAMES = {**_excitation_names("cse.excitation.", "cSE.excitation.0", "cSE.excitation.2"),
                   **_conv_names("sse.", "sSE.spatial_excitation.0")}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("ratio", [16, 4])
def test_seed_cse_module_equals_channel_se(ratio, shape, dtype):
    channels = shape[1]                                 # >= 16: the seed's width is C // ratio
    ref, peer = scse_ref.ChannelSE(channels, ratio), peers.cSE_Module(channels, ratio)
    assert_parity(ref, peer, _excitation_names("excitation.", "excitation.0", "excitation.2"),
                  shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_seed_sse_module_equals_spatial_se(shape, dtype):
    ref, peer = scse_ref.SpatialSE(shape[1]), peers.sSE_Module(shape[1])
    assert_parity(ref, peer, _conv_names("", "spatial_excitation.0"), shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("shape", SHAPES_2D + [(1, 16, 64, 64)])     # + the seed's own demo
def test_seed_scse_module_equals_scse_add(shape, fused, dtype):
    ref = scse_ref.SCSE(shape[1], 16, fused=fused)
    peer = peers.scSE_Module(shape[1])
    assert_parity(ref, peer, SEED_SCSE_NAMES, shape, dtype)


def test_seed_cse_module_below_16_channels_has_a_zero_width_layer_and_a_constant_gate():
    # channel // ratio = 8 // 16 = 0: Linear(8, 0) and Linear(0, 8). torch warns and builds them;
    # fc2's bias is initialised to 0 (its fan-in is 0), so the gate is sigmoid(0) = 0.5 for every
    # input, and fc1 has no weights to learn.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seed = peers.cSE_Module(8)
    assert any("zero-element" in str(w.message) for w in caught)
    assert seed.excitation[0].out_features == 0 and seed.excitation[0].weight.numel() == 0
    x = _input((2, 8, 5, 5), torch.float64, 0)
    seed = seed.double()
    torch.testing.assert_close(seed(x), 0.5 * x, rtol=0, atol=0)
    # scse_ref keeps max(1, C // r) = 1 hidden unit: the gate depends on the input
    ref = scse_ref.ChannelSE(8, 16).double()
    _draw_alive_(ref, x, 0)
    assert ref.excitation.hidden == 1
    gate = ref.gate(x)
    assert gate.shape == (2, 8, 1, 1)
    assert not torch.allclose(gate[0], gate[1])


# ------------------------------------------------------- formulas of peers that cannot be installed

def authors_scse(x, w1, b1, w2, b2, ws, bs):
    """scSE as the authors' code computes it.

    ai-med/squeeze_and_excitation, ``squeeze_and_excitation.py`` and ``_3D.py``: ``ChannelSELayer``
    is ``nn.Linear(C, C // r, bias=True)``, ``nn.ReLU``, ``nn.Linear(C // r, C, bias=True)``,
    ``nn.Sigmoid`` on ``x.view(N, C, -1).mean(dim=2)``; ``SpatialSELayer`` is ``nn.Conv2d(C, 1, 1)``
    (bias) and a sigmoid; ``ChannelSpatialSELayer`` returns ``torch.max(self.cSE(x), self.sSE(x))``.
    """
    n, c = x.shape[:2]
    ones = (1,) * (x.dim() - 2)
    squeeze = x.reshape(n, c, -1).mean(dim=2)
    gate_c = torch.sigmoid(F.linear(F.relu(F.linear(squeeze, w1, b1)), w2, b2))
    gate_s = torch.sigmoid((x * ws.view(1, c, *ones)).sum(1, keepdim=True) + bs)
    return torch.max(torch.mul(x, gate_c.view(n, c, *ones)), torch.mul(x, gate_s))


def keras_scse(x, w1, w2, ws):
    """scSE as the Keras reference computes it.

    titu1994/keras-squeeze-excite-network, ``se.py``: ``squeeze_excite_block`` is
    GlobalAveragePooling2D, ``Dense(C // ratio, relu, use_bias=False)``,
    ``Dense(C, sigmoid, use_bias=False)``, multiply; ``spatial_squeeze_excite_block`` is
    ``Conv2D(1, (1, 1), sigmoid, use_bias=False)``, multiply; ``channel_spatial_squeeze_excite``
    returns ``add([cse, sse])``. Keras is channels-last; the same math is written here for NCHW.
    """
    n, c = x.shape[:2]
    ones = (1,) * (x.dim() - 2)
    gate_c = torch.sigmoid(F.relu(x.mean(dim=tuple(range(2, x.dim()))) @ w1.T) @ w2.T)
    gate_s = torch.sigmoid((x * ws.view(1, c, *ones)).sum(1, keepdim=True))
    return x * gate_c.view(n, c, *ones) + x * gate_s


class Formula(nn.Module):
    """A formula's tensors held as named parameters, so that weights copy and gradients compare
    exactly as for an installed peer."""

    def __init__(self, formula, **shapes):
        super().__init__()
        self.formula = formula
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))

    def forward(self, x):
        return self.formula(x, **dict(self.named_parameters()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 32, 7, 5), (2, 16, 3, 5, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("reduction", [2, 16])      # 2: the authors' default
def test_authors_formula_equals_scse_max(reduction, shape, dtype):
    channels, hidden = shape[1], shape[1] // reduction
    ref = scse_ref.SCSE(channels, reduction, mode="max", spatial_dims=len(shape) - 2)
    peer = Formula(authors_scse, w1=(hidden, channels), b1=(hidden,), w2=(channels, hidden),
                   b2=(channels,), ws=(channels,), bs=(1,))
    names = {"cse.excitation.fc1.weight": "w1", "cse.excitation.fc1.bias": "b1",
             "cse.excitation.fc2.weight": "w2", "cse.excitation.fc2.bias": "b2",
             "sse.conv.weight": "ws", "sse.conv.bias": "bs"}
    assert_parity(ref, peer, names, shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("shape", [(1, 32, 7, 5), (2, 64, 4, 9)])
def test_keras_formula_equals_scse_add_without_bias(shape, fused, dtype):
    channels, hidden = shape[1], shape[1] // 16
    ref = scse_ref.SCSE(channels, 16, bias=False, fused=fused)
    peer = Formula(keras_scse, w1=(hidden, channels), w2=(channels, hidden), ws=(channels,))
    names = {"cse.excitation.fc1.weight": "w1", "cse.excitation.fc2.weight": "w2",
             "sse.conv.weight": "ws"}
    assert_parity(ref, peer, names, shape, dtype)


# ------------------------------------------------------------- the fused "add" path of scse_ref

FUSED_CASES = {                                     # shape, spatial dims, memory layout
    "1d": ((2, 16, 13), 1, "contiguous"),
    "2d": ((3, 24, 7, 5), 2, "contiguous"),
    "2d-n1": ((1, 16, 1, 9), 2, "contiguous"),
    "2d-channels-last": ((2, 24, 7, 5), 2, "channels_last"),
    "2d-strided": ((2, 24, 7, 5), 2, "strided"),
    "3d": ((2, 16, 3, 5, 4), 3, "contiguous"),
    "3d-channels-last": ((2, 16, 3, 5, 4), 3, "channels_last"),
}
FUSED_OPTIONS = {
    "default": dict(),
    "no-bias": dict(bias=False),
    "gelu-hard-sigmoid": dict(act_layer="gelu", gate_layer="hard_sigmoid"),
    "rd-divisor-8": dict(rd_divisor=8),
}


def _fused_pair(channels, spatial_dims, options, dtype, x, seed=0):
    fused = scse_ref.SCSE(channels, 4, spatial_dims=spatial_dims, **options).to(dtype)
    _draw_alive_(fused, x, seed)
    plain = scse_ref.SCSE(channels, 4, spatial_dims=spatial_dims, fused=False, **options).to(dtype)
    plain.load_state_dict(fused.state_dict())
    return fused, plain


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` with the same values in another memory layout (the fused path has one branch each)."""
    if layout == "channels_last":
        fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        x = x.contiguous(memory_format=fmt)
        assert not x.is_contiguous()
    elif layout == "strided":                        # neither contiguous nor channels_last
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
        assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("option", list(FUSED_OPTIONS))
@pytest.mark.parametrize("case", list(FUSED_CASES))
def test_fused_add_equals_two_branch_add(case, option, dtype):
    shape, spatial_dims, layout = FUSED_CASES[case]
    x = _layout(_input(shape, dtype, 1), layout)
    fused, plain = _fused_pair(shape[1], spatial_dims, FUSED_OPTIONS[option], dtype, x)
    x_f, x_p = x.clone().requires_grad_(), x.clone().requires_grad_()   # clone keeps the layout
    out_f, out_p = fused(x_f), plain(x_p)
    assert_close(out_f, out_p)
    cotangent = _input(out_p.shape, dtype, 2)
    (out_f * cotangent).sum().backward()
    (out_p * cotangent).sum().backward()
    assert_close(x_f.grad, x_p.grad)
    for (name, p), q in zip(fused.named_parameters(), plain.parameters()):
        assert_close(p.grad, q.grad, msg=lambda m, n=name: f"gradient of {n} differs: {m}")


@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_fused_add_keeps_the_memory_format_of_the_input(layout):
    fused = scse_ref.SCSE(16, 4)
    x = _layout(_input((2, 16, 5, 7), torch.float32, 0), layout).requires_grad_()
    out = fused(x)
    expected = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    assert out.is_contiguous(memory_format=expected)
    out.sum().backward()
    assert x.grad.is_contiguous(memory_format=expected)


@pytest.mark.parametrize("needs", ["input-only", "parameters-only"])
def test_fused_add_gradients_when_only_some_inputs_need_them(needs):
    x = _input((2, 16, 5, 3), torch.float64, 1)
    fused, plain = _fused_pair(16, 2, {}, torch.float64, x)
    for m in (fused, plain):
        m.requires_grad_(needs == "parameters-only")
    x_f = x.clone().requires_grad_(needs == "input-only")
    x_p = x.clone().requires_grad_(needs == "input-only")
    (fused(x_f) * x).sum().backward()
    (plain(x_p) * x).sum().backward()
    if needs == "input-only":
        assert_close(x_f.grad, x_p.grad)
        assert all(p.grad is None for p in fused.parameters())
    else:
        assert x_f.grad is None
        for p, q in zip(fused.parameters(), plain.parameters()):
            assert_close(p.grad, q.grad)


@pytest.mark.parametrize("case", ["1d", "2d", "2d-channels-last", "3d-channels-last"])
@pytest.mark.parametrize("option", ["default", "no-bias"])
def test_fused_add_passes_gradcheck_on_input_and_parameters(case, option):
    _, spatial_dims, layout = FUSED_CASES[case]
    shape = (2, 8, *(3, 4, 2)[:spatial_dims])         # small: gradcheck perturbs every entry
    x = _layout(_input(shape, torch.float64, 1), layout)
    fused, _ = _fused_pair(8, spatial_dims, FUSED_OPTIONS[option], torch.float64, x)
    names = [n for n, _ in fused.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in fused.parameters()]
    x.requires_grad_()

    def run(x, *params):
        return torch.func.functional_call(fused, dict(zip(names, params)), (x,))

    assert torch.autograd.gradcheck(run, (x, *params))


def test_fused_add_supports_double_backward():
    x = _input((2, 8, 3, 4), torch.float64, 1).requires_grad_()
    fused, _ = _fused_pair(8, 2, {}, torch.float64, x)
    assert torch.autograd.gradgradcheck(fused, (x,))


def test_fused_add_double_backward_reaches_the_parameters():
    x = _input((2, 8, 3, 4), torch.float64, 1).requires_grad_()
    fused, plain = _fused_pair(8, 2, {}, torch.float64, x)
    grads = []
    for module in (fused, plain):
        (gx,) = torch.autograd.grad(module(x).pow(2).sum(), x, create_graph=True)
        grads.append(torch.autograd.grad(gx.pow(2).sum(), list(module.parameters())))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_two_branch_add_supports_double_backward():
    x = _input((2, 8, 3, 4), torch.float64, 1).requires_grad_()
    _, plain = _fused_pair(8, 2, {}, torch.float64, x)
    assert torch.autograd.gradgradcheck(plain, (x,))


# ------------------------------------------------------------------- ECA and CBAM (timm's modules)

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 32, 7, 5), (2, 200, 4, 3), (3, 256, 1, 1), (2, 2048, 2, 3)],
                         ids=["c32-k3", "c200-k5", "c256-k5-1x1", "c2048-k7"])
def test_timm_eca_module_equals_eca(shape, dtype):
    EcaModule = _peer(peers.timm_eca_module)
    ref, peer = scse_ref.ECA(shape[1]), EcaModule(shape[1])
    assert ref.kernel_size == peer.conv.kernel_size[0]             # k derived from C alike
    assert_parity(ref, peer, {"conv.weight": "conv.weight"}, shape, dtype)


def test_eca_kernel_size_is_timms_from_8_channels_and_timm_never_goes_below_3():
    EcaModule = _peer(peers.timm_eca_module)
    timm = {c: EcaModule(c).conv.kernel_size[0] for c in range(1, 4097)}
    ours = {c: scse_ref.eca_kernel_size(c) for c in timm}
    assert [c for c in timm if timm[c] != ours[c]] == list(range(1, 8))
    assert all(timm[c] == 3 for c in range(1, 8)) and ours[4] == 1


@pytest.mark.parametrize("kernel_size", [1, 5, 9])
def test_timm_eca_module_with_a_given_kernel_size_equals_eca(kernel_size):
    EcaModule = _peer(peers.timm_eca_module)
    ref, peer = scse_ref.ECA(16, kernel_size=kernel_size), EcaModule(kernel_size=kernel_size)
    assert_parity(ref, peer, {"conv.weight": "conv.weight"}, (2, 16, 5, 4), torch.float64)


def _fold_batchnorm_(ref_conv: nn.Conv2d, peer_conv: nn.Conv2d, bn: nn.BatchNorm2d,
                     seed: int) -> torch.Tensor:
    """Draw ``peer_conv`` and ``bn``'s statistics and affine parameters, and write into
    ``ref_conv`` (which has a bias) the convolution that equals ``bn(peer_conv(x))`` in evaluation
    mode: ``w * s`` and ``beta - mean * s`` with ``s = gamma / sqrt(var + eps)``. Returns ``s``."""
    gen = torch.Generator().manual_seed(seed)
    dtype = ref_conv.weight.dtype
    draw = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)  # noqa: E731
    with torch.no_grad():
        peer_conv.weight.copy_(draw(*peer_conv.weight.shape) / peer_conv.weight[0].numel() ** 0.5)
        bn.running_mean.copy_(0.3 * draw(1))
        bn.running_var.copy_(0.5 + draw(1).abs())
        bn.weight.copy_(1 + 0.2 * draw(1))
        bn.bias.copy_(0.5 * draw(1))
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        ref_conv.weight.copy_(peer_conv.weight * scale.view(-1, 1, 1, 1))
        ref_conv.bias.copy_(bn.bias - bn.running_mean * scale)
    return scale.detach()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mlp_bias", [False, True], ids=["timm-default", "mlp-bias"])
@pytest.mark.parametrize("shape, rd_channels, kernel_size", [
    ((1, 32, 7, 5), 2, 7), ((2, 48, 9, 4), 3, 7), ((3, 16, 6, 6), 4, 3),
], ids=["n1", "odd", "k3"])
def test_timm_cbam_module_equals_cbam_with_its_batchnorm_folded(shape, rd_channels, kernel_size,
                                                                mlp_bias, dtype):
    """timm's spatial gate is conv (no bias) + BatchNorm; in evaluation mode that is one
    convolution with a bias, which is what the reference holds. Everything else is the same: one
    MLP shared by the average and the max squeeze, [mean; max] over the channels, channel gate
    first. Compared: outputs, input gradients, and the gradients of every parameter (the
    convolution's through the fold)."""
    CbamModule = _peer(peers.timm_cbam_module)
    channels = shape[1]
    ref = scse_ref.CBAM(channels, rd_channels=rd_channels, kernel_size=kernel_size,
                        bias=mlp_bias).to(dtype)
    peer = CbamModule(channels, rd_channels=rd_channels, spatial_kernel_size=kernel_size,
                      mlp_bias=mlp_bias).to(dtype).eval()
    x = _input(shape, dtype, 1)
    _draw_(ref, 0)
    keys = ("weight", "bias") if mlp_bias else ("weight",)
    with torch.no_grad():
        for fc in ("fc1", "fc2"):
            for k in keys:
                src = getattr(getattr(ref, fc), k)
                getattr(getattr(peer.channel, fc), k).copy_(src.reshape(
                    getattr(getattr(peer.channel, fc), k).shape))
    scale = _fold_batchnorm_(ref.conv, peer.spatial.conv.conv, peer.spatial.conv.bn, seed=2)
    x_ref, x_peer = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out_peer = ref(x_ref), peer(x_peer)
    assert_close(out_ref, out_peer, msg=lambda m: f"outputs differ: {m}")
    cotangent = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(3),
                            dtype=torch.float64).to(dtype)
    (out_ref * cotangent).sum().backward()
    (out_peer * cotangent).sum().backward()
    assert_close(x_ref.grad, x_peer.grad, msg=lambda m: f"input gradients differ: {m}")
    for fc in ("fc1", "fc2"):
        for k in keys:
            ours = getattr(getattr(ref, fc), k).grad
            theirs = getattr(getattr(peer.channel, fc), k).grad
            assert_close(ours, theirs.reshape(ours.shape), msg=lambda m: f"{fc}.{k}: {m}")
    # d/dw of bn(conv_w(x)) is s * d/dw' of conv_w'(x) with w' = s w: the fold, backwards
    assert_close(ref.conv.weight.grad * scale.view(-1, 1, 1, 1), peer.spatial.conv.conv.weight.grad,
                 msg=lambda m: f"conv.weight: {m}")
    assert_close(ref.conv.bias.grad, peer.spatial.conv.bn.bias.grad,
                 msg=lambda m: f"conv.bias: {m}")


def test_timm_cbam_module_default_width_is_cbams_with_rd_divisor_1():
    CbamModule = _peer(peers.timm_cbam_module)
    for channels in (16, 64, 100, 256):
        assert CbamModule(channels).channel.fc1.out_channels == \
            scse_ref.CBAM(channels, 16, rd_divisor=1).hidden == channels // 16


# ------------------------------------------------------------------------------- the peer loader

def test_loading_peers_leaves_no_package_in_sys_modules():
    _peer(peers.timm_se_module), _peer(peers.smp_scse_module)
    _peer(peers.torchvision_squeeze_excitation)
    _peer(peers.timm_eca_module), _peer(peers.timm_cbam_module)
    leaked = [name for name in sys.modules
              if name.split(".")[0] in {"_scse_peers", "timm", "torchvision",
                                        "segmentation_models_pytorch"}]
    assert leaked == []


def test_missing_peers_skip_saying_to_run_make_setup(monkeypatch, tmp_path):
    monkeypatch.setattr(peers, "PEERS_DIR", tmp_path / "no-peers")
    peers.load_peer_module.cache_clear()
    try:
        with pytest.raises(pytest.skip.Exception, match="run `make setup`"):
            _peer(peers.smp_scse_module)
    finally:
        peers.load_peer_module.cache_clear()
