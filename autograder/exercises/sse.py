"""Lesson 03: spatial squeeze-and-excitation (sSE)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import scse_ref

from ..judge.exercise import Case, Exercise
from ..judge.hints import Mistake


def _conv(p, x):
    conv = p.ref.conv
    return F.conv2d(x, conv.weight, conv.bias)          # (N, C, H, W) -> (N, 1, H, W)


def _scaled(p, gate):
    return gate if p.case.path == "gate" else p.x * gate


def _spatial_softmax(s: torch.Tensor) -> torch.Tensor:
    return s.flatten(2).softmax(dim=-1).view_as(s)


class SpatialSEExercise(Exercise):
    id = "spatial_se"
    name = "SpatialSE"
    signature = "SpatialSE(channels) with self.conv = nn.Conv2d(channels, 1, kernel_size=1); " \
                "gate(x): (N, C, H, W) -> (N, 1, H, W); forward(x) = x * gate(x)"
    title = "The sSE block"
    shape_cases = (
        Case(((3,), {}), ((1, 3, 5, 7),), label="N=1, odd, non-square"),
        Case(((8,), {}), ((2, 8, 4, 4),)),
        Case(((1,), {}), ((3, 1, 6, 5),), label="one channel"),
        Case(((16,), {}), ((2, 16, 1, 1),), label="1x1 map"),
        Case(((8,), {}), ((2, 8, 5, 3),), path="gate"),
    )
    value_cases = (
        Case(((8,), {}), ((3, 8, 5, 6),)),
        Case(((5,), {}), ((2, 5, 7, 4),)),
        Case(((6,), {}), ((2, 6, 4, 5),), path="gate"),
    )
    grad_cases = (Case(((6,), {}), ((2, 6, 3, 4),)),)
    device_case = Case(((8,), {}), ((2, 8, 5, 6),))
    live_params = ("conv.weight", "conv.bias")
    mistakes = (
        Mistake("no-sigmoid", "The map is not squashed into (0, 1): apply a sigmoid to the conv's "
                "output.", lambda p: _scaled(p, _conv(p, p.x))),
        Mistake("softmax", "The map sums to 1 over the positions: a softmax over H x W instead of "
                "a sigmoid. Positions do not compete; each gets its own gate in (0, 1).",
                lambda p: _scaled(p, _spatial_softmax(_conv(p, p.x)))),
        Mistake("relu-gate", "The gate is a ReLU: use a sigmoid, whose output lies in (0, 1).",
                lambda p: _scaled(p, F.relu(_conv(p, p.x)))),
        Mistake("channel-mean", "The map is the mean over the channels: sSE learns the weights "
                "of that sum with the 1x1 convolution self.conv.",
                lambda p: _scaled(p, torch.sigmoid(p.x.mean(dim=1, keepdim=True)))),
        Mistake("add-not-multiply", "The map is added to x: the scale step multiplies, "
                "x * gate(x).", lambda p: p.x + torch.sigmoid(_conv(p, p.x))
                if p.case.path == "" else None),
        Mistake("channel-softmax", "The input is normalised over the channels before the "
                "convolution: the conv sees x itself.",
                lambda p: _scaled(p, torch.sigmoid(_conv(p, p.x.softmax(dim=1))))),
        Mistake("conv-bias-ignored", "The conv's bias is left out (F.conv2d with self.conv.weight "
                "only?): call self.conv(x), which adds self.conv.bias.",
                lambda p: _scaled(p, torch.sigmoid(F.conv2d(p.x, p.ref.conv.weight)))),
        Mistake("hard-gate", "The map is a hard 0/1 mask (a threshold on the sigmoid, or a "
                "comparison): sSE uses the sigmoid itself, a soft gate in (0, 1) that gradients "
                "flow through.", lambda p: _scaled(p, (_conv(p, p.x) > 0).to(p.x.dtype))),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.SpatialSE(*args, **kwargs)

    def diagnose_shape(self, case, got, expected):
        n, c, h, w = case.inputs[0]
        if case.path == "gate":
            if got == (n, h, w):
                return "Keep the channel dim of the map: (N, 1, H, W), not (N, H, W)."
            if got == (n, c, h, w):
                return ("The map has C channels: the conv goes from C channels to one, "
                        "nn.Conv2d(channels, 1, kernel_size=1).")
        elif got == (n, 1, h, w):
            return "forward returns the map: return x * self.gate(x)."
        return None

    def diagnose_structure(self, case, got, want):
        w = got.get("conv.weight")
        c = want["conv.weight"][1]
        if w is not None and len(w) == 2:
            return (f"self.conv is a Linear layer (weight {w}): use nn.Conv2d({c}, 1, "
                    "kernel_size=1), whose weight is (1, C, 1, 1), on the (N, C, H, W) input.")
        if w is not None and w[0] != 1:
            return "The conv must output one map: nn.Conv2d(channels, 1, kernel_size=1)."
        if w is not None and tuple(w[2:]) != (1, 1):
            return "The conv is 1x1 (kernel_size=1): one weighted sum of channels per position."
        if w is not None and "conv.bias" not in got:
            return "The conv has a bias (bias=True, the default)."
        if w is None:
            return (f"Keep the convolution as self.conv = nn.Conv2d({c}, 1, kernel_size=1) (the "
                    "grader copies weights by the names conv.weight and conv.bias).")
        return None


#: the exercises of this module, in lesson order
EXERCISES = [SpatialSEExercise()]
