"""Lesson 04: the scSE block and its aggregation modes."""
from __future__ import annotations

import torch

import scse_ref

from ..judge.verdict import CheckFailed
from ..judge.exercise import Case, Exercise
from ..judge.hints import Mistake
from ..wire.protocol import Call
from .cse import hidden_width_hint, keep_se_alive

MODES = tuple(scse_ref.MODES)


def combine(mode: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """scSE's aggregation of the two branches' outputs ``a = cSE(x)`` and ``b = sSE(x)``."""
    if mode == "add":
        return a + b
    if mode == "max":
        return torch.maximum(a, b)
    if mode == "mul":
        return a * b
    return torch.cat([a, b], dim=1)


def _mode(p) -> str:
    return p.case.init[1].get("mode", "add")


def _branches(p):
    return p.remote("cse", p.x), p.remote("sse", p.x)


def _other_mode(p, other):
    return combine(other, *_branches(p)) if _mode(p) != other else None


class SCSEExercise(Exercise):
    id = "scse"
    name = "SCSE"
    signature = "SCSE(channels, reduction=16, mode='add') with self.cse, self.sse; modes add, " \
                "max, mul, concat"
    title = "The scSE block"
    shape_cases = (
        *(Case(((16,), {"reduction": 4, "mode": m}), ((2, 16, 5, 7),), label=f"mode {m}")
          for m in MODES),
        Case(((8,), {"reduction": 16}), ((1, 8, 4, 4),), label="C < reduction, N=1"),
        Case(((16,), {}), ((1, 16, 6, 6),), label="defaults"),
        Case(((12,), {"reduction": 4, "mode": "concat"}), ((2, 12, 1, 1),), label="1x1 map"),
    )
    value_cases = tuple(Case(((12,), {"reduction": 4, "mode": m}), ((3, 12, 4, 5),),
                             label=f"mode {m}") for m in MODES)
    grad_cases = tuple(Case(((8,), {"reduction": 4, "mode": m}), ((2, 8, 3, 4),),
                            label=f"mode {m}") for m in MODES)
    device_case = Case(((16,), {"reduction": 4, "mode": "add"}), ((2, 16, 5, 6),))
    live_params = ("cse.excitation.fc1.weight", "sse.conv.weight")
    mistakes = (
        Mistake("mode-ignored", "This mode gives the 'add' result: forward must pick the "
                "aggregation by self.mode (add, max, mul, concat).",
                lambda p: _other_mode(p, "add")),
        Mistake("max-of-gates", "'max' takes the maximum of the two gates and scales x once; "
                "max-out compares the two scaled outputs: torch.maximum(cse(x), sse(x)).",
                lambda p: p.x * torch.maximum(p.ref.cse.gate(p.x), p.ref.sse.gate(p.x))
                if _mode(p) == "max" else None),
        Mistake("mul-of-gates", "'mul' multiplies the gates and scales x once; it multiplies the "
                "two branch outputs: cse(x) * sse(x).",
                lambda p: p.x * p.ref.cse.gate(p.x) * p.ref.sse.gate(p.x)
                if _mode(p) == "mul" else None),
        Mistake("concat-order", "The concatenation is in the wrong order: cSE's output first, "
                "then sSE's, on dim 1.",
                lambda p: torch.cat(_branches(p)[::-1], dim=1) if _mode(p) == "concat" else None),
        Mistake("residual", "x is added to the result: scSE returns only the aggregation of "
                "the two branches.", lambda p: combine(_mode(p), *_branches(p)) + p.x
                if _mode(p) != "concat" else None),
        Mistake("average", "The two branches are averaged: 'add' is their plain sum.",
                lambda p: combine("add", *_branches(p)) / 2 if _mode(p) == "add" else None),
        Mistake("sequential", "sSE runs on cSE's output: scSE runs the two branches in "
                "parallel on the same x, then combines cse(x) and sse(x).",
                lambda p: combine(_mode(p), p.remote("cse", p.x),
                                  p.remote("sse", p.remote("cse", p.x)))),
        Mistake("swapped-max-mul", "'max' and 'mul' are swapped.",
                lambda p: combine({"max": "mul", "mul": "max"}[_mode(p)], *_branches(p))
                if _mode(p) in ("max", "mul") else None),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.SCSE(*args, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_se_alive(ref.cse, inputs[0])

    def oracle(self, probe):
        # judged against the student's own cse and sse: the branches are earlier exercises
        return combine(_mode(probe), *_branches(probe))

    def diagnose_shape(self, case, got, expected):
        n, c, h, w = case.inputs[0]
        mode = case.init[1].get("mode", "add")
        if mode == "concat" and got == (2 * n, c, h, w):
            return "The concatenation is on the batch dim: concatenate on dim 1 (channels)."
        if mode == "concat" and got == (n, c, h, w):
            return ("'concat' stacks the two outputs on the channel dim: 2C output channels. "
                    "Does forward pick the aggregation by self.mode?")
        if mode != "concat" and got == (n, 2 * c, h, w):
            return f"mode {mode!r} keeps C channels; only 'concat' doubles them."
        return None

    def diagnose_structure(self, case, got, want):
        if not any(k.startswith("cse.") for k in got) or not any(k.startswith("sse.") for k in got):
            return ("Keep the branches as self.cse = ChannelSE(channels, reduction) and "
                    "self.sse = SpatialSE(channels).")
        return hidden_width_hint(got, want, "cse.excitation.", "ChannelSE(channels, reduction)")

    def extra_checks(self, family, ctx):
        if family != "shape":
            return []
        res = ctx.run([Call(name=self.name, init=((16,), {"mode": "avg"}), args=None)])[0]
        if res.ok:
            raise CheckFailed("SCSE(16, mode='avg') was built without an error: check the mode in "
                              "__init__ and raise ValueError naming the valid modes ('add', "
                              "'max', 'mul', 'concat').", "mode-unchecked")
        if res.error["type"] != "ValueError":
            raise CheckFailed(f"SCSE(16, mode='avg') raised {res.error['type']}; an unknown mode "
                              "should raise ValueError, listing the valid modes.", "mode-error")
        return ["an unknown mode raises ValueError"]


#: the exercises of this module, in lesson order
EXERCISES = [SCSEExercise()]
