"""Unit tests of the reference itself: each test names the behaviour it pins down.

The formulas are written here independently of ``scse_ref`` (``F.linear``, ``einsum``), so a test
fails for the plausible wrong implementation it names, not only for a crash.
"""
from __future__ import annotations

import re
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import scse_ref
from scse_ref import _validate
from scse_ref import SCSE, ChannelSE, Excitation, SpatialSE, global_avg_pool, reduced_channels
from tests.helpers import draw_double as _draw

F64 = dict(rtol=1e-12, atol=1e-12)
SPATIAL = {1: (2, 6, 7), 2: (2, 6, 5, 3), 3: (2, 6, 3, 4, 2)}     # odd, non-square, N = 2


def _x(shape, seed: int = 1) -> torch.Tensor:
    """float64 input with channel means that differ between channels and samples."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    return x + torch.randn(*shape[:2], *(1,) * (len(shape) - 2), generator=gen, dtype=torch.float64)


def _channel_gate(exc: Excitation, x: torch.Tensor, act=F.relu, gate=torch.sigmoid):
    """sigma(W2 act(W1 mean(x) + b1) + b2) as (N, C, 1, ..., 1), from the weights alone."""
    z = x.flatten(2).sum(-1) / x[0, 0].numel()
    h = act(F.linear(z, exc.fc1.weight, exc.fc1.bias))
    if act is F.relu:       # some units alive, some cut: a wrong or missing ReLU changes the gate
        assert (h > 0).any() and (h == 0).any(), "draw weights that keep the ReLU relevant"
    return gate(F.linear(h, exc.fc2.weight, exc.fc2.bias)).view(*z.shape, *(1,) * (x.dim() - 2))


def _spatial_gate(sse: SpatialSE, x: torch.Tensor, gate=torch.sigmoid):
    """sigma(sum_c w_c x_c + b) as (N, 1, *spatial), from the weights alone."""
    s = torch.einsum("nc...,c->n...", x, sse.conv.weight.reshape(-1)).unsqueeze(1)
    return gate(s if sse.conv.bias is None else s + sse.conv.bias)


class RecordOps(TorchDispatchMode):
    """Records every aten op (allocations included) run while it is active."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _raises_before_tensor_work(exc_type, match, fn):
    """``fn()`` raises ``exc_type`` matching ``match`` and ran no tensor op (no alloc) before."""
    with RecordOps() as rec, pytest.raises(exc_type, match=match) as info:
        fn()
    assert rec.ops == [], f"tensor work before the check: {rec.ops}"
    return info


# ------------------------------------------------------------------------------ global_avg_pool

@pytest.mark.parametrize("dims", [1, 2, 3])
def test_global_avg_pool_is_the_mean_over_every_spatial_dim(dims):
    x = _x(SPATIAL[dims])
    expected = x.flatten(2).sum(-1) / x[0, 0].numel()
    out = global_avg_pool(x)
    assert out.shape == x.shape[:2]
    torch.testing.assert_close(out, expected, **F64)


def test_global_avg_pool_of_a_known_map():
    x = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 6.0]]]])
    torch.testing.assert_close(global_avg_pool(x), torch.tensor([[4.0, 1.0]]), rtol=0, atol=0)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_global_avg_pool_keepdim_keeps_size_one_spatial_dims(dims):
    x = _x(SPATIAL[dims])
    out = global_avg_pool(x, keepdim=True)
    assert out.shape == (*x.shape[:2], *(1,) * dims)
    torch.testing.assert_close(out.flatten(1), global_avg_pool(x), **F64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_global_avg_pool_keeps_the_dtype(dtype):
    x = _x((2, 3, 4, 5)).to(dtype)
    out = global_avg_pool(x)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), x.double().mean((2, 3)), rtol=1e-2, atol=1e-2)


def test_global_avg_pool_keeps_the_device():
    out = global_avg_pool(torch.empty(2, 3, 4, 5, device="meta"))
    assert out.device.type == "meta" and out.shape == (2, 3)


def test_global_avg_pool_does_not_modify_its_input():
    x = _x((2, 3, 4, 5)).contiguous(memory_format=torch.channels_last)
    before, version = x.clone(), x._version
    global_avg_pool(x)
    assert x._version == version, "an in-place op touched the input"
    torch.testing.assert_close(x, before, rtol=0, atol=0)


@pytest.mark.parametrize("x, error, match", [
    (torch.zeros(2, 3), ValueError,
     r"x must have at least 3 dims \(N, C, \*spatial\).*got 2 dims, shape \(2, 3\)$"),
    (torch.zeros(2, 3, 4, dtype=torch.int64), TypeError,
     "x must be a floating point tensor, got dtype torch.int64$"),
    ([[[1.0]]], TypeError, "x must be a torch.Tensor, got list"),
], ids=["rank-2", "int-tensor", "list"])
def test_global_avg_pool_refuses_bad_input_before_any_tensor_work(x, error, match):
    _raises_before_tensor_work(error, "^global_avg_pool: " + match, lambda: global_avg_pool(x))


# ------------------------------------------------------------------------------ reduced_channels

@pytest.mark.parametrize("channels, reduction, expected", [
    (64, 16, 4), (63, 16, 3), (100, 16, 6), (17, 16, 1), (32, 2, 16), (48, 16, 3), (7, 3, 2),
])
def test_reduced_channels_is_the_floor_of_c_over_r(channels, reduction, expected):
    assert reduced_channels(channels, reduction) == expected


@pytest.mark.parametrize("channels, reduction", [(15, 16), (8, 16), (1, 16), (3, 4), (1, 1)])
def test_reduced_channels_keeps_one_unit_where_c_over_r_is_below_one(channels, reduction):
    assert channels // reduction in (0, 1)          # what the seed's `channel // ratio` gives
    assert reduced_channels(channels, reduction) == 1


@pytest.mark.parametrize("channels, expected", [
    (1, 8), (16, 8), (64, 8), (191, 8), (192, 16), (200, 16), (256, 16), (1000, 64), (2048, 128),
])
def test_reduced_channels_with_divisor_rounds_as_timm(channels, expected):
    assert reduced_channels(channels, 16, divisor=8) == expected


def test_reduced_channels_with_divisor_never_adds_a_divisor_as_round_limit_0():
    # 191 / 16 = 11.9 rounds down to 8; with make_divisible's default round_limit=0.9 that loses
    # more than 10% and becomes 16. timm's SE blocks pass round_limit=0: the width stays 8.
    assert scse_ref.make_divisible(191 / 16, 8) == 16
    assert reduced_channels(191, 16, divisor=8) == 8


@pytest.mark.parametrize("args, expected", [
    ((36.0, 8), 40), ((4.0, 8), 8), ((11.9375, 8), 16), ((3, 8, 4), 4), ((12.0, 4, None, 0.0), 12),
])
def test_make_divisible_rounds_to_the_nearest_multiple_with_a_floor(args, expected):
    assert scse_ref.make_divisible(*args) == expected


@pytest.mark.parametrize("name", ["channels", "reduction", "divisor"])
@pytest.mark.parametrize("value, error, match", [
    (0, ValueError, "must be a positive int, got 0"),
    (-4, ValueError, "must be a positive int, got -4"),
    (True, TypeError, r"must be a positive int, got True \(bool\)"),
    (2.5, TypeError, r"must be a positive int, got 2.5 \(float\)"),
    ("16", TypeError, r"must be a positive int, got '16' \(str\)"),
])
def test_reduced_channels_refuses_bad_arguments_naming_them(name, value, error, match):
    kwargs = dict(channels=64, reduction=16, divisor=8)
    kwargs[name] = value
    with pytest.raises(error, match=f"^{name} {match}"):
        reduced_channels(kwargs.pop("channels"), kwargs.pop("reduction"), **kwargs)


# ------------------------------------------------------------------------- formulas and shapes

def test_excitation_is_sigmoid_fc2_relu_fc1():
    exc = _draw(Excitation(12, 3))
    z = _x((5, 12))
    assert exc.hidden == 4 and exc.fc1.weight.shape == (4, 12) and exc.fc2.weight.shape == (12, 4)
    out = exc(z)
    expected = torch.sigmoid(F.linear(F.relu(F.linear(z, exc.fc1.weight, exc.fc1.bias)),
                                      exc.fc2.weight, exc.fc2.bias))
    assert out.shape == (5, 12)
    torch.testing.assert_close(out, expected, **F64)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_channel_se_scales_each_channel_by_its_gate(dims):
    x = _x(SPATIAL[dims])
    cse = _draw(ChannelSE(6, 2))
    gate = _channel_gate(cse.excitation, x)
    assert cse.gate(x).shape == (2, 6, *(1,) * dims)
    torch.testing.assert_close(cse.gate(x), gate, **F64)
    torch.testing.assert_close(cse(x), x * gate, **F64)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_spatial_se_scales_each_position_by_a_map_shared_by_all_channels(dims):
    x = _x(SPATIAL[dims])
    sse = _draw(SpatialSE(6, spatial_dims=dims))
    gate = _spatial_gate(sse, x)
    assert sse.gate(x).shape == (2, 1, *x.shape[2:])
    assert sse.conv.weight.shape == (1, 6, *(1,) * dims)
    torch.testing.assert_close(sse.gate(x), gate, **F64)
    torch.testing.assert_close(sse(x), x * gate, **F64)


SCSE_FORMULAS = {
    "add": lambda xc, xs: xc + xs,
    "max": lambda xc, xs: torch.maximum(xc, xs),
    "mul": lambda xc, xs: xc * xs,
    "concat": lambda xc, xs: torch.cat([xc, xs], dim=1),
}


def test_modes_are_exactly_add_max_mul_concat():
    assert list(scse_ref.MODES) == list(SCSE_FORMULAS)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("mode", list(SCSE_FORMULAS))
def test_scse_mode_combines_the_two_branches_by_its_formula(mode, dims, fused):
    x = _x(SPATIAL[dims])
    scse = _draw(SCSE(6, 2, mode, spatial_dims=dims, fused=fused))
    xc = x * _channel_gate(scse.cse.excitation, x)
    xs = x * _spatial_gate(scse.sse, x)
    # sizes where the modes differ: each branch wins somewhere, so max is neither branch alone
    assert (xc > xs).any() and (xs > xc).any()
    out = scse(x)
    channels = 12 if mode == "concat" else 6
    assert out.shape == (2, channels, *x.shape[2:]) and scse.out_channels == channels
    torch.testing.assert_close(out, SCSE_FORMULAS[mode](xc, xs), **F64)


@pytest.mark.parametrize("mode", ["avg", "sum", "ADD", "", None])
def test_scse_unknown_mode_raises_listing_the_modes(mode):
    msg = rf"mode={mode!r} is not an scSE aggregation; use one of 'add', 'max', 'mul', 'concat'"
    _raises_before_tensor_work(ValueError, msg.replace("(", r"\(").replace(")", r"\)"),
                               lambda: SCSE(16, mode=mode))


# ------------------------------------------------------------------------------ bad arguments

CONSTRUCTORS = {
    "Excitation": lambda **kw: Excitation(**{"channels": 16, **kw}),
    "ChannelSE": lambda **kw: ChannelSE(**{"channels": 16, **kw}),
    "SpatialSE": lambda **kw: SpatialSE(**{"channels": 16, **kw}),
    "SCSE": lambda **kw: SCSE(**{"channels": 16, **kw}),
}
BAD_INTS = [
    (0, ValueError, "must be a positive int, got 0"),
    (-3, ValueError, "must be a positive int, got -3"),
    (True, TypeError, r"must be a positive int, got True \(bool\)"),
    (16.0, TypeError, r"must be a positive int, got 16.0 \(float\)"),
    ("16", TypeError, r"must be a positive int, got '16' \(str\)"),
    (None, TypeError, r"must be a positive int, got None \(NoneType\)"),
]


@pytest.mark.parametrize("value, error, match", BAD_INTS)
@pytest.mark.parametrize("cls", list(CONSTRUCTORS))
def test_bad_channels_raise_naming_the_argument_before_any_tensor_work(cls, value, error, match):
    _raises_before_tensor_work(error, f"^channels {match}$",
                               lambda: CONSTRUCTORS[cls](channels=value))


@pytest.mark.parametrize("value, error, match", BAD_INTS)
@pytest.mark.parametrize("cls", ["Excitation", "ChannelSE", "SCSE"])
def test_bad_reduction_raises_naming_the_argument_before_any_tensor_work(cls, value, error, match):
    _raises_before_tensor_work(error, f"^reduction {match}$",
                               lambda: CONSTRUCTORS[cls](reduction=value))


@pytest.mark.parametrize("cls", ["Excitation", "ChannelSE", "SCSE"])
@pytest.mark.parametrize("name", ["rd_channels", "rd_divisor"])
def test_bad_rd_channels_and_rd_divisor_raise_naming_the_argument(cls, name):
    _raises_before_tensor_work(ValueError, f"^{name} must be a positive int, got 0$",
                               lambda: CONSTRUCTORS[cls](**{name: 0}))


@pytest.mark.parametrize("value", [0, 4, -1, True, "2", None, 2.0])
@pytest.mark.parametrize("cls", ["SpatialSE", "SCSE"])
def test_bad_spatial_dims_raise_naming_the_argument_before_any_tensor_work(cls, value):
    _raises_before_tensor_work(
        ValueError, rf"^spatial_dims must be 1, 2 or 3 \(an int\), got {re.escape(repr(value))}$",
        lambda: CONSTRUCTORS[cls](spatial_dims=value))


@pytest.mark.parametrize("cls, argument", [("Excitation", "act_layer"),
                                           ("Excitation", "gate_layer"),
                                           ("SpatialSE", "gate_layer"), ("SCSE", "act_layer"),
                                           ("SCSE", "gate_layer")])
def test_unknown_layer_names_raise_before_any_tensor_work(cls, argument):
    _raises_before_tensor_work(ValueError, rf"^{argument}='nope' is not a known layer",
                               lambda: CONSTRUCTORS[cls](**{argument: "nope"}))


@pytest.mark.parametrize("cls, x, error, match", [
    ("SCSE", (2, 16, 5), ValueError,
     r"^SCSE: x must have 4 dims \(N, C, H, W\), got 3 dims, shape \(2, 16, 5\)$"),
    ("SCSE", (2, 12, 5, 5), ValueError,
     r"^SCSE: x has 12 channels \(dim 1 of shape \(2, 12, 5, 5\)\), the module was built for 16$"),
    ("SCSE-3d", (2, 16, 5, 5), ValueError,
     r"^SCSE: x must have 5 dims \(N, C, D, H, W\), got 4 dims"),
    ("SpatialSE-1d", (2, 16, 5, 5), ValueError, r"^SpatialSE: x must have 3 dims \(N, C, L\)"),
    ("SpatialSE", (2, 8, 5, 5), ValueError, r"^SpatialSE: x has 8 channels"),
    ("ChannelSE", (2, 16), ValueError, r"^ChannelSE: x must have at least 3 dims"),
    ("ChannelSE", (2, 15, 3), ValueError, r"^ChannelSE: x has 15 channels .* built for 16$"),
    ("Excitation", (2, 16, 1, 1), ValueError, r"^Excitation: x must have 2 dims \(N, C, \*spatial\)"
                                              r", got 4 dims"),
    ("Excitation", (2, 17), ValueError, r"^Excitation: x has 17 channels"),
    ("SCSE-int", (2, 16, 5, 5), TypeError, r"^SCSE: x must be a floating point tensor, got dtype "
                                           r"torch.int64$"),
])
def test_bad_input_raises_naming_module_shape_and_expectation_before_any_tensor_work(
        cls, x, error, match):
    modules = {"SCSE": SCSE(16), "SCSE-3d": SCSE(16, spatial_dims=3), "SCSE-int": SCSE(16),
               "SpatialSE-1d": SpatialSE(16, spatial_dims=1), "SpatialSE": SpatialSE(16),
               "ChannelSE": ChannelSE(16), "Excitation": Excitation(16)}
    dtype = torch.int64 if cls == "SCSE-int" else torch.float32
    x = torch.zeros(x, dtype=dtype)
    _raises_before_tensor_work(error, match, lambda: modules[cls](x))


# --------------------------------------------------------------------------------- gradcheck

def _gradcheck_module(module: nn.Module, x: torch.Tensor) -> bool:
    """gradcheck of ``module(x)`` in float64 with respect to ``x`` and every parameter."""
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]

    def run(x, *params):
        return torch.func.functional_call(module, dict(zip(names, params)), (x,))

    return torch.autograd.gradcheck(run, (x.requires_grad_(), *params))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("build", [
    lambda d: ChannelSE(6, 2),
    lambda d: SpatialSE(6, spatial_dims=d),
    lambda d: SCSE(6, 2, "add", spatial_dims=d),
    lambda d: SCSE(6, 2, "add", spatial_dims=d, fused=False),
    lambda d: SCSE(6, 2, "max", spatial_dims=d),
    lambda d: SCSE(6, 2, "mul", spatial_dims=d),
    lambda d: SCSE(6, 2, "concat", spatial_dims=d),
    lambda d: SCSE(6, 2, "add", spatial_dims=d, bias=False, act_layer="gelu"),
], ids=["ChannelSE", "SpatialSE", "SCSE-add", "SCSE-add-two-branch", "SCSE-max", "SCSE-mul",
        "SCSE-concat", "SCSE-no-bias-gelu"])
def test_gradcheck_of_every_module_on_input_and_parameters(build, dims):
    assert _gradcheck_module(_draw(build(dims)), _x(SPATIAL[dims]))


def test_gradcheck_of_excitation_on_input_and_parameters():
    assert _gradcheck_module(_draw(Excitation(6, 2)), _x((3, 6)))


# ------------------------------------------------------------------------------ repr and layers

def test_excitation_extra_repr_names_width_and_layers():
    assert Excitation(64).extra_repr() == ("channels=64, hidden=4, reduction=16, bias=True, "
                                           "act=relu, gate=sigmoid")
    e = Excitation(64, rd_channels=8, bias=False, act_layer=nn.GELU, gate_layer="hard_sigmoid")
    assert e.extra_repr() == ("channels=64, hidden=8, reduction=16, bias=False, act=gelu, "
                              "gate=hard_sigmoid")


class Square(nn.Module):
    def forward(self, x):
        return x * x


def test_excitation_repr_names_a_custom_layer_by_its_class():
    assert "act=Square" in repr(Excitation(8, 2, act_layer=Square))


def test_module_extra_reprs():
    assert ChannelSE(16, 4).extra_repr() == "channels=16, reduction=4"
    assert SpatialSE(16, spatial_dims=3).extra_repr() == "channels=16, spatial_dims=3"
    assert SCSE(16, 4).extra_repr() == "channels=16, reduction=4, mode='add', fused=True"
    assert SCSE(16, 4, fused=False).extra_repr().endswith("mode='add', fused=False")
    assert SCSE(16, 4, "max").extra_repr() == "channels=16, reduction=4, mode='max'"


def test_print_of_scse_reads_as_the_nested_blocks():
    assert str(SCSE(8, spatial_dims=1, mode="max")) == """SCSE(
  channels=8, reduction=16, mode='max'
  (cse): ChannelSE(
    channels=8, reduction=16
    (excitation): Excitation(
      channels=8, hidden=1, reduction=16, bias=True, act=relu, gate=sigmoid
      (fc1): Linear(in_features=8, out_features=1, bias=True)
      (act): ReLU()
      (fc2): Linear(in_features=1, out_features=8, bias=True)
      (gate_act): Sigmoid()
    )
  )
  (sse): SpatialSE(
    channels=8, spatial_dims=1
    (conv): Conv1d(8, 1, kernel_size=(1,), stride=(1,))
    (gate_act): Sigmoid()
  )
)"""


@pytest.mark.parametrize("module", [
    Excitation(8, 2), scse_ref.GAPHead(8, 3), scse_ref.SmoothSpatialSE(8),
    scse_ref.InceptionBlock(8, 2, 2, 2, 2, 2, 2, se=True), scse_ref.TinyUNet(attention="scse")],
    ids=lambda m: type(m).__name__)
def test_print_shows_every_child_module(module):
    """No ``__repr__`` override hides the layers: ``print(model)`` lists each child."""
    text = str(module)
    for name, child in module.named_children():
        assert f"({name}): {type(child).__name__}(" in text, (name, text)


class _CountChecks:
    """Counts the calls of scse_ref's argument check while active (a profile hook: the real
    function runs, nothing is replaced)."""

    def __init__(self):
        self.calls = 0

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_code is _validate.tensor_input.__code__:
            self.calls += 1

    def __enter__(self):
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self.previous)


@pytest.mark.parametrize("call", [
    lambda x: SCSE(8, 2)(x), lambda x: SCSE(8, 2, fused=False)(x),
    lambda x: SCSE(8, 2, mode="concat")(x), lambda x: ChannelSE(8, 2)(x),
    lambda x: ChannelSE(8, 2).gate(x), lambda x: SpatialSE(8)(x), lambda x: SpatialSE(8).gate(x),
    lambda x: scse_ref.GAPHead(8, 3)(x), lambda x: global_avg_pool(x)],
    ids=["scse-fused", "scse-two-branch", "scse-concat", "cse", "cse-gate", "sse", "sse-gate",
         "gap-head", "gap"])
def test_one_call_checks_its_input_once(call):
    """The public entry point checks; the parts it is made of do not check again (an SCSE call
    once checked its input five times)."""
    x = torch.randn(2, 8, 5, 4)
    with _CountChecks() as count:
        call(x)
    assert count.calls == 1


@pytest.mark.parametrize("act_layer", ["gelu", "GELU", nn.GELU, lambda: nn.GELU()],
                         ids=["name", "name-upper", "class", "factory"])
def test_act_layer_accepts_a_name_a_class_and_a_factory(act_layer):
    exc = _draw(Excitation(12, 3, act_layer=act_layer))
    assert type(exc.act) is nn.GELU
    z = _x((4, 12))
    expected = torch.sigmoid(F.linear(F.gelu(F.linear(z, exc.fc1.weight, exc.fc1.bias)),
                                      exc.fc2.weight, exc.fc2.bias))
    torch.testing.assert_close(exc(z), expected, **F64)


@pytest.mark.parametrize("gate_layer", ["hard_sigmoid", "hard-sigmoid", nn.Hardsigmoid,
                                        lambda: nn.Hardsigmoid()],
                         ids=["name", "name-dash", "class", "factory"])
def test_gate_layer_is_used_by_both_scse_branches(gate_layer):
    x = _x(SPATIAL[2])
    scse = _draw(SCSE(6, 2, gate_layer=gate_layer))
    assert type(scse.cse.excitation.gate_act) is nn.Hardsigmoid
    assert scse.cse.excitation.gate_act is not scse.sse.gate_act, "one layer per block"
    gc = _channel_gate(scse.cse.excitation, x, gate=F.hardsigmoid)
    gs = _spatial_gate(scse.sse, x, gate=F.hardsigmoid)
    torch.testing.assert_close(scse(x), x * gc + x * gs, **F64)


def test_a_factory_layer_keeps_its_arguments():
    exc = Excitation(8, 2, act_layer=lambda: nn.LeakyReLU(0.2))
    assert isinstance(exc.act, nn.LeakyReLU) and exc.act.negative_slope == 0.2


@pytest.mark.parametrize("argument", ["act_layer", "gate_layer"])
def test_unknown_layer_name_raises_listing_the_known_names(argument):
    with pytest.raises(ValueError) as info:
        Excitation(16, **{argument: "swishy"})
    message = str(info.value)
    assert message.startswith(f"{argument}='swishy' is not a known layer")
    assert str(sorted(scse_ref.LAYERS)) in message


@pytest.mark.parametrize("layer, match", [
    (nn.ReLU(), "not a module instance"),
    (lambda: 3, "built a int, expected an nn.Module"),
    (42, r"must be a name, an nn.Module class or a factory, got 42 \(int\)"),
])
def test_layer_argument_refuses_instances_non_modules_and_non_callables(layer, match):
    with pytest.raises(TypeError, match=match):
        SCSE(16, gate_layer=layer)


# ----------------------------------------------------------------------- devices and dtypes

@pytest.mark.parametrize("build, dims, out_channels", [
    (lambda: SCSE(16), 2, 16),
    (lambda: SCSE(16, fused=False), 2, 16),
    (lambda: SCSE(16, mode="concat"), 2, 32),
    (lambda: SCSE(16, spatial_dims=3), 3, 16),
    (lambda: ChannelSE(16), 2, 16),
    (lambda: SpatialSE(16, spatial_dims=1), 1, 16),
], ids=["SCSE-fused", "SCSE-two-branch", "SCSE-concat", "SCSE-3d", "ChannelSE", "SpatialSE-1d"])
def test_modules_run_on_the_meta_device_forward_and_backward(build, dims, out_channels):
    with torch.device("meta"):
        module = build()
    assert all(p.device.type == "meta" for p in module.parameters())
    x = torch.empty(2, 16, *(5,) * dims, device="meta", requires_grad=True)
    out = module(x)
    assert out.device.type == "meta" and out.shape == (2, out_channels, *(5,) * dims)
    out.sum().backward()
    assert x.grad.device.type == "meta"
    assert all(p.grad.device.type == "meta" for p in module.parameters())


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5),
                                        (torch.bfloat16, 5e-2), (torch.float16, 1e-2)])
@pytest.mark.parametrize("mode, fused", [("add", True), ("add", False), ("max", True),
                                         ("concat", True)])
def test_modules_compute_in_the_dtype_they_are_given(mode, fused, dtype, tol):
    x64 = _x((2, 16, 5, 3))
    ref = _draw(SCSE(16, 4, mode, fused=fused))
    expected = ref(x64)
    module = SCSE(16, 4, mode, fused=fused).to(dtype)
    module.load_state_dict(ref.state_dict())            # rounds the float64 weights to dtype
    x = x64.to(dtype).requires_grad_()
    out = module(x)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)
    out.sum().backward()
    assert x.grad.dtype == dtype
    assert all(p.grad.dtype == dtype for p in module.parameters())


def test_fused_add_under_autocast_runs_the_two_branch_form():
    x = _x((2, 16, 5, 3)).float()
    fused = SCSE(16, 4)
    plain = SCSE(16, 4, fused=False)
    plain.load_state_dict(fused.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_f, out_p = fused(x), plain(x)
    assert out_f.dtype == out_p.dtype
    torch.testing.assert_close(out_f, out_p, rtol=0, atol=0)


# ----------------------------------------------------------------------------- the contract

STATE_DICTS = {
    "Excitation": (lambda: Excitation(16, 4),
                   {"fc1.weight": (4, 16), "fc1.bias": (4,),
                    "fc2.weight": (16, 4), "fc2.bias": (16,)}),
    "Excitation-no-bias": (lambda: Excitation(16, 4, bias=False),
                           {"fc1.weight": (4, 16), "fc2.weight": (16, 4)}),
    "ChannelSE": (lambda: ChannelSE(16, 4),
                  {"excitation.fc1.weight": (4, 16), "excitation.fc1.bias": (4,),
                   "excitation.fc2.weight": (16, 4), "excitation.fc2.bias": (16,)}),
    "SpatialSE": (lambda: SpatialSE(16), {"conv.weight": (1, 16, 1, 1), "conv.bias": (1,)}),
    "SpatialSE-1d": (lambda: SpatialSE(16, spatial_dims=1),
                     {"conv.weight": (1, 16, 1), "conv.bias": (1,)}),
    "SpatialSE-3d": (lambda: SpatialSE(16, spatial_dims=3),
                     {"conv.weight": (1, 16, 1, 1, 1), "conv.bias": (1,)}),
    "SCSE": (lambda: SCSE(16, 4),
             {"cse.excitation.fc1.weight": (4, 16), "cse.excitation.fc1.bias": (4,),
              "cse.excitation.fc2.weight": (16, 4), "cse.excitation.fc2.bias": (16,),
              "sse.conv.weight": (1, 16, 1, 1), "sse.conv.bias": (1,)}),
    "SCSE-no-bias": (lambda: SCSE(16, 4, bias=False),
                     {"cse.excitation.fc1.weight": (4, 16), "cse.excitation.fc2.weight": (16, 4),
                      "sse.conv.weight": (1, 16, 1, 1)}),
}


@pytest.mark.parametrize("name", list(STATE_DICTS))
def test_state_dict_keys_and_shapes_are_the_contract(name):
    build, expected = STATE_DICTS[name]
    state = build().state_dict()
    assert list(state) == list(expected)                # the keys, in this order, and nothing else
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_fused_flag_changes_no_parameter_and_loads_either_way():
    fused, plain = SCSE(16, 4), SCSE(16, 4, fused=False)
    plain.load_state_dict(fused.state_dict())           # strict: same keys, same shapes
    x = _x((1, 16, 4, 4)).float()
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-6, atol=1e-6)


def test_empty_batch_runs_forward_and_backward_in_every_path():
    # the fused path once reshaped with -1, which torch cannot infer for a tensor of 0 elements
    for module in (SCSE(16), SCSE(16, fused=False), SCSE(16, mode="max")):
        x = torch.randn(0, 16, 5, 5, requires_grad=True)
        out = module(x)
        assert out.shape == (0, 16, 5, 5)
        out.sum().backward()
        assert x.grad.shape == x.shape
