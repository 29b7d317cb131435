"""Lesson 04's own exercises: an SE unit in a residual block (``se_residual``) and the parameter
count of scSE (``scse_params``).

``SEResidualBlock`` is built from ``nn.Conv2d`` and the ``ChannelSE`` that the notebook imports from
``scse_ref``: nothing in it is an earlier answer of the student's, so the reference block
(``scse_ref.SEResidualBlock``) is the oracle. The typical mistakes are the other places SENet tried
for the SE unit, and the ReLU or the shortcut in the wrong place.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import scse_ref

from ..judge.exercise import Case, Exercise, ValueExercise
from ..judge.hints import Mistake
from .cse import keep_block_se_alive


def _parts(p):
    r = p.ref
    return r.conv1, r.conv2, r.se


def _branch(p, x=None):
    conv1, conv2, _ = _parts(p)
    return conv2(F.relu(conv1(p.x if x is None else x)))


def _se(p, x):
    return _parts(p)[2](x)


_POST = ("The SE unit acts after the addition of the shortcut, so it also scales the identity "
         "path: that is SENet's SE-POST variant (top-1 error 22.78 against 22.28). Put it on the "
         "residual branch, before the addition: relu(x + se(conv2(relu(conv1(x))))).")


class SEResidualExercise(Exercise):
    id = "se_residual"
    name = "SEResidualBlock"
    signature = "SEResidualBlock(channels, reduction=16) with self.conv1, self.conv2 (3x3, " \
                "padding 1) and self.se = ChannelSE(channels, reduction); forward(x) = " \
                "relu(x + se(conv2(relu(conv1(x)))))"
    title = "An SE unit in a residual block"
    basic_cases = (
        Case(((8,), {"reduction": 4}), ((2, 8, 5, 7),)),
        Case(((4,), {"reduction": 16}), ((1, 4, 6, 6),), label="C < reduction, N=1"),
    )
    shape_cases = (
        Case(((8,), {"reduction": 4}), ((2, 8, 5, 7),), label="odd, non-square"),
        Case(((4,), {"reduction": 16}), ((1, 4, 6, 6),), label="C < reduction, N=1"),
        Case(((6,), {"reduction": 2}), ((3, 6, 1, 1),), label="1x1 map"),
        Case(((16,), {}), ((1, 16, 4, 5),), label="default reduction"),
    )
    value_cases = (
        Case(((8,), {"reduction": 4}), ((3, 8, 5, 6),)),
        Case(((6,), {"reduction": 2}), ((2, 6, 4, 7),)),
    )
    grad_cases = (Case(((4,), {"reduction": 2}), ((2, 4, 3, 4),)),)
    device_case = Case(((8,), {"reduction": 4}), ((2, 8, 5, 6),))
    live_params = ("conv1.weight", "se.excitation.fc1.weight")
    error_hints = (
        (r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton "
         r"dimension [23]",
         "The residual branch changes the size of the map, so x and the branch cannot be added: "
         "give both 3x3 convolutions padding=1 (nn.Conv2d(channels, channels, 3, padding=1))."),
    )
    mistakes = (
        Mistake("se-post", _POST, lambda p: _se(p, F.relu(p.x + _branch(p)))),
        Mistake("se-post", _POST, lambda p: F.relu(_se(p, p.x + _branch(p)))),
        Mistake("se-identity", "The SE unit scales the identity branch (the shortcut x): that is "
                "SENet's SE-Identity variant. In this exercise it scales the residual branch: "
                "relu(x + se(conv2(relu(conv1(x))))).",
                lambda p: F.relu(_se(p, p.x) + _branch(p))),
        Mistake("se-pre", "The SE unit acts on the input, before the convolutions: that is "
                "SENet's SE-PRE variant. In this exercise it follows conv2 on the residual "
                "branch: relu(x + se(conv2(relu(conv1(x))))).",
                lambda p: F.relu(p.x + _branch(p, _se(p, p.x)))),
        Mistake("se-between-convs", "The SE unit sits between the two convolutions: it acts on "
                "the output of conv2, just before the addition.",
                lambda p: F.relu(p.x + _parts(p)[1](_se(p, F.relu(_parts(p)[0](p.x)))))),
        Mistake("se-between-convs", "The SE unit sits between the two convolutions: it acts on "
                "the output of conv2, just before the addition.",
                lambda p: F.relu(p.x + _parts(p)[1](F.relu(_se(p, _parts(p)[0](p.x)))))),
        Mistake("no-final-relu", "The final ReLU is missing: a ResNet block ends with "
                "relu(x + ...), after the addition.",
                lambda p: p.x + _se(p, _branch(p))),
        Mistake("relu-before-add", "The ReLU comes before the addition (x + relu(...)): apply it "
                "to the sum, relu(x + se(...)), so the block ends with a ReLU as ResNet's do.",
                lambda p: p.x + F.relu(_se(p, _branch(p)))),
        Mistake("relu-after-conv2", "There is a ReLU after conv2, before the SE unit: the branch "
                "is conv1 -> ReLU -> conv2 -> SE, and the only other ReLU comes after the "
                "addition.", lambda p: F.relu(p.x + _se(p, F.relu(_branch(p))))),
        Mistake("no-inner-relu", "The ReLU between conv1 and conv2 is missing: the branch is "
                "conv2(relu(conv1(x))).",
                lambda p: F.relu(p.x + _se(p, _parts(p)[1](_parts(p)[0](p.x))))),
        Mistake("no-shortcut", "The shortcut is missing: a residual block adds its input back, "
                "relu(x + se(...)).", lambda p: F.relu(_se(p, _branch(p)))),
        Mistake("no-se", "The SE unit is not used: the branch's output goes through self.se "
                "before the addition.", lambda p: F.relu(p.x + _branch(p))),
        Mistake("se-gate-only", "The branch is multiplied by the SE unit's gate of x (or the "
                "gate is used instead of the SE output): call self.se on conv2's output, "
                "se(out) = out * gate(out).",
                lambda p: F.relu(p.x + _branch(p) * _parts(p)[2].gate(p.x))),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.SEResidualBlock(*args, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_block_se_alive(ref, inputs[0])      # the SE unit sees conv2's output

    def diagnose_structure(self, case, got, want):
        c = want["conv1.weight"][0]
        for conv in ("conv1", "conv2"):
            w = got.get(f"{conv}.weight")
            if w is None:
                return ("Name the layers self.conv1, self.conv2 and self.se (the grader copies "
                        "weights by these names), as attributes rather than an nn.Sequential.")
            if tuple(w[2:]) != (3, 3):
                return (f"{conv} is {w[2]}x{w[3]}: both convolutions are 3x3 "
                        f"(nn.Conv2d({c}, {c}, 3, padding=1)).")
            if tuple(w[:2]) != (c, c):
                return f"{conv} maps {w[1]} -> {w[0]} channels: both keep C = {c} channels."
            if f"{conv}.bias" not in got:
                return ("The convolutions keep their bias (bias=True, the default): there is no "
                        "BatchNorm after them in this block.")
        if not any(k.startswith("se.excitation.") for k in got):
            if any(k.startswith("se.cse.") for k in got):
                return "self.se is a ChannelSE here (not an SCSE): ChannelSE(channels, reduction)."
            return "Keep the SE unit as self.se = ChannelSE(channels, reduction)."
        if got.get("se.excitation.fc1.weight") != want["se.excitation.fc1.weight"]:
            return ("The SE unit has another hidden width: pass the block's reduction on, "
                    "ChannelSE(channels, reduction).")
        return None

    def diagnose_shape(self, case, got, expected):
        n, c, h, w = case.inputs[0]
        if len(got) == 4 and got[:2] == (n, c) and got[2:] != (h, w):
            return ("The map changed size: the 3x3 convolutions need padding=1 so that H and W "
                    "stay the same.")
        return None


class SCSEParamsExercise(ValueExercise):
    id = "scse_params"
    name = "scse_params"
    signature = "scse_params(channels, reduction) -> int"
    title = "What scSE costs"
    arguments = ((64, 16), (16, 4), (8, 16), (10, 4), (256, 16), (32, 2))
    int_mistakes = (
        ("no-bias", "That is the count without biases: both Linear layers of the excitation and "
         "the 1x1 convolution have one.",
         lambda c, r: 2 * c * max(1, c // r) + c),
        ("hidden-zero", "With C < r, channels // reduction is 0, but the hidden layer has at "
         "least one unit: hidden = max(1, channels // reduction).",
         lambda c, r: 2 * c * (c // r) + (c // r) + c + c + 1),
        ("no-sse-bias", "One parameter short: the sSE convolution has a bias too (C weights "
         "+ 1 bias).", lambda c, r: _count(c, r) - 1),
        ("cse-only", "That is the channel branch alone: add the sSE convolution's C + 1.",
         lambda c, r: _count(c, r) - (c + 1)),
        ("no-cse-bias", "The excitation's Linear layers have biases: fc1 has hidden, fc2 has C.",
         lambda c, r: _count(c, r) - max(1, c // r) - c),
        ("concat-doubled", "The count is doubled: the aggregation mode adds no parameter, not "
         "even 'concat' (it only doubles the channels the NEXT layer sees).",
         lambda c, r: 2 * _count(c, r)),
        ("sse-c-maps", "The sSE convolution goes from C channels to ONE map: C weights + 1 bias, "
         "not C x C.", lambda c, r: _count(c, r) - (c + 1) + c * c + c),
        ("hidden-r", "The hidden width is channels // reduction, not reduction.",
         lambda c, r: 2 * c * r + r + c + c + 1),
    )

    def expected(self, channels, reduction):
        return _count(channels, reduction)


def _count(channels: int, reduction: int) -> int:
    """The parameters of ``scse_ref.SCSE(channels, reduction)``: the reference, not a formula."""
    return sum(p.numel() for p in scse_ref.SCSE(channels, reduction).parameters())


#: the exercises of this module, in lesson order
EXERCISES = [SCSEParamsExercise(), SEResidualExercise()]
