"""Lesson 02's own exercises: the reduced width of the excitation, the cost of a cSE block, and
ECA-Net's channel attention.

The contract exercises of the lesson (``excitation``, ``channel_se``) are in :mod:`.cse`. The
expected width is :func:`scse_ref.reduced_channels`; the expected count is counted on a real
:class:`scse_ref.ChannelSE`, never re-derived by formula; ``eca`` is judged against
:class:`scse_ref.ECA`, built from ``nn.Conv1d`` alone (no earlier answer of the student's in it).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import scse_ref

from ..judge.exercise import Case, Exercise, ValueExercise
from ..judge.hints import Mistake
from ..judge.verdict import CheckFailed
from .lesson01 import count_parameters


class _WidthCount(ValueExercise):
    """A count that involves the hidden width: a float answer comes from ``C / r``."""

    float_hint = ""

    def _values(self, ctx):
        try:
            return super()._values(ctx)
        except CheckFailed as exc:
            if exc.mistake == "type" and "(float)" in str(exc):
                raise CheckFailed(f"{exc} {self.float_hint}", "float-division") from None
            raise


class ReducedWidth(_WidthCount):
    id = "reduced_width"
    name = "reduced_width"
    signature = "reduced_width(channels, reduction) -> int"
    title = "The hidden width of the excitation"
    arguments = ((64, 16), (512, 16), (8, 16), (10, 4), (100, 8), (16, 16), (3, 2), (1, 1))
    int_mistakes = (
        ("plain-floor", "channels // reduction is 0 when C < reduction (the seed tutorial's bug): "
         "a layer of width 0. Keep at least one unit: max(1, channels // reduction).",
         lambda c, r: c // r),
        ("ceil", "This rounds C / r up (math.ceil, or round() where the fraction is above one "
         "half): the width is rounded down (floor), with at least one unit: "
         "max(1, channels // reduction).", lambda c, r: max(1, math.ceil(c / r))),
        ("min", "min(1, ...) caps the width at 1: use max(1, channels // reduction), which only "
         "lifts a width of 0 to 1.", lambda c, r: min(1, c // r)),
        ("timm-rounding", "That is timm's rounding to a multiple of 8 (make_divisible): the "
         "exercise asks for the plain floor with at least one unit, max(1, channels // reduction).",
         lambda c, r: scse_ref.make_divisible(c / r, 8, round_limit=0.0)),
    )

    float_hint = ("channels / reduction is a float division: a layer width is an int. Use "
                  "integer division, max(1, channels // reduction).")

    def expected(self, channels, reduction):
        return scse_ref.reduced_channels(channels, reduction)


def _cse(channels, reduction, **kwargs):
    return count_parameters(lambda: scse_ref.ChannelSE(channels, reduction, **kwargs))


class CSEParams(_WidthCount):
    id = "cse_params"
    name = "cse_params"
    signature = "cse_params(channels, reduction) -> int"
    title = "Parameters of a cSE block"
    arguments = ((64, 16), (256, 16), (2048, 16), (10, 4), (8, 16), (96, 32))
    int_mistakes = (
        ("no-bias", "This counts the weights only: fc1 has one bias per hidden unit and fc2 one "
         "per channel.", lambda c, r: _cse(c, r, bias=False)),
        ("plain-floor", "With C < r the hidden width is max(1, C // r) = 1, not 0: count the "
         "layers of width 1.", lambda c, r: 2 * c * (c // r) + c + c // r),
        ("no-floor", "2 * C * C / r skips the rounding of the hidden width: the layers have "
         "max(1, C // r) hidden units, and biases.",
         lambda c, r: 2 * c * c / r),
        ("no-floor", "C * C / r skips the rounding of the hidden width: the layers have "
         "max(1, C // r) hidden units, and biases.",
         lambda c, r: 2 * c * c // r + c + c // r),
        ("one-layer", "This counts one of the two Linear layers: the excitation has fc1 "
         "(C -> hidden) and fc2 (hidden -> C).",
         lambda c, r: c * scse_ref.reduced_channels(c, r) + scse_ref.reduced_channels(c, r)),
        ("one-layer", "This counts one of the two Linear layers: the excitation has fc1 "
         "(C -> hidden) and fc2 (hidden -> C).",
         lambda c, r: c * scse_ref.reduced_channels(c, r) + c),
        ("bias-of-one-layer", "Both Linear layers have biases: fc1 one per hidden unit, fc2 one "
         "per channel.", lambda c, r: 2 * c * scse_ref.reduced_channels(c, r) + c),
        ("bias-of-one-layer", "Both Linear layers have biases: fc1 one per hidden unit, fc2 one "
         "per channel.", lambda c, r: 2 * c * scse_ref.reduced_channels(c, r)
         + scse_ref.reduced_channels(c, r)),
        ("full-width", "This counts a C -> C excitation: the hidden layer has max(1, C // r) "
         "units, that is the point of the reduction ratio.", lambda c, r: 2 * c * c + 2 * c),
    )

    float_hint = ("C / r is a float division: the hidden layer has max(1, C // r) units, an "
                  "int, so the count is an int too.")

    def expected(self, channels, reduction):
        return _cse(channels, reduction)


# --- eca -----------------------------------------------------------------------------------------


def _squeeze(p, pool="mean"):
    x = p.x
    return x.mean(dim=(2, 3)) if pool == "mean" else x.amax(dim=(2, 3))          # (N, C)


def _across(p, z, *, flip=False, circular=False):
    """The reference's 1-D convolution across the channels of ``z`` (N, C) -> (N, C) logits."""
    w = p.ref.conv.weight
    w = w.flip(-1) if flip else w
    pad = (w.shape[-1] - 1) // 2
    seq = z.unsqueeze(1)                                                         # (N, 1, C)
    if circular:
        return F.conv1d(F.pad(seq, (pad, pad), mode="circular"), w)[:, 0]
    return F.conv1d(seq, w, padding=pad)[:, 0]


def _eca_out(p, logits, gate=torch.sigmoid):
    g = gate(logits)[..., None, None]                                            # (N, C, 1, 1)
    return g if p.case.path == "gate" else p.x * g


def _along_batch(p, z):
    """The convolution run along the batch instead of the channels: (C, 1, N)."""
    w = p.ref.conv.weight
    return F.conv1d(z.t().unsqueeze(1), w, padding=(w.shape[-1] - 1) // 2)[:, 0].t()


_ECA_RULE = ("k = psi(C), the odd number nearest to (log2(C) + b) / gamma with gamma = 2, b = 1 "
             "(the floor of t, plus one when it is even)")


class ECAExercise(Exercise):
    id = "eca"
    name = "ECA"
    signature = "ECA(channels) with self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, " \
                "bias=False), k derived from C; gate(x): (N, C, H, W) -> (N, C, 1, 1); " \
                "forward(x) = x * gate(x)"
    title = "Efficient channel attention (ECA-Net)"
    shape_cases = (
        Case(((64,), {}), ((2, 64, 5, 7),), label="odd, non-square"),
        Case(((4,), {}), ((1, 4, 6, 6),), label="C=4, N=1"),
        Case(((256,), {}), ((3, 256, 1, 1),), label="1x1 map"),
        Case(((24,), {}), ((2, 24, 4, 4),), path="gate"),
        Case(((2048,), {}), ((1, 2048, 2, 3),), path="gate", label="C=2048, N=1"),
    )
    value_cases = (
        Case(((256,), {}), ((4, 256, 3, 5),), label="C=256"),
        Case(((24,), {}), ((4, 24, 5, 4),), label="C=24"),
        Case(((2048,), {}), ((2, 2048, 2, 2),), label="C=2048"),
        Case(((128,), {}), ((3, 128, 4, 3),), path="gate", label="C=128"),
    )
    grad_cases = (Case(((32,), {}), ((2, 32, 3, 4),)),)
    device_case = Case(((64,), {}), ((2, 64, 5, 6),))
    live_params = ("conv.weight",)
    error_hints = (
        (r"expected input\[\d+, (\d+), 1\] to have 1 channels|"
         r"Expected \d+D \(unbatched\) or \d+D \(batched\) input to conv1d",
         "The 1-D convolution gets the squeezed vector in the wrong layout: nn.Conv1d(1, 1, k) "
         "reads (N, 1, L), one input channel of length L. View the (N, C) averages as (N, 1, C), "
         "so that the kernel slides along the C channels."),
        (r"shape '\[\d+, \d+(, 1, 1)?\]' is invalid for input of size|"
         r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton "
         r"dimension 1",
         "The convolution changes the number of values along the channels. With padding "
         "(k - 1) // 2 on each side, an odd kernel gives back the C values; an even kernel, or "
         "another padding, does not: nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False) with "
         "k odd, " + _ECA_RULE + "."),
    )
    mistakes = (
        Mistake("no-sigmoid", "The gate is not squashed into (0, 1): apply a sigmoid to the "
                "convolution's output.", lambda p: _eca_out(p, _across(p, _squeeze(p)),
                                                            gate=lambda t: t)),
        Mistake("max-pool", "The squeeze takes the maximum of each map: ECA squeezes by global "
                "average pooling, as cSE does.",
                lambda p: _eca_out(p, _across(p, _squeeze(p, "max")))),
        Mistake("along-batch", "The convolution slides along the batch instead of the channels: "
                "each gate must depend on its own sample's channels only. View the (N, C) "
                "averages as (N, 1, C), not (C, 1, N).",
                lambda p: _eca_out(p, _along_batch(p, _squeeze(p)))),
        Mistake("flipped-kernel", "The window's weights are applied in reverse order: "
                "nn.Conv1d computes sum_j w_j z_(c + j - (k - 1) / 2), a cross-correlation. "
                "Apply self.conv to the sequence rather than writing the sum with reversed "
                "weights.", lambda p: _eca_out(p, _across(p, _squeeze(p), flip=True))),
        Mistake("circular-padding", "The channels wrap around (circular padding): ECA pads the "
                "two ends of the channel axis with zeros (padding=(k - 1) // 2, "
                "padding_mode='zeros', the default).",
                lambda p: _eca_out(p, _across(p, _squeeze(p), circular=True))),
        Mistake("softmax", "The gates sum to 1 over the channels: a softmax instead of a sigmoid. "
                "Each channel gets its own gate in (0, 1).",
                lambda p: _eca_out(p, _across(p, _squeeze(p)), gate=lambda t: t.softmax(dim=1))),
        Mistake("double-sigmoid", "A sigmoid is applied twice.",
                lambda p: _eca_out(p, _across(p, _squeeze(p)),
                                   gate=lambda t: torch.sigmoid(torch.sigmoid(t)))),
        Mistake("add-not-multiply", "The gate is added to x: the scale step multiplies, "
                "x * gate(x).", lambda p: p.x + torch.sigmoid(_across(p, _squeeze(p)))[..., None,
                                                                                       None]
                if p.case.path == "" else None),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.ECA(*args, **kwargs)

    def diagnose_shape(self, case, got, expected):
        n, c = expected[:2]
        if case.path == "gate":
            if got == (n, c):
                return ("gate(x) must keep two trailing dims of size 1, (N, C, 1, 1), so that it "
                        "broadcasts over H and W.")
            if got == (n, 1, c):
                return ("gate(x) returns the convolution's (N, 1, C) layout: reshape it to "
                        "(N, C, 1, 1).")
        elif got == (n, c, 1, 1):
            return "forward returns the gate: return x * self.gate(x)."
        return None

    def diagnose_structure(self, case, got, want):
        channels = case.init[0][0]
        k = want["conv.weight"][-1]
        w = got.get("conv.weight")
        if w is None:
            if any(len(s) == 2 for s in got.values()):
                return ("ECA has no MLP (no Linear layers, no reduction ratio): one "
                        "nn.Conv1d(1, 1, k, bias=False) across the channels, self.conv.")
            return ("Keep the convolution as self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, "
                    "bias=False) (the grader copies its weight by the name conv.weight).")
        if len(w) != 3 or w[:2] != (1, 1):
            return (f"self.conv has weight {w}: ECA's convolution is nn.Conv1d(1, 1, k): one input "
                    "and one output channel, sliding along the squeezed vector of C values, with "
                    f"k weights in all ({_ECA_RULE}).")
        if "conv.bias" in got:
            return "ECA's convolution has no bias (bias=False): k weights, nothing else."
        got_k = w[-1]
        if got_k % 2 == 0:
            return (f"The kernel size is {got_k}, an even number: ECA's kernel is odd, so that the "
                    f"window is centred on its channel. For C = {channels}, {_ECA_RULE}, "
                    f"gives {k}.")
        if got_k == 3:
            return (f"The kernel size is 3 for C = {channels}: it is derived from C, {_ECA_RULE}, "
                    f"which gives {k} here (log2 is the base-2 logarithm, math.log2).")
        natural = int(abs((math.log(channels) + 1) / 2))
        if got_k == (natural if natural % 2 else natural + 1):
            return (f"The kernel size is {got_k}, expected {k}: the rule uses log2(C), the "
                    "logarithm in base 2 (math.log2), not the natural logarithm.")
        return f"The kernel size is {got_k} for C = {channels}, expected {k}: {_ECA_RULE}."


#: the exercises of this module, in lesson order
EXERCISES = [ReducedWidth(), CSEParams(), ECAExercise()]
