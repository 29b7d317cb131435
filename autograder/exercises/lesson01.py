"""Lesson 01's own exercises: the GAP classifier head and one parameter count for both heads.

The contract exercise of the lesson (``global_avg_pool``) is in :mod:`.gap`. The head here is
checked against :class:`scse_ref.GAPHead`; the counts are counted on real modules (built on the
meta device, so a 25-million-parameter layer costs nothing), never re-derived by formula.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import scse_ref

from ..judge.exercise import Case, Exercise, ValueExercise
from ..judge.hints import Mistake


def count_parameters(build) -> int:
    """The number of parameters of the module ``build()`` makes, built on the meta device."""
    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters())


def _class_maps(p) -> torch.Tensor:
    """The reference head's class maps (its 1x1 convolution) on the probe's input."""
    conv = p.ref.conv
    return F.conv2d(p.x, conv.weight, conv.bias)


_SPATIAL = (2, 3)


class GAPHeadExercise(Exercise):
    id = "gap_head"
    name = "GAPHead"
    signature = "GAPHead(channels, num_classes) with self.conv; forward(x): (N, C, H, W) -> (N, K)"
    title = "A classifier head made of a 1x1 convolution and global average pooling"
    shape_cases = (
        Case(((8, 3), {}), ((2, 8, 5, 7),), label="odd, non-square"),
        Case(((4, 10), {}), ((1, 4, 6, 6),), label="N=1, more classes than channels"),
        Case(((6, 1), {}), ((3, 6, 4, 4),), label="one class"),
        Case(((5, 4), {}), ((2, 5, 1, 1),), label="1x1 map"),
    )
    value_cases = (
        Case(((8, 5), {}), ((4, 8, 5, 6),)),
        Case(((3, 7), {}), ((4, 3, 4, 4),), label="more classes than channels"),
    )
    grad_cases = (Case(((6, 4), {}), ((2, 6, 3, 5),)),)
    device_case = Case(((8, 5), {}), ((2, 8, 5, 6),))
    live_params = ("conv.weight", "conv.bias")
    error_hints = (
        (r"mat1 and mat2 shapes cannot be multiplied",
         "GAPHead applies a Linear layer to the (N, C, H, W) map: a Linear multiplies the last dim "
         "(W), not the channels. Use self.conv = nn.Conv2d(channels, num_classes, kernel_size=1), "
         "which applies the same weights to the C channels at every position."),
        (r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d",
         "GAPHead gives its convolution a tensor without the spatial dims: apply self.conv to the "
         "(N, C, H, W) map first, then average over H and W (or keep the dims with keepdim=True "
         "and flatten at the end)."),
    )
    mistakes = (
        Mistake("max-pool", "The class maps are max-pooled: the GAP head averages each class map "
                "over its H x W positions (.mean), it does not take the maximum.",
                lambda p: _class_maps(p).amax(dim=_SPATIAL)),
        Mistake("sum", "The class maps are summed over the positions, not averaged: divide by "
                "H x W, or use .mean().", lambda p: _class_maps(p).sum(dim=_SPATIAL)),
        Mistake("softmax", "GAPHead returns probabilities (a softmax over the classes): return the "
                "class scores (logits). The softmax comes afterwards, and nn.CrossEntropyLoss "
                "applies it itself.", lambda p: _class_maps(p).mean(dim=_SPATIAL).softmax(dim=1)),
        Mistake("softmax", "GAPHead returns log-probabilities (a log-softmax): return the class "
                "scores (logits); nn.CrossEntropyLoss applies the log-softmax itself.",
                lambda p: _class_maps(p).mean(dim=_SPATIAL).log_softmax(dim=1)),
        Mistake("sigmoid", "GAPHead squashes the scores with a sigmoid: return the class scores "
                "(logits) as they come out of the average.",
                lambda p: torch.sigmoid(_class_maps(p).mean(dim=_SPATIAL))),
        Mistake("relu", "A ReLU cuts the negative class evidence: there is no activation in the "
                "head, scores can be negative. Return the average of the 1x1 convolution's maps.",
                lambda p: F.relu(_class_maps(p)).mean(dim=_SPATIAL)),
        Mistake("relu", "A ReLU cuts the negative scores: there is no activation in the head. "
                "Return the average of the 1x1 convolution's maps.",
                lambda p: F.relu(_class_maps(p).mean(dim=_SPATIAL))),
        Mistake("softmax", "The scores sum to 1 over the classes: a softmax in the head. Return "
                "the class scores (logits); the softmax comes afterwards.",
                test=lambda p, out: out.shape[1] > 1 and bool(torch.allclose(
                    out.double().sum(dim=1), torch.ones(out.shape[0], dtype=torch.float64),
                    atol=1e-4))),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.GAPHead(*args, **kwargs)

    def diagnose_shape(self, case, got, expected):
        n, k = expected
        _, c, h, w = case.inputs[0]
        if got == (n, k, 1, 1):
            return ("The spatial dims are kept with size 1 (keepdim=True or AdaptiveAvgPool2d(1)): "
                    "flatten them away, (N, K, 1, 1) -> (N, K).")
        if got == (n, k, h, w):
            return "These are the class maps: average each over its H x W positions."
        if got == (k,) and n == 1 or got == (n,) and k == 1:
            return ("squeeze() removed a dim of size 1 that belongs to the output (N = 1 or "
                    "K = 1): use .flatten(1) or .mean(dim=(2, 3)), which remove only H and W.")
        if got == (n, c) and c != k:
            return ("The output has C entries per sample, not K: apply the 1x1 convolution "
                    "from C channels to K class maps.")
        if got == (n, k, h) or got == (n, k, w):
            return "Only one spatial dim was averaged: average over both H and W (dims 2 and 3)."
        if got == (n,):
            return "The classes were averaged too: keep dim 1 (the K scores)."
        if got == (k,):
            return "The batch was averaged too: average only over H and W, per sample."
        return None

    def diagnose_structure(self, case, got, want):
        (k, c, _, _) = want["conv.weight"]
        weight = got.get("conv.weight")
        if weight is None:
            return ("Name the convolution self.conv (the grader copies weights by the names "
                    "conv.weight and conv.bias).")
        if weight == (k, c):
            return ("conv is a Linear layer: use nn.Conv2d(channels, num_classes, kernel_size=1), "
                    "whose weight has shape (K, C, 1, 1).")
        if weight == (c, k, 1, 1) and c != k:
            return ("The convolution goes from num_classes to channels: it maps the C input "
                    "channels to K class maps, nn.Conv2d(channels, num_classes, kernel_size=1).")
        if len(weight) == 4 and weight[:2] == (k, c) and weight[2:] != (1, 1):
            return (f"The kernel is {weight[2]}x{weight[3]}: the head uses a 1x1 convolution "
                    "(kernel_size=1), one weight per channel and class.")
        if "conv.bias" not in got:
            return "The convolution has a bias, one per class (bias=True, the default)."
        return None


def _fc(c, h, w, k):
    return count_parameters(lambda: nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, k)))


def _gap(c, k):
    return count_parameters(lambda: scse_ref.GAPHead(c, k))


def _when(head: str, count):
    """A wrong count that applies to one kind of head only (``None`` for the other)."""
    return lambda c, h, w, k, kind: count(c, h, w, k) if kind == head else None


class HeadParams(ValueExercise):
    """One count for both heads: a linear map from ``inputs`` numbers to K scores has
    ``inputs * K`` weights and K biases; the heads differ only in what ``inputs`` is."""

    id = "head_params"
    name = "head_params"
    signature = "head_params(channels, height, width, num_classes, head) -> int, head 'fc' or 'gap'"
    title = "Parameters of a classifier head"
    arguments = ((512, 7, 7, 1000, "fc"), (512, 7, 7, 1000, "gap"), (64, 4, 6, 10, "fc"),
                 (64, 4, 6, 10, "gap"), (3, 5, 2, 7, "fc"), (3, 5, 2, 7, "gap"),
                 (16, 1, 1, 4, "fc"), (10, 9, 9, 3, "gap"))
    int_mistakes = (
        ("no-bias", "This counts the weights only: both heads also have one bias per class.",
         lambda c, h, w, k, kind: (c * h * w if kind == "fc" else c) * k),
        ("gap-count", "For head='fc' this is the GAP head's count: the fully connected head "
         "takes the whole flattened map, C * H * W numbers, as its input.",
         _when("fc", lambda c, h, w, k: c * k + k)),
        ("h-plus-w", "The map has H * W positions, not H + W.",
         _when("fc", lambda c, h, w, k: c * (h + w) * k + k)),
        ("square", "The map is H x W, not square: use both height and width.",
         _when("fc", lambda c, h, w, k: c * h * h * k + k)),
        ("square", "The map is H x W, not square: use both height and width.",
         _when("fc", lambda c, h, w, k: c * w * w * k + k)),
        ("bias-per-input", "There is one bias per output (per class), not one per input.",
         lambda c, h, w, k, kind: (c * h * w if kind == "fc" else c) * (k + 1)),
        ("one-bias", "There is one bias per class, not one in all.",
         lambda c, h, w, k, kind: (c * h * w if kind == "fc" else c) * k + 1),
        ("fc-count", "For head='gap' this is the FC head's count: the GAP head's 1x1 "
         "convolution has one weight per (channel, class) pair, the same at every position, so "
         "its count does not depend on H and W.",
         _when("gap", lambda c, h, w, k: c * h * w * k + k)),
        ("kernel-3x3", "That counts a 3x3 kernel: the GAP head's convolution is 1x1, one weight "
         "per channel and class.", _when("gap", lambda c, h, w, k: 9 * c * k + k)),
        ("off-by-one", "(C + 1) * (K + 1) counts one row and one column too many: the weights are "
         "C * K and the biases K.", _when("gap", lambda c, h, w, k: (c + 1) * (k + 1))),
    )

    def expected(self, channels, height, width, num_classes, head):
        if head == "fc":
            return _fc(channels, height, width, num_classes)
        return _gap(channels, num_classes)


#: the exercises of this module, in lesson order
EXERCISES = [GAPHeadExercise(), HeadParams()]
