"""Lesson 06's own exercises: GPU-ready attention.

- ``smooth_sse``: the notebook gives a spatial SE unit with a smoothed map that has four device and
  dtype bugs (a fixed filter kept as a plain tensor attribute, a tensor created on the CPU inside
  ``forward``, a ``.item()`` round trip, a hard-coded float32); the student writes the fixed
  ``SmoothSpatialSE``. Its reference is ``scse_ref.SmoothSpatialSE``. The device family judges
  the fix (its meta-device run also runs where a GPU is present, where a ``.item()`` in
  ``forward`` only synchronises and would pass).
- ``fused_scse``: scSE's ``"add"`` forward with one full-size product, ``x * (g_c + g_s)``
  (``FusedSCSE``), built from the ``ChannelSE`` and ``SpatialSE`` the notebook imports; the
  reference is ``scse_ref.SCSE`` in ``"add"`` mode with ``fused=False``, and the oracle the
  formula itself on the reference's two gates (the reference's fused fast path is never the
  oracle).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import scse_ref

from ..judge.exercise import Case, Exercise
from ..judge.hints import Mistake
from .cse import keep_se_alive

# --- smooth_sse -----------------------------------------------------------------------------------


def _logits(p):
    return p.ref.conv(p.x)


def _blur(p, s):
    return F.conv2d(s, p.ref.kernel, padding=1)


def _norm(p, s):
    return F.conv2d(torch.ones_like(s[:1]), p.ref.kernel, padding=1)


def _scaled(p, gate):
    """``x * gate``, or the gate itself when the probe calls ``gate``."""
    return gate if p.case.path == "gate" else p.x * gate


class SmoothSSEExercise(Exercise):
    id = "smooth_sse"
    name = "SmoothSpatialSE"
    signature = ("SmoothSpatialSE(channels) with self.conv = nn.Conv2d(channels, 1, 1) and the "
                 "binomial filter as a buffer self.kernel (1, 1, 3, 3); gate(x): (N, C, H, W) -> "
                 "(N, 1, H, W) = sigmoid(conv2d(s, kernel, padding=1) / conv2d(ones, kernel, "
                 "padding=1)) with s = conv(x); forward(x) = x * gate(x)")
    title = "Fix a module's device and dtype bugs"
    shape_cases = (
        Case(((8,), {}), ((2, 8, 5, 7),), label="odd, non-square"),
        Case(((3,), {}), ((1, 3, 1, 1),), label="1x1 map, N=1"),
        Case(((4,), {}), ((2, 4, 1, 6),), label="one row"),
        Case(((5,), {}), ((2, 5, 4, 4),), path="gate"),
    )
    value_cases = (
        Case(((8,), {}), ((3, 8, 5, 6),)),
        Case(((6,), {}), ((2, 6, 4, 7),), path="gate"),
    )
    grad_cases = (Case(((4,), {}), ((2, 4, 5, 3),)),)
    device_case = value_cases[0]
    live_params = ("conv.weight",)
    error_hints = (
        (r'Unexpected key\(s\) in state_dict: "kernel"',
         "The module has no buffer named kernel in its state_dict: register the filter with "
         "self.register_buffer(\"kernel\", ...) (persistent, the default), so that it moves with "
         "the module and is saved with it."),
        (r'Missing key\(s\) in state_dict: "kernel"',
         "self.kernel is not a buffer: register the filter with self.register_buffer(\"kernel\", "
         "...) instead of keeping it as a plain attribute or a parameter."),
    )
    mistakes = (
        Mistake("no-normalisation", "The border of the gate map is too dark: the smoothed logits "
                "are not divided by conv2d(ones, kernel, padding=1), so at the border the window "
                "averages zeros from the padding. Keep the normalisation of the given module.",
                lambda p: _scaled(p, torch.sigmoid(_blur(p, _logits(p))))),
        Mistake("sigmoid-first", "The sigmoid comes before the smoothing: smooth the logits s = "
                "conv(x), then take the sigmoid of the smoothed map.",
                lambda p: _scaled(p, _blur(p, torch.sigmoid(_logits(p)))
                                  / _norm(p, _logits(p)))),
        Mistake("not-smoothed", "The gate is not smoothed: that is plain sSE, sigmoid(conv(x)). "
                "The fixed module keeps the smoothing of the given one.",
                lambda p: _scaled(p, torch.sigmoid(_logits(p)))),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.SmoothSpatialSE(*args, **kwargs)

    def diagnose_structure(self, case, got, want):
        if "kernel" in got:
            return ("kernel is a parameter here (nn.Parameter): the filter is fixed, never "
                    "trained, so it is a buffer: self.register_buffer(\"kernel\", ...).")
        if "conv.weight" not in got:
            return "Keep the 1x1 convolution as self.conv = nn.Conv2d(channels, 1, kernel_size=1)."
        return None


# --- fused_scse -----------------------------------------------------------------------------------


def _gates(p):
    return p.ref.cse.gate(p.x), p.ref.sse.gate(p.x)


def _fused(p, combine):
    gc, gs = _gates(p)
    return combine(p.x, gc, gs)


class FusedSCSEExercise(Exercise):
    id = "fused_scse"
    name = "FusedSCSE"
    signature = ("FusedSCSE(channels, reduction=16) with self.cse = ChannelSE(channels, "
                 "reduction), self.sse = SpatialSE(channels); forward(x) = x * (cse.gate(x) + "
                 "sse.gate(x)): (N, C, H, W) -> (N, C, H, W)")
    title = "The fused scSE forward"
    shape_cases = (
        Case(((16,), {"reduction": 4}), ((2, 16, 5, 7),), label="odd, non-square"),
        Case(((8,), {"reduction": 16}), ((1, 8, 3, 3),), label="C < reduction, N=1"),
        Case(((6,), {"reduction": 2}), ((2, 6, 1, 1),), label="1x1 map"),
        Case(((32,), {}), ((1, 32, 2, 9),), label="default reduction"),
    )
    value_cases = (
        Case(((16,), {"reduction": 4}), ((3, 16, 5, 6),)),
        Case(((8,), {"reduction": 16}), ((2, 8, 4, 4),), label="C < reduction"),
    )
    grad_cases = (Case(((8,), {"reduction": 2}), ((2, 8, 3, 4),)),)
    device_case = value_cases[0]
    live_params = ("cse.excitation.fc1.weight", "sse.conv.weight")
    mistakes = (
        Mistake("gate-product", "The gates are multiplied (x * g_c * g_s): scSE adds the two "
                "recalibrated maps, x * g_c + x * g_s = x * (g_c + g_s).",
                lambda p: _fused(p, lambda x, gc, gs: x * gc * gs)),
        Mistake("gate-mean", "The sum of the gates is halved: scSE's 'add' is x * g_c + x * g_s = "
                "x * (g_c + g_s), without a factor 1/2.",
                lambda p: _fused(p, lambda x, gc, gs: x * (gc + gs) / 2)),
        Mistake("gate-max", "The gates are combined by their maximum: this exercise fuses scSE's "
                "'add' mode, x * (g_c + g_s).",
                lambda p: _fused(p, lambda x, gc, gs: x * torch.maximum(gc, gs))),
        Mistake("outputs-not-gates", "The modules' outputs are used as gates: cse(x) is already "
                "x * g_c. Take the gates, self.cse.gate(x) and self.sse.gate(x), and multiply x "
                "by their sum once.",
                lambda p: p.x * (p.ref.cse(p.x) + p.ref.sse(p.x))),
        Mistake("scse-max", "That is scSE's 'max' mode (max(x * g_c, x * g_s)): this exercise "
                "fuses the 'add' mode, x * (g_c + g_s).",
                lambda p: _fused(p, lambda x, gc, gs: torch.maximum(x * gc, x * gs))),
        Mistake("scse-mul", "That is scSE's 'mul' mode ((x * g_c) * (x * g_s)): this exercise "
                "fuses the 'add' mode, x * (g_c + g_s).",
                lambda p: _fused(p, lambda x, gc, gs: (x * gc) * (x * gs))),
        Mistake("channel-only", "Only the channel gate is applied: add the spatial gate, "
                "x * (g_c + g_s).", lambda p: _fused(p, lambda x, gc, gs: x * gc)),
        Mistake("spatial-only", "Only the spatial gate is applied: add the channel gate, "
                "x * (g_c + g_s).", lambda p: _fused(p, lambda x, gc, gs: x * gs)),
        Mistake("gates-only", "The output is the sum of the gates, not x rescaled by it: "
                "x * (g_c + g_s).", lambda p: _fused(p, lambda x, gc, gs: (gc + gs).expand_as(x))),
        Mistake("residual", "x is added back (x + x * (g_c + g_s)): scSE has no shortcut; the "
                "output is x * (g_c + g_s).",
                lambda p: _fused(p, lambda x, gc, gs: x + x * (gc + gs))),
    )

    def reference(self, case):
        # the two-branch form: the reference's fused path, with its hand-written backward, is
        # what this exercise asks the student to write, never what the student is judged by
        args, kwargs = case.init
        return scse_ref.SCSE(*args, fused=False, **kwargs)

    def oracle(self, probe):
        # the exercise's formula, written out on the reference's two gates
        return _fused(probe, lambda x, gc, gs: x * (gc + gs))

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_se_alive(ref.cse, inputs[0])

    def diagnose_structure(self, case, got, want):
        if not any(k.startswith("cse.excitation.") for k in got) or "sse.conv.weight" not in got:
            return ("Keep the two units as self.cse = ChannelSE(channels, reduction) and "
                    "self.sse = SpatialSE(channels) (the grader copies weights by these names).")
        if got.get("cse.excitation.fc1.weight") != want["cse.excitation.fc1.weight"]:
            return "The channel unit has another hidden width: ChannelSE(channels, reduction)."
        return None


#: the exercises of this module, in lesson order
EXERCISES = [SmoothSSEExercise(), FusedSCSEExercise()]
