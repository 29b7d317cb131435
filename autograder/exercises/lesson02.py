"""Lesson 02's own exercises: the reduced width of the excitation and the cost of a cSE block.

The contract exercises of the lesson (``excitation``, ``channel_se``) are in :mod:`.cse`. The
expected width is :func:`scse_ref.reduced_channels`; the expected count is counted on a real
:class:`scse_ref.ChannelSE`, never re-derived by formula.
"""
from __future__ import annotations

import math

import scse_ref

from ..judge.verdict import CheckFailed
from ..judge.exercise import ValueExercise
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


#: the exercises of this module, in lesson order
EXERCISES = [ReducedWidth(), CSEParams()]
