"""Lesson 04's own exercises (``se_residual``, ``cbam``) and their references,
``scse_ref.SEResidualBlock`` and ``scse_ref.CBAM``.

For each exercise: the reference and correct implementations in other styles pass every family;
plausible wrong implementations (the other SENet placements, a misplaced ReLU; CBAM's
description misread) fail in the family they belong to, with the matching hint. Every verdict is
taken with two seeds.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import scse_ref
from autograder import run_check
from scse_ref import SCSE, ChannelSE, SEResidualBlock
from tests.helpers import SEEDS, draw_double as _draw
from tests.helpers import first_failure, notebook_answer



# ----------------------------------------------------------------------------- the reference

def _by_weights(block: SEResidualBlock, x: torch.Tensor, placement: str) -> torch.Tensor:
    """Each placement from the weights alone, with F.conv2d and the SE formula written out."""
    c1, c2, ex = block.conv1, block.conv2, block.se.excitation

    def se(t):
        z = t.mean(dim=(2, 3))
        g = torch.sigmoid(F.linear(F.relu(F.linear(z, ex.fc1.weight, ex.fc1.bias)),
                                   ex.fc2.weight, ex.fc2.bias))
        return t * g[:, :, None, None]

    def branch(t):
        return F.conv2d(F.relu(F.conv2d(t, c1.weight, c1.bias, padding=1)), c2.weight, c2.bias,
                        padding=1)

    return {"standard": lambda: F.relu(x + se(branch(x))),
            "pre": lambda: F.relu(x + branch(se(x))),
            "post": lambda: se(F.relu(x + branch(x))),
            "identity": lambda: F.relu(se(x) + branch(x))}[placement]()


@pytest.mark.parametrize("placement", list(scse_ref.PLACEMENTS))
def test_each_placement_computes_its_formula(placement):
    block = _draw(SEResidualBlock(8, 2, placement=placement))
    x = torch.randn(3, 8, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(block(x), _by_weights(block, x, placement), rtol=1e-12,
                               atol=1e-12)


def test_placements_differ_and_share_their_parameters():
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    base = _draw(SEResidualBlock(8, 2))
    outs = {}
    for placement in scse_ref.PLACEMENTS:
        block = SEResidualBlock(8, 2, placement=placement).double()
        block.load_state_dict(base.state_dict())            # strict: the same keys and shapes
        outs[placement] = block(x)
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not torch.allclose(outs[a], outs[b]), (a, b)


def test_state_dict_is_the_exercise_contract():
    state = SEResidualBlock(16, 4).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "conv1.weight": (16, 16, 3, 3), "conv1.bias": (16,),
        "conv2.weight": (16, 16, 3, 3), "conv2.bias": (16,),
        "se.excitation.fc1.weight": (4, 16), "se.excitation.fc1.bias": (4,),
        "se.excitation.fc2.weight": (16, 4), "se.excitation.fc2.bias": (16,)}


def test_scse_attention_and_gradcheck():
    block = _draw(SEResidualBlock(4, 2, attention="scse"))
    assert isinstance(block.se, SCSE)
    x = torch.randn(2, 4, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))


def test_meta_device_and_batch_independence():
    with torch.device("meta"):
        block = SEResidualBlock(8, 4)
    assert block(torch.empty(2, 8, 5, 5, device="meta")).device.type == "meta"
    block = _draw(SEResidualBlock(8, 4))
    x = torch.randn(3, 8, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(block(x)[:1], block(x[:1]))   # no BatchNorm: samples independent


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(placement="inside"), ValueError, "is not an SE placement"),
    (dict(attention="cbam"), ValueError, "attention='cbam' is not known"),
    (dict(reduction=0), ValueError, "reduction must be a positive int"),
])
def test_bad_arguments_raise_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        SEResidualBlock(8, **kwargs)


def test_bad_input_raises_naming_the_block():
    with pytest.raises(ValueError, match="SEResidualBlock: x has 4 channels"):
        SEResidualBlock(8)(torch.randn(1, 4, 5, 5))


# ------------------------------------------------------------------------------- the grader

def block_class(forward, conv=lambda c: nn.Conv2d(c, c, 3, padding=1),
                se=lambda c, r: ChannelSE(c, r)):
    """An SEResidualBlock class with this forward(self, x) and these layers."""
    class Block(nn.Module):
        def __init__(self, channels, reduction=16):
            super().__init__()
            self.conv1 = conv(channels)
            self.conv2 = conv(channels)
            self.se = se(channels, reduction)

        def forward(self, x):
            return forward(self, x)
    Block.__name__ = "SEResidualBlock"
    return Block


def _branch(s, x):
    return s.conv2(F.relu(s.conv1(x)))


STANDARD = block_class(lambda s, x: F.relu(x + s.se(_branch(s, x))))


def inplace_on_intermediate(s, x):
    out = s.se(_branch(s, x))
    out += x                         # in place on a fresh tensor: legal
    return F.relu(out)


def inplace_on_input(s, x):
    x += s.se(_branch(s, x))         # the caller's tensor changes
    return F.relu(x)


class SequentialStyle(nn.Module):
    """Correct, written with torch.relu, an explicit gate and a named identity."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=(3, 3), padding=(1, 1))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding="same")
        self.se = ChannelSE(channels, reduction=reduction)

    def forward(self, x):
        identity = x
        out = torch.relu(self.conv1(x))
        out = self.conv2(out)
        out = out * self.se.gate(out)
        return torch.relu(out + identity)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("obj", [SEResidualBlock, notebook_answer("04_scse", "se_residual"),
                                 SequentialStyle, block_class(inplace_on_intermediate)],
                         ids=["reference", "notebook", "other-style", "in-place-intermediate"])
def test_correct_block_passes_every_family(obj, seed):
    assert run_check("se_residual", "basic", obj, seed=seed).passed
    failure = first_failure("se_residual", obj, seed)
    assert failure is None, failure.message


WRONG_BLOCKS = [
    ("se-post", block_class(lambda s, x: s.se(F.relu(x + _branch(s, x)))), "values",
     {"se-post"}, "SE-POST"),
    ("se-after-add", block_class(lambda s, x: F.relu(s.se(x + _branch(s, x)))), "values",
     {"se-post"}, "after the addition"),
    ("se-identity", block_class(lambda s, x: F.relu(s.se(x) + _branch(s, x))), "values",
     {"se-identity"}, "SE-Identity"),
    ("se-pre", block_class(lambda s, x: F.relu(x + _branch(s, s.se(x)))), "values",
     {"se-pre"}, "SE-PRE"),
    ("no-final-relu", block_class(lambda s, x: x + s.se(_branch(s, x))), "values",
     {"no-final-relu"}, "final ReLU is missing"),
    ("relu-before-add", block_class(lambda s, x: x + F.relu(s.se(_branch(s, x)))), "values",
     {"relu-before-add"}, "before the addition"),
    ("relu-after-conv2", block_class(lambda s, x: F.relu(x + s.se(F.relu(_branch(s, x))))),
     "values", {"relu-after-conv2"}, "ReLU after conv2"),
    ("no-inner-relu", block_class(lambda s, x: F.relu(x + s.se(s.conv2(s.conv1(x))))),
     "values", {"no-inner-relu"}, "between conv1 and conv2"),
    ("no-shortcut", block_class(lambda s, x: F.relu(s.se(_branch(s, x)))), "values",
     {"no-shortcut"}, "shortcut is missing"),
    ("no-se", block_class(lambda s, x: F.relu(x + _branch(s, x))), "values", {"no-se"},
     "not used"),
    ("se-between-convs", block_class(lambda s, x: F.relu(x + s.conv2(F.relu(s.se(s.conv1(x)))))),
     "values", {"se-between-convs"}, "between the two convolutions"),
    ("no-padding", block_class(STANDARD.forward, conv=lambda c: nn.Conv2d(c, c, 3)), "shape",
     {"error"}, "padding=1"),
    ("kernel-1", block_class(STANDARD.forward, conv=lambda c: nn.Conv2d(c, c, 1)), "values",
     {"parameters"}, "3x3"),
    ("no-bias", block_class(STANDARD.forward, conv=lambda c: nn.Conv2d(c, c, 3, padding=1,
                                                                        bias=False)),
     "values", {"parameters"}, "no BatchNorm"),
    ("scse-unit", block_class(STANDARD.forward, se=lambda c, r: SCSE(c, r)), "values",
     {"parameters"}, "ChannelSE here"),
    ("reduction-dropped", block_class(STANDARD.forward, se=lambda c, r: ChannelSE(c)), "values",
     {"parameters"}, "pass the block's reduction"),
    ("in-place", block_class(inplace_on_input), "values", {"in-place"}, "in place"),
    ("detached-se", block_class(lambda s, x: F.relu(x + _branch(s, x) * s.se.gate(
        _branch(s, x)).detach())), "gradient", {"no-grad", "detached", "gradient"}, "gradient"),
    ("float-cast", block_class(lambda s, x: F.relu(x + s.se(_branch(s, x))).float()), "values",
     {"dtype"}, "dtype"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, obj, family, labels, hint", WRONG_BLOCKS,
                         ids=[w[0] for w in WRONG_BLOCKS])
def test_wrong_block_fails_its_family_with_its_hint(name, obj, family, labels, hint, seed):
    failure = first_failure("se_residual", obj, seed)
    assert failure is not None, f"{name} passed every family"
    assert failure.family == family and failure.mistake in labels, \
        (failure.family, failure.mistake, failure.message)
    assert hint.lower() in failure.message.lower(), failure.message


# ------------------------------------------------------------------------------------- cbam

#: the notebook's own answer
NotebookCBAM = notebook_answer("04_scse", "cbam")


class _CBAMParts(NotebookCBAM):
    """The notebook's answer with its shared MLP as a method, for the variants below."""

    def mlp(self, z):
        return self.fc2(F.relu(self.fc1(z)))


class StackedCBAM(_CBAMParts):
    """Correct another way: both squeezes through the MLP in one batch, flatten/max, stack."""

    def channel_gate(self, x):
        z = torch.stack([x.flatten(2).mean(-1), x.flatten(2).max(-1).values])   # (2, N, C)
        return torch.sigmoid(self.mlp(z).sum(0))[..., None, None]

    def spatial_gate(self, x):
        pooled = torch.stack([x.mean(1), x.max(1).values], dim=1)
        return self.conv(pooled).sigmoid()

    def forward(self, x):
        refined = self.channel_gate(x) * x
        return self.spatial_gate(refined) * refined


def cbam_variant(**methods):
    """NotebookCBAM with some methods replaced."""
    return type("CBAM", (_CBAMParts,), methods)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("obj", [scse_ref.CBAM, NotebookCBAM, StackedCBAM],
                         ids=["reference", "notebook", "stacked"])
def test_correct_cbam_passes_every_family(obj, seed):
    assert run_check("cbam", "basic", obj, seed=seed).passed
    failure = first_failure("cbam", obj, seed)
    assert failure is None, failure.message


def _avg_only(self, x):
    return torch.sigmoid(self.mlp(x.mean(dim=(2, 3))))[..., None, None]


def _pooled_sum(self, x):
    return torch.sigmoid(self.mlp(x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))))[..., None, None]


def _gate_each(self, x):
    return (torch.sigmoid(self.mlp(x.mean(dim=(2, 3))))
            + torch.sigmoid(self.mlp(x.amax(dim=(2, 3)))))[..., None, None]


def _max_first(self, x):
    pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
    return torch.sigmoid(self.conv(pooled))


def _max_tuple(self, x):
    pooled = torch.cat([x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True)], dim=1)
    return torch.sigmoid(self.conv(pooled))


def _pool_positions(self, x):
    pooled = torch.cat([x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)],
                       dim=1)
    return torch.sigmoid(self.conv(pooled))


def _parallel(self, x):
    return x * self.channel_gate(x) * self.spatial_gate(x)


def _spatial_first(self, x):
    x = x * self.spatial_gate(x)
    return x * self.channel_gate(x)


def _added(self, x):
    return x * self.channel_gate(x) + x * self.spatial_gate(x)


class TwoMLPs(_CBAMParts):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__(channels, reduction, kernel_size)
        hidden = max(1, channels // reduction)
        self.fc1_max = nn.Linear(channels, hidden)
        self.fc2_max = nn.Linear(hidden, channels)

    def channel_gate(self, x):
        avg = self.mlp(x.mean(dim=(2, 3)))
        mx = self.fc2_max(F.relu(self.fc1_max(x.amax(dim=(2, 3)))))
        return torch.sigmoid(avg + mx)[..., None, None]


class FixedKernel(NotebookCBAM):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__(channels, reduction, 7)


class NoPadding(NotebookCBAM):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__(channels, reduction, kernel_size)
        self.conv = nn.Conv2d(2, 1, kernel_size)


WRONG_CBAM = [
    ("no-max-branch", cbam_variant(channel_gate=_avg_only), "values", {"no-max-branch"},
     "maximum of each map too"),
    ("pooled-sum", cbam_variant(channel_gate=_pooled_sum), "values", {"pooled-sum"},
     "added before the MLP"),
    ("gate-per-branch", cbam_variant(channel_gate=_gate_each), "values", {"gate-per-branch"},
     "own sigmoid"),
    ("concat-order", cbam_variant(spatial_gate=_max_first), "values", {"concat-order"},
     "mean first"),
    ("max-tuple", cbam_variant(spatial_gate=_max_tuple), "shape", {"error"}, "amax"),
    ("pool-over-positions", cbam_variant(spatial_gate=_pool_positions), "shape", {"error"},
     "pool over the channels"),
    ("spatial-on-input", cbam_variant(forward=_parallel), "values", {"spatial-on-input"},
     "sequential"),
    ("spatial-first", cbam_variant(forward=_spatial_first), "values", {"spatial-first"},
     "channel gate first"),
    ("added-like-scse", cbam_variant(forward=_added), "values", {"parallel-add"}, "scSE"),
    ("two-mlps", TwoMLPs, "values", {"parameters"}, "shares one MLP"),
    ("fixed-kernel", FixedKernel, "values", {"parameters"}, "kernel_size given"),
    ("no-padding", NoPadding, "shape", {"error"}, "padding=kernel_size // 2"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, obj, family, labels, hint", WRONG_CBAM,
                         ids=[w[0] for w in WRONG_CBAM])
def test_wrong_cbam_fails_its_family_with_its_hint(name, obj, family, labels, hint, seed):
    failure = first_failure("cbam", obj, seed)
    assert failure is not None, f"{name} passed every family"
    assert failure.family == family and failure.mistake in labels, \
        (failure.family, failure.mistake, failure.message)
    assert hint.lower() in failure.message.lower(), failure.message
