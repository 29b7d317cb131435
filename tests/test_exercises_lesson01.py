"""Lesson 01's own exercises: the reference passes, plausible wrong answers fail with their hint.

``gap_head`` (a module: every family, several seeds) and ``head_params`` (a number, for either
head). For a wrong answer the families run in order (shape, values, gradient, device); the first
that fails must be the one the case names, with the mistake label and a phrase of the hint.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import scse_ref
from autograder import run_check
from autograder.exercises import get
from tests.helpers import SEEDS, first_failure



# --- gap_head --------------------------------------------------------------------------------


class ConvThenMean(nn.Module):
    def __init__(self, channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(channels, num_classes, kernel_size=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


class MeanThenConv(ConvThenMean):
    """Average first, then the 1x1 convolution: the same scores, H*W times cheaper."""

    def forward(self, x):
        return self.conv(x.mean(dim=(2, 3), keepdim=True)).flatten(1)


class AdaptivePool(ConvThenMean):
    def __init__(self, channels, num_classes):
        super().__init__(channels, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.conv(x)).flatten(1)


class SumOverCount(ConvThenMean):
    def forward(self, x):
        return self.conv(x).sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])


CORRECT_HEADS = [scse_ref.GAPHead, ConvThenMean, MeanThenConv, AdaptivePool, SumOverCount]


def _head(forward, init=None):
    """A GAPHead variant with this forward (and optionally this __init__)."""
    attrs = {"forward": forward}
    if init is not None:
        attrs["__init__"] = init
    return type("GAPHead", (ConvThenMean,), attrs)


def _init_with(make_conv):
    def __init__(self, channels, num_classes):
        nn.Module.__init__(self)
        self.conv = make_conv(channels, num_classes)
    return __init__


def _init_named_proj(self, channels, num_classes):
    nn.Module.__init__(self)
    self.proj = nn.Conv2d(channels, num_classes, kernel_size=1)


# (name, implementation, first family to fail, mistake label, phrase of the hint)
WRONG_HEADS = [
    ("max-pool", _head(lambda self, x: self.conv(x).amax(dim=(2, 3))),
     "values", "max-pool", "max-pooled"),
    ("sum", _head(lambda self, x: self.conv(x).sum(dim=(2, 3))), "values", "sum", "summed"),
    ("softmax", _head(lambda self, x: self.conv(x).mean(dim=(2, 3)).softmax(dim=1)),
     "values", "softmax", "returns probabilities"),
    ("log-softmax", _head(lambda self, x: self.conv(x).mean(dim=(2, 3)).log_softmax(dim=1)),
     "values", "softmax", "log-probabilities"),
    ("sigmoid", _head(lambda self, x: torch.sigmoid(self.conv(x).mean(dim=(2, 3)))),
     "values", "sigmoid", "sigmoid"),
    ("relu-maps", _head(lambda self, x: torch.relu(self.conv(x)).mean(dim=(2, 3))),
     "values", "relu", "ReLU"),
    ("squeeze", _head(lambda self, x: self.conv(x).mean(dim=(2, 3), keepdim=True).squeeze()),
     "shape", "shape", "squeeze()"),
    ("keepdim", _head(lambda self, x: self.conv(x).mean(dim=(2, 3), keepdim=True)),
     "shape", "shape", "flatten them away"),
    ("class-maps", _head(lambda self, x: self.conv(x)), "shape", "shape", "class maps"),
    ("one-spatial-dim", _head(lambda self, x: self.conv(x).mean(dim=3)),
     "shape", "shape", "Only one spatial dim"),
    ("linear", _head(lambda self, x: self.conv(x.mean(dim=(2, 3))),
                     _init_with(lambda c, k: nn.Linear(c, k))),
     "values", "parameters", "conv is a Linear layer"),
    ("no-bias", _head(ConvThenMean.forward,
                      _init_with(lambda c, k: nn.Conv2d(c, k, kernel_size=1, bias=False))),
     "values", "parameters", "one per class"),
    ("kernel-3x3", _head(ConvThenMean.forward,
                         _init_with(lambda c, k: nn.Conv2d(c, k, kernel_size=3, padding=1))),
     "values", "parameters", "1x1 convolution"),
    ("named-proj", _head(lambda self, x: self.proj(x).mean(dim=(2, 3)), _init_named_proj),
     "values", "parameters", "self.conv"),
    ("detached", _head(lambda self, x: self.conv(x).mean(dim=(2, 3)).detach()),
     "gradient", "error", "not connected to autograd"),
    ("cpu-zeros", _head(lambda self, x: torch.zeros(x.shape[0], self.conv.out_channels)
                        + self.conv(x).mean(dim=(2, 3))),
     "device", "device", "device"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("head", CORRECT_HEADS, ids=lambda h: h.__qualname__)
def test_correct_gap_heads_pass_every_family(head, seed):
    assert run_check("gap_head", "basic", head, seed=seed).passed
    assert first_failure("gap_head", head, seed) is None


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, head, family, label, phrase", WRONG_HEADS,
                         ids=[w[0] for w in WRONG_HEADS])
def test_wrong_gap_head_fails_first_in_its_family_with_its_hint(name, head, family, label, phrase,
                                                                 seed):
    outcome = first_failure("gap_head", head, seed)
    assert outcome is not None, f"{name} passed every family"
    assert (outcome.family, outcome.mistake) == (family, label), outcome.message
    assert phrase in outcome.message, outcome.message


def test_gap_head_visible_check_names_the_squeeze_trap_at_n_1():
    outcome = run_check("gap_head", "basic", WRONG_HEADS[6][1], seed=SEEDS[0])
    assert not outcome.passed and "squeeze()" in outcome.message


def test_unanswered_gap_head_says_not_implemented():
    class GAPHead(nn.Module):
        def __init__(self, channels, num_classes):
            super().__init__()
            raise NotImplementedError()

    outcome = run_check("gap_head", "basic", GAPHead, seed=SEEDS[0])
    assert not outcome.passed and "not implemented yet" in outcome.message


# --- head_params -------------------------------------------------------------------------------


def head_formula(c, h, w, k, head):
    inputs = c * h * w if head == "fc" else c          # what the linear map reads
    return inputs * k + k


def head_counted(c, h, w, k, head):
    with torch.device("meta"):
        layer = nn.Linear(c * h * w, k) if head == "fc" else scse_ref.GAPHead(c, k)
    return sum(p.numel() for p in layer.parameters())


def head_float(c, h, w, k, head):
    return float(head_formula(c, h, w, k, head))       # an integral float is accepted as the int


def head_branches(c, h, w, k, head):
    if head == "gap":
        return c * k + k
    return c * h * w * k + k


@pytest.mark.parametrize("answer", [head_formula, head_counted, head_float, head_branches],
                         ids=lambda v: v.__name__)
def test_correct_counts_pass(answer):
    assert run_check("head_params", "basic", answer).passed
    outcome = run_check("head_params", "values", answer)
    assert outcome.passed, outcome.message


def _fc(count):
    """A wrong count for the FC head, the GAP head right."""
    return lambda c, h, w, k, head: count(c, h, w, k) if head == "fc" else c * k + k


def _gap(count):
    """A wrong count for the GAP head, the FC head right."""
    return lambda c, h, w, k, head: count(c, h, w, k) if head == "gap" else c * h * w * k + k


@pytest.mark.parametrize("answer, label, phrase", [
    (lambda c, h, w, k, head: (c * h * w if head == "fc" else c) * k, "no-bias", "weights only"),
    (_fc(lambda c, h, w, k: c * k + k), "gap-count", "GAP head's count"),
    (lambda c, h, w, k, head: c * k + k, "gap-count", "GAP head's count"),
    (_fc(lambda c, h, w, k: c * (h + w) * k + k), "h-plus-w", "not H + W"),
    (_fc(lambda c, h, w, k: c * h * h * k + k), "square", "not square"),
    (lambda c, h, w, k, head: (c * h * w if head == "fc" else c) * (k + 1), "bias-per-input",
     "one bias per output"),
    (lambda c, h, w, k, head: (c * h * w if head == "fc" else c) * k + 1, "one-bias",
     "not one in all"),
    (lambda c, h, w, k, head: c * h * w * k + k, "fc-count", "does not depend on H and W"),
    (_gap(lambda c, h, w, k: 9 * c * k + k), "kernel-3x3", "3x3 kernel"),
    (_gap(lambda c, h, w, k: (c + 1) * (k + 1)), "off-by-one", "(C + 1) * (K + 1)"),
    (_fc(lambda c, h, w, k: (c * h * w + 1) * (k + 1)), "values", "expected"),
    (lambda c, h, w, k, head: head_formula(c, h, w, k, head) + 0.5, "type", "expected an int"),
    (lambda c, h, w, k, head: math.prod((c, k)) + k > 0, "type", "expected an int"),
], ids=["no-bias", "fc-as-gap", "gap-for-both", "h-plus-w", "square", "bias-per-input",
        "one-bias", "fc-for-both", "kernel-3x3", "off-by-one", "other", "float", "bool"])
def test_wrong_counts_fail_with_their_hint(answer, label, phrase):
    outcome = run_check("head_params", "values", answer)
    assert not outcome.passed
    assert outcome.mistake == label, outcome.message
    assert phrase in outcome.message, outcome.message


def test_reference_counts_are_the_lessons_numbers():
    """The numbers the lesson teaches: 25,089,000 against 513,000 for 512 x 7 x 7 and 1000
    classes, about 49 times fewer."""
    count = get("head_params").expected
    fc, gap = count(512, 7, 7, 1000, "fc"), count(512, 7, 7, 1000, "gap")
    assert (fc, gap) == (25_089_000, 513_000)
    assert round(fc / gap) == 49


# --- the reference, scse_ref.GAPHead ----------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_reference_gap_head_is_a_linear_map_of_the_channel_averages(dims):
    head = scse_ref.GAPHead(6, 4, spatial_dims=dims).double()
    x = torch.randn(3, 6, *(5, 4, 3)[:dims], dtype=torch.float64)
    averages = x.mean(dim=tuple(range(2, x.dim())))
    expected = averages @ head.conv.weight.view(4, 6).T + head.conv.bias
    torch.testing.assert_close(head(x), expected, rtol=1e-12, atol=1e-12)


def test_reference_gap_head_without_bias_has_k_times_c_parameters():
    head = scse_ref.GAPHead(512, 1000, bias=False)
    assert sum(p.numel() for p in head.parameters()) == 512_000
    assert "bias=False" in repr(head)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(channels=0, num_classes=3), ValueError, "channels must be a positive int"),
    (dict(channels=4, num_classes=2.0), TypeError, "num_classes must be a positive int"),
    (dict(channels=4, num_classes=True), TypeError, "num_classes"),
    (dict(channels=4, num_classes=3, spatial_dims=4), ValueError, "spatial_dims"),
])
def test_reference_gap_head_refuses_bad_arguments_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        scse_ref.GAPHead(**kwargs)


def test_reference_gap_head_refuses_an_input_with_other_channels_naming_the_shape():
    with pytest.raises(ValueError, match=r"GAPHead: x has 5 channels .*built for 4"):
        scse_ref.GAPHead(4, 3)(torch.randn(2, 5, 3, 3))
