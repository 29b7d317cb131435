"""Lesson 01: global average pooling."""
from __future__ import annotations

import torch

import scse_ref

from ..judge.context import close
from ..judge.exercise import Case, Exercise
from ..judge.hints import Mistake


def _spatial(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


def _scaled_copy(out: torch.Tensor, expected: torch.Tensor, dtype) -> bool:
    """Whether ``out`` is ``expected`` times one constant other than 1."""
    e, o = expected.double().flatten(), out.double().flatten()
    k = float(e @ o) / max(float(e @ e), 1e-300)
    return abs(k - 1) > 1e-3 and close(out, (k * e).view_as(out).to(out.dtype), dtype)


class GlobalAvgPool(Exercise):
    id = "global_avg_pool"
    name = "global_avg_pool"
    signature = "global_avg_pool(x): (N, C, *spatial) -> (N, C)"
    title = "Global average pooling"
    kind = "function"
    shape_cases = (
        Case(inputs=((1, 3, 5, 7),), label="N=1, odd, non-square"),
        Case(inputs=((4, 2, 6, 6),)),
        Case(inputs=((2, 5, 1, 1),), label="1x1 map"),
        Case(inputs=((3, 4, 9),), label="1-D"),
        Case(inputs=((2, 3, 4, 5, 6),), label="3-D"),
    )
    value_cases = (
        Case(inputs=((3, 4, 5, 6),)),
        Case(inputs=((2, 3, 7),), label="1-D"),
        Case(inputs=((2, 2, 3, 4, 5),), label="3-D"),
    )
    grad_cases = (Case(inputs=((2, 3, 4, 5),)),)
    device_case = Case(inputs=((2, 3, 5, 4),))
    error_hints = (
        (r"Dimension out of range|IndexError.*dim|not enough values to unpack|too many values to "
         r"unpack",
         "global_avg_pool assumes a fixed number of dims: average over every dim after the "
         "channels, whatever their number (dims 2 to x.dim() - 1), for 1-D, 2-D and 3-D maps."),
    )
    mistakes = (
        Mistake("max-pool", "Looks like max pooling: the squeeze is the average over the spatial "
                "positions (.mean), not the maximum.",
                lambda p: p.x.amax(dim=_spatial(p.x))),
        Mistake("sum", "This is the sum over the positions, not their mean: divide by the number "
                "of positions, or use .mean().",
                lambda p: p.x.sum(dim=_spatial(p.x))),
        Mistake("last-dims-only", "Only the last two dims are averaged: for 1-D and 3-D maps, "
                "average over every dim after the channels (dims 2 to x.dim() - 1).",
                lambda p: p.x.mean(dim=(-2, -1)) if p.x.dim() != 4 else None),
        Mistake("mean-of-abs", "This averages absolute values: global average pooling averages "
                "the values themselves.", lambda p: p.x.abs().mean(dim=_spatial(p.x))),
        Mistake("wrong-count", "The output is the mean times a constant: the sum is divided by "
                "the wrong number of positions (W * W for a non-square map, one dim only, ...). "
                "Divide by the number of spatial positions, math.prod(x.shape[2:]), or use "
                ".mean().", test=lambda p, out: _scaled_copy(out, p.ref(p.x), p.dtype)),
    )

    def reference(self, case):
        return scse_ref.global_avg_pool

    def diagnose_shape(self, case, got, expected):
        n, c = expected
        spatial = case.inputs[0][2:]
        if got == (n, c, *(1,) * len(spatial)):
            return "The spatial dims are kept with size 1 (keepdim=True): return (N, C)."
        if got == (n,) and len(spatial) == 1:
            return ("The channels were averaged too. For a 1-D map (N, C, L) the last two dims are "
                    "C and L: average over every dim after the channels (dims 2 to x.dim() - 1), "
                    "not the last two dims.")
        if got == (n,):
            return "The channels were averaged too: keep dim 1 (C), average only the spatial dims."
        if got == (c,) and n == 1:
            return ("The batch dim is gone: a .squeeze() without a dim drops it when N = 1 "
                    "(use .flatten(1), or squeeze only the spatial dims), or the batch was "
                    "averaged too (average only the spatial dims, per sample).")
        if got == (c,):
            return "The batch was averaged too: average only the spatial dims, per sample."
        if got == ():
            return "Everything was averaged into one number: average only the spatial dims."
        if len(got) > 2 and got[:2] == (n, c):
            return ("Only some spatial dims were averaged: average over every dim after the "
                    "channels (dims 2 to x.dim() - 1).")
        return None


#: the exercises of this module, in lesson order
EXERCISES = [GlobalAvgPool()]
