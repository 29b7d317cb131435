"""Lesson 05's own exercises (``se_bottleneck``, ``se_width``, ``attention_block``).

For each exercise: the solution of the notebook (and the reference itself where it fits) passes
every family; plausible wrong implementations fail in the family they belong to, with the matching
hint. Every verdict is taken with two seeds.
"""
from __future__ import annotations

import pytest
import torch.nn.functional as F
from torch import nn

from autograder import run_check
from scse_ref import SCSE, ChannelSE, SpatialSE
from tests.helpers import SEEDS, first_failure, notebook_answer



def fails_with(exercise_id, obj, label, hint, family=None):
    for seed in SEEDS:
        out = first_failure(exercise_id, obj, seed) if family is None else \
            run_check(exercise_id, family, obj, seed=seed)
        assert out is not None and not out.passed, f"{label}: passed (seed {seed})"
        assert out.mistake == label, (seed, out.mistake, out.message)
        assert hint in out.message, (seed, out.message)


# ----------------------------------------------------------------------------- se_bottleneck

SEBottleneck = notebook_answer("05_attention_in_networks", "se_bottleneck")


def _branch(s, x):
    """An SEBottleneck's residual branch, without its SE unit."""
    return s.conv3(F.relu(s.conv2(F.relu(s.conv1(x)))))


def _shortcut(s, x):
    return x if s.downsample is None else s.downsample(x)


class SEBottleneckSequential(nn.Module):
    """Another correct style: a Sequential for the shortcut would change the names, so only the
    branch's order of calls differs (F.conv2d with the layers' weights)."""

    def __init__(self, in_channels, planes, stride=1, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, kernel_size=1)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1)
        self.se = ChannelSE(planes * 4, reduction)
        needs = stride != 1 or in_channels != planes * 4
        self.downsample = nn.Conv2d(in_channels, planes * 4, 1, stride=stride) if needs else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.conv2d(x, self.conv1.weight, self.conv1.bias).relu()
        out = self.conv2(out).relu()
        return (self.se(self.conv3(out)) + identity).relu()


def _variant(forward=None, **init):
    class Wrong(SEBottleneck):
        pass
    if forward is not None:
        Wrong.forward = forward
    if init:
        original = SEBottleneck.__init__

        def __init__(self, in_channels, planes, stride=1, reduction=16):
            original(self, in_channels, planes, stride, reduction)
            init["patch"](self, in_channels, planes, stride, reduction)
        Wrong.__init__ = __init__
    Wrong.__name__ = "SEBottleneck"
    return Wrong


@pytest.mark.parametrize("obj", [SEBottleneck, SEBottleneckSequential])
@pytest.mark.parametrize("seed", SEEDS)
def test_se_bottleneck_solutions_pass_every_family(obj, seed):
    assert first_failure("se_bottleneck", obj, seed) is None


def _v1_patch(self, cin, planes, stride, r):
    self.conv1 = nn.Conv2d(cin, planes, 1, stride=stride)
    self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)


def _always_projection(self, cin, planes, stride, r):
    self.downsample = nn.Conv2d(cin, 4 * planes, 1, stride=stride)


def _se_on_planes(self, cin, planes, stride, r):
    self.se = ChannelSE(planes, r)


@pytest.mark.parametrize("wrong, label, hint", [
    (_variant(lambda s, x: s.se(F.relu(_branch(s, x) + _shortcut(s, x)))), "se-post",
     "SE-POST"),
    (_variant(lambda s, x: F.relu(_branch(s, x) + s.se(_shortcut(s, x)))), "se-identity",
     "SE-Identity"),
    (_variant(lambda s, x: s.se(_branch(s, x)) + _shortcut(s, x)), "no-final-relu",
     "final ReLU is missing"),
    (_variant(lambda s, x: F.relu(s.se(F.relu(_branch(s, x))) + _shortcut(s, x))),
     "relu-after-conv3", "ReLU after conv3"),
    (_variant(lambda s, x: F.relu(_branch(s, x) + _shortcut(s, x))), "no-se",
     "SE unit is not used"),
    (_variant(lambda s, x: F.relu(s.se(_branch(s, x)))), "no-shortcut", "shortcut is missing"),
    (_variant(patch=_v1_patch), "stride-in-conv1", "ResNet v1.5"),
    (_variant(patch=_always_projection), "parameters", "needs no projection"),
], ids=["se-post", "se-identity", "no-final-relu", "relu-after-conv3", "no-se", "no-shortcut",
        "stride-in-conv1", "always-projection"])
def test_se_bottleneck_mistakes_are_named(wrong, label, hint):
    fails_with("se_bottleneck", wrong, label, hint)


def test_se_bottleneck_on_the_3x3_width_is_named_by_its_parameters():
    class Wrong(SEBottleneck):
        def __init__(self, in_channels, planes, stride=1, reduction=16):
            super().__init__(in_channels, planes, stride, reduction)
            self.se = ChannelSE(planes, reduction)

        def forward(self, x):
            out = self.se(F.relu(self.conv2(F.relu(self.conv1(x)))))
            return F.relu(self.conv3(out) + _shortcut(self, x))
    fails_with("se_bottleneck", Wrong, "parameters", "acts on conv3's output", family="values")


def test_se_bottleneck_without_projection_is_told_to_project():
    class Wrong(SEBottleneck):
        def __init__(self, in_channels, planes, stride=1, reduction=16):
            super().__init__(in_channels, planes, stride, reduction)
            self.downsample = None
    out = run_check("se_bottleneck", "shape", Wrong, seed=SEEDS[0])
    assert not out.passed and "downsample" in out.message, out.message


# ----------------------------------------------------------------------------- se_width

se_width = notebook_answer("05_attention_in_networks", "se_width")


def se_width_from_the_block(in_channels, planes, placement):
    """Correct another way: build the block and ask its unit (as a student may)."""
    from scse_ref.networks import Bottleneck
    return Bottleneck(in_channels, planes, se=True, placement=placement).se.channels


@pytest.mark.parametrize("answer", [se_width, se_width_from_the_block,
                                    lambda *a: float(se_width(*a))],
                         ids=["formula", "from-the-block", "float"])
def test_se_width_solutions_pass(answer):
    assert run_check("se_width", "basic", answer, seed=1).passed
    out = run_check("se_width", "values", answer, seed=1)
    assert out.passed, out.message


@pytest.mark.parametrize("wrong, label, hint", [
    (lambda c, p, pl: 4 * p, "pre-output-width", "in_channels channels"),
    (lambda c, p, pl: c, "input-width", "Only SE-PRE"),
    (lambda c, p, pl: c if pl in ("pre", "identity") else 4 * p, "identity-input-width",
     "after the projection"),
    (lambda c, p, pl: c if pl == "pre" else p, "planes-width", "3x3 convolution's width"),
    (lambda c, p, pl: c if pl == "pre" else 2 * p, "values", "expected"),
    (lambda c, p, pl: "many", "type", "expected an int"),
], ids=["pre-output-width", "input-width", "identity-input-width", "planes-width", "other",
        "type"])
def test_se_width_mistakes_are_named(wrong, label, hint):
    out = run_check("se_width", "values", wrong, seed=1)
    assert not out.passed and out.mistake == label, (out.mistake, out.message)
    assert hint in out.message


# ----------------------------------------------------------------------------- attention_block

def _unit(kind, channels, reduction):
    return {"none": lambda: nn.Identity(), "cse": lambda: ChannelSE(channels, reduction),
            "sse": lambda: SpatialSE(channels), "scse": lambda: SCSE(channels, reduction)}[kind]()


AttentionBlock = notebook_answer("05_attention_in_networks", "attention_block")


def _features(s, x):
    """The block without its attention unit: the notebook's given ConvBlock."""
    return F.relu(s.norm2(s.conv2(F.relu(s.norm1(s.conv1(x))))))


@pytest.mark.parametrize("seed", SEEDS)
def test_attention_block_solution_passes_every_family(seed):
    assert first_failure("attention_block", AttentionBlock, seed) is None


def _block(forward=None, unit=None):
    class Wrong(AttentionBlock):
        def __init__(self, in_channels, out_channels, attention="none", reduction=2):
            super().__init__(in_channels, out_channels, attention, reduction)
            if unit is not None:
                self.attention = unit(attention, out_channels, reduction)
    if forward is not None:
        Wrong.forward = forward
    Wrong.__name__ = "AttentionBlock"
    return Wrong


def _before_relu(s, x):
    h = F.relu(s.norm1(s.conv1(x)))
    return F.relu(s.attention(s.norm2(s.conv2(h))))


def _between(s, x):
    h = s.attention(F.relu(s.norm1(s.conv1(x))))
    return F.relu(s.norm2(s.conv2(h)))


@pytest.mark.parametrize("wrong, label, hint", [
    (_block(_before_relu), "attention-before-relu", "before the block's last ReLU"),
    (_block(_between), "attention-between-convs", "between the two convolutions"),
    (_block(lambda s, x: _features(s, x) + s.attention(_features(s, x))), "residual-attention",
     "without a shortcut"),
    (_block(lambda s, x: _features(s, x)), "no-attention", "not applied"),
    (_block(unit=lambda k, c, r: SCSE(c, r, mode="max") if k == "scse" else _unit(k, c, r)),
     "scse-max", "not by their maximum"),
    (_block(unit=lambda k, c, r: ChannelSE(c, r) if k == "scse" else _unit(k, c, r)),
     "parameters", "SCSE("),
    (_block(unit=lambda k, c, r: None if k == "none" else _unit(k, c, r)), "error",
     "nn.Identity()"),
], ids=["before-relu", "between-convs", "residual", "no-attention", "scse-max", "cse-for-scse",
        "none-is-None"])
def test_attention_block_mistakes_are_named(wrong, label, hint):
    fails_with("attention_block", wrong, label, hint)


def test_attention_block_with_conv_biases_is_named_by_its_parameters():
    class Wrong(AttentionBlock):
        def __init__(self, in_channels, out_channels, attention="none", reduction=2):
            super().__init__(in_channels, out_channels, attention, reduction)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
    fails_with("attention_block", Wrong, "parameters", "no bias", family="values")
