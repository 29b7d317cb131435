"""Lesson 03's own exercises: the spatial map as data (``kept_mask``, ``kept_iou``).

Both are functions of a gate ``(N, 1, H, W)`` and a ``threshold`` keyword. The core's cases carry
no keyword arguments, so :class:`ThresholdCase` adds the threshold and :class:`_ThresholdProbe`
passes it with every call. ``kept_mask`` returns a boolean mask: it has no gradient and no dtype to
follow, so it has the shape and values families only, and :meth:`KeptMaskExercise._result`
checks that the answer is boolean before the core compares it as 0/1 values.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import scse_ref

from ..judge.context import Context
from ..judge.exercise import Case, Exercise, Probe
from ..judge.hints import Mistake
from ..wire.protocol import Call, Result


@dataclass(frozen=True)
class ThresholdCase(Case):
    """A case of a map function, with the ``threshold`` to pass (``None``: rely on the default)
    and whether to include samples with an empty mask and an all-dropped map (``edge``)."""

    threshold: float | None = None
    edge: bool = False

    @property
    def kwargs(self) -> dict:
        return {} if self.threshold is None else {"threshold": self.threshold}

    @property
    def t(self) -> float:
        return 0.5 if self.threshold is None else self.threshold

    def describe(self, name: str) -> str:
        t = "default threshold" if self.threshold is None else f"threshold={self.threshold}"
        return f"{super().describe(name)}, {t}"


class _ThresholdProbe(Probe):
    def call(self, **overrides) -> Call:
        overrides.setdefault("kwargs", dict(self.case.kwargs))
        return super().call(**overrides)


def _gate_values(ctx: Context, shape, t: float, dtype) -> torch.Tensor:
    """Gate values in (0, 1) spread around ``t``, with about one position in eight exactly ``t``
    (so that ``>=`` and ``>`` differ)."""
    g = torch.sigmoid(ctx.randn(*shape, dtype=torch.float64) * 2.0 + _logit(t))
    ties = ctx.uniform(*shape, dtype=torch.float64) < 0.125
    return torch.where(ties, torch.full_like(g, t), g).to(dtype)


def _logit(t: float) -> float:
    t = min(max(t, 1e-3), 1 - 1e-3)
    return float(torch.logit(torch.tensor(t, dtype=torch.float64)))


class _MapExercise(Exercise):
    """A function of a gate (and maybe a mask) with a ``threshold`` keyword."""

    kind = "function"

    def probe(self, ctx, case, dtype, grad=False):
        p = super().probe(ctx, case, dtype, grad)
        return _ThresholdProbe(p.exercise, p.ctx, p.case, p.dtype, p.ref, p.inputs, p.params)

    def oracle(self, probe):
        return probe.ref(*probe.inputs, **probe.case.kwargs)


# --- kept_mask ----------------------------------------------------------------------------------


def _t(p) -> float:
    return p.case.t


class KeptMaskExercise(_MapExercise):
    id = "kept_mask"
    name = "kept_mask"
    signature = "kept_mask(gate, threshold=0.5): (N, 1, H, W) float -> (N, 1, H, W) bool"
    title = "The positions a map keeps"
    families = ("shape", "values")
    shape_cases = (
        ThresholdCase(inputs=((1, 1, 5, 7),), label="N=1, odd, non-square"),
        ThresholdCase(inputs=((3, 1, 4, 4),), threshold=0.75),
        ThresholdCase(inputs=((2, 1, 1, 1),), label="1x1 map"),
        ThresholdCase(inputs=((2, 1, 6, 3),), threshold=0.25),
    )
    value_cases = (
        ThresholdCase(inputs=((3, 1, 6, 5),)),
        ThresholdCase(inputs=((2, 1, 5, 7),), threshold=0.25),
        ThresholdCase(inputs=((2, 1, 4, 6),), threshold=0.75),
    )
    mistakes = (
        Mistake("geq", "A position whose gate equals the threshold exactly is counted as kept: "
                "use a strict comparison, gate > threshold.",
                lambda p: p.x >= _t(p)),
        Mistake("removed", "This marks the positions the map removes (gate below the "
                "threshold): kept means gate > threshold.",
                lambda p: p.x < _t(p)),
        Mistake("removed", "This marks the positions the map removes (gate at or below the "
                "threshold): kept means gate > threshold.",
                lambda p: p.x <= _t(p)),
        Mistake("threshold-ignored", "The threshold argument is ignored: the mask is the same "
                "as for 0.5. Compare with the threshold you are given.",
                lambda p: p.x > 0.5 if _t(p) != 0.5 else None),
        Mistake("sigmoid-again", "A sigmoid is applied to the gate again: the gate is already a "
                "sigmoid's output in (0, 1), compare it with the threshold directly.",
                lambda p: torch.sigmoid(p.x) > _t(p)),
    )

    def reference(self, case):
        return scse_ref.kept_mask

    def make_inputs(self, ctx, case, dtype):
        return [_gate_values(ctx, case.inputs[0], case.t, dtype)]

    def _result(self, ctx: Context, call: Call, what: str) -> Result:
        """The answer must be a boolean tensor; it is then handed to the core's comparisons as
        0/1 values in the gate's dtype (the core expects a floating output)."""
        res = super()._result(ctx, call, what)
        if not res.outputs:
            return res
        gate = call.args[0]
        out = res.outputs[0]
        if out.dtype != torch.bool and tuple(out.shape) == tuple(gate.shape):
            self.fail(f"kept_mask returned a {str(out.dtype).removeprefix('torch.')} tensor "
                      f"({what}); return the boolean mask itself, gate > threshold, without "
                      ".float() or .to(...): a bool mask indexes (x[mask]), counts (mask.sum()) "
                      "and combines (&, |) directly.", "dtype")
        res.outputs = [o.to(gate.dtype) if o.dtype == torch.bool else o for o in res.outputs]
        return res

    def diagnose_shape(self, case, got, expected):
        n, _, h, w = case.inputs[0]
        if got == (n, h, w):
            return "Keep the channel dim of the map: (N, 1, H, W), the shape of the gate."
        if got == (n,) or got == ():
            return ("The mask was reduced to a count or a flag: return one boolean per position, "
                    "the shape of the gate.")
        if len(got) == 1:
            return ("The mask was flattened (a boolean index gate[gate > t] selects values): "
                    "return gate > threshold, one boolean per position.")
        return None


# --- kept_iou -----------------------------------------------------------------------------------


def _kept(p):
    return p.x > _t(p)


def _mask(p):
    return p.inputs[1]


def _counts(p, kept=None):
    kept = _kept(p) if kept is None else kept
    m = _mask(p)
    inter = (kept & m).flatten(1).sum(1).double()
    union = (kept | m).flatten(1).sum(1).double()
    return inter, union, kept.flatten(1).sum(1).double(), m.flatten(1).sum(1).double()


def _ratio(num, den, empty=1.0):
    out = num / den.clamp_min(1)
    return torch.where(den > 0, out, torch.full_like(out, empty))


def _iou_of(p, kept):
    inter, union, _, _ = _counts(p, kept)
    return _ratio(inter, union)


def _batch_iou(p):
    inter, union, _, _ = _counts(p)
    value = inter.sum() / union.sum() if float(union.sum()) > 0 else torch.tensor(1.0)
    return value.expand(p.x.shape[0]).to(torch.float64)


def _soft_iou(p):
    g, m = p.x.double().flatten(1), _mask(p).double().flatten(1)
    inter = (g * m).sum(1)
    return inter / (g + m - g * m).sum(1)


def _has_empty_union(p) -> bool:
    return bool((_counts(p)[1] == 0).any())


class KeptIoUExercise(_MapExercise):
    id = "kept_iou"
    name = "kept_iou"
    signature = "kept_iou(gate, mask, threshold=0.5): (N, 1, H, W) float and bool -> (N,)"
    title = "Does the map find the object?"
    families = ("shape", "values", "device")      # a count of thresholded positions: no gradient
    shape_cases = (
        ThresholdCase(inputs=((1, 1, 5, 7), (1, 1, 5, 7)), label="N=1, odd, non-square"),
        ThresholdCase(inputs=((3, 1, 4, 4), (3, 1, 4, 4)), threshold=0.75),
        ThresholdCase(inputs=((4, 1, 3, 5), (4, 1, 3, 5)), edge=True,
                      label="an empty mask and a map that keeps nothing"),
        ThresholdCase(inputs=((2, 1, 1, 1), (2, 1, 1, 1)), label="1x1 map"),
    )
    value_cases = (
        ThresholdCase(inputs=((4, 1, 6, 5), (4, 1, 6, 5))),
        ThresholdCase(inputs=((3, 1, 5, 7), (3, 1, 5, 7)), threshold=0.25),
        ThresholdCase(inputs=((2, 1, 4, 6), (2, 1, 4, 6)), threshold=0.75),
    )
    #: empty masks and maps that keep nothing: checked with the values (not in the device family,
    #: whose finiteness check would blame a 0 / 0 on dtypes)
    edge_cases = (
        ThresholdCase(inputs=((5, 1, 4, 6), (5, 1, 4, 6)), edge=True,
                      label="an empty mask and a map that keeps nothing"),
        ThresholdCase(inputs=((4, 1, 3, 5), (4, 1, 3, 5)), threshold=0.75, edge=True,
                      label="an empty mask and a map that keeps nothing"),
    )
    device_case = ThresholdCase(inputs=((3, 1, 5, 6), (3, 1, 5, 6)))
    error_hints = (
        (r"Subtraction, the `-` operator, with a bool tensor|Negation, the `-` operator, on a "
         r"bool tensor",
         "kept_iou subtracts boolean masks: use & (both), | (either) and ~ (not) on bool tensors, "
         "or count first (.sum()) and subtract the counts."),
        (r"(add|sum|mul)\w* .*(not implemented|not supported) for 'Bool'",
         "kept_iou adds or multiplies boolean tensors in a way torch refuses: combine masks with "
         "& and |, then count with .sum()."),
    )
    mistakes = (
        Mistake("empty-nan", "A sample with an empty union (nothing kept and an empty mask) gives "
                "0 / 0 = nan: its IoU is 1 (the map and the mask agree that there is nothing). "
                "torch.where(union > 0, inter / union, 1) avoids the division by zero.",
                test=lambda p, out: bool(torch.isnan(out).any())),
        Mistake("empty-zero", "A sample with an empty union (nothing kept and an empty mask) gets "
                "IoU 0: the map and the mask agree perfectly there, so its IoU is 1.",
                lambda p: _ratio(*_counts(p)[:2], empty=0.0) if _has_empty_union(p) else None),
        Mistake("precision", "This divides the intersection by the number of kept positions "
                "(the precision): IoU divides by the union, the positions kept OR in the mask.",
                lambda p: _ratio(_counts(p)[0], _counts(p)[2])),
        Mistake("recall", "This divides the intersection by the size of the object mask (the "
                "recall): IoU divides by the union, the positions kept OR in the mask.",
                lambda p: _ratio(_counts(p)[0], _counts(p)[3])),
        Mistake("dice", "This is the Dice score 2|K & M| / (|K| + |M|): IoU is |K & M| / "
                "|K | M|, the intersection over the union.",
                lambda p: _ratio(2 * _counts(p)[0], _counts(p)[2] + _counts(p)[3])),
        Mistake("batch-iou", "One IoU for the whole batch: count the intersection and the union "
                "per sample (sum over dims 1, 2, 3, not over the batch).", _batch_iou),
        Mistake("soft-iou", "The gate's values are used directly (a soft IoU): threshold the "
                "gate first, kept = gate > threshold, then count positions.", _soft_iou),
        Mistake("geq", "A position whose gate equals the threshold exactly is counted as kept: "
                "use a strict comparison, gate > threshold.",
                lambda p: _iou_of(p, p.x >= _t(p))),
        Mistake("threshold-ignored", "The threshold argument is ignored: the IoU is the one for "
                "0.5. Compare the gate with the threshold you are given.",
                lambda p: _iou_of(p, p.x > 0.5) if _t(p) != 0.5 else None),
        Mistake("sigmoid-again", "A sigmoid is applied to the gate again: the gate is already a "
                "sigmoid's output in (0, 1), compare it with the threshold directly.",
                lambda p: _iou_of(p, torch.sigmoid(p.x) > _t(p))),
        Mistake("removed", "This is the IoU of the positions the map removes: kept means "
                "gate > threshold.", lambda p: _iou_of(p, p.x <= _t(p))),
    )

    def reference(self, case):
        return scse_ref.kept_iou

    def make_inputs(self, ctx, case, dtype):
        shape = case.inputs[0]
        t = case.t
        gate = _gate_values(ctx, shape, t, torch.float64)
        # the mask agrees with the map about two times in three, so IoUs spread over (0, 1)
        agree = ctx.uniform(*shape, dtype=torch.float64) < 0.65
        kept = gate > t
        mask = torch.where(agree, kept, ~kept)
        if case.edge and shape[0] >= 3:
            gate[0] = torch.full_like(gate[0], t) * 0.5        # keeps nothing ...
            mask[0] = False                                     # ... of an empty object: IoU 1
            mask[1] = False                                     # an empty object, some kept: 0
            gate[1].view(-1)[0] = (1 + t) / 2
            mask[2] = True                                      # the whole map is the object
        return [gate.to(dtype), mask]

    def extra_checks(self, family, ctx):
        if family != "values":
            return []
        for case in self.edge_cases:
            for dtype in (torch.float32, torch.float64):
                probe = self.probe(ctx, case, dtype)
                what = f"{case.describe(self.name)}, {str(dtype).removeprefix('torch.')}"
                self._compare(probe, self._result(ctx, probe.call(), what), what)
        return ["empty masks and maps that keep nothing OK"]

    def diagnose_shape(self, case, got, expected):
        n = case.inputs[0][0]
        if got == ():
            return ("One number for the whole batch: return one IoU per sample, shape (N,) "
                    "(sum the counts over dims 1, 2, 3 only).")
        if got in ((n, 1), (n, 1, 1), (n, 1, 1, 1)):
            return ("Return shape (N,): one IoU per sample, without trailing dims of size 1 "
                    "(count over every dim after the batch, dims 1, 2, 3, the channel dim "
                    "included).")
        if len(got) >= 2 and got[0] == n:
            return ("Some positions were not counted: sum the intersection and the union over "
                    "every dim after the batch (dims 1, 2, 3), e.g. .flatten(1).sum(dim=1).")
        return None


#: the exercises of this module, in lesson order
EXERCISES = [KeptMaskExercise(), KeptIoUExercise()]
