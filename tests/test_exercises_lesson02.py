"""Lesson 02's own exercises: the reference passes, plausible wrong answers fail with their hint.

``reduced_width`` (the hidden width of the excitation) and ``cse_params`` (the parameter count of
a cSE block) are numbers: one ``values`` family, no random draw. The contract exercises of the
lesson (``excitation``, ``channel_se``) are covered by tests/test_mutation.py.
"""
from __future__ import annotations

import math

import pytest

import scse_ref
from autograder import run_check
from autograder.exercises import get


def width(c, r):
    return max(1, c // r)


def cse_formula(c, r):
    return 2 * c * width(c, r) + width(c, r) + c


def cse_counted(c, r):
    return sum(p.numel() for p in scse_ref.ChannelSE(c, r).parameters())


@pytest.mark.parametrize("exercise, answer", [
    ("reduced_width", width),
    ("reduced_width", scse_ref.reduced_channels),
    ("reduced_width", lambda c, r: max(1, int(c / r))),
    ("reduced_width", lambda c, r: max(1, math.floor(c / r))),
    ("cse_params", cse_formula),
    ("cse_params", cse_counted),
], ids=["max-floor", "reference", "int-of-division", "math-floor", "formula", "counted"])
def test_correct_answers_pass(exercise, answer):
    assert run_check(exercise, "basic", answer).passed
    outcome = run_check(exercise, "values", answer)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("answer, label, phrase", [
    (lambda c, r: c // r, "plain-floor", "is 0 when C < reduction"),
    (lambda c, r: max(1, math.ceil(c / r)), "ceil", "rounds C / r up"),
    (lambda c, r: math.ceil(c / r), "ceil", "rounds C / r up"),
    (lambda c, r: max(1, round(c / r)), "ceil", "round()"),
    (lambda c, r: max(1, c / r), "float-division", "integer division"),
    (lambda c, r: c / r, "float-division", "integer division"),
    (lambda c, r: min(1, c // r), "min", "min(1, ...)"),
    (lambda c, r: scse_ref.make_divisible(c / r, 8, round_limit=0.0), "timm-rounding",
     "multiple of 8"),
    (lambda c, r: max(1, c // r) + 1, "values", "expected"),
], ids=["plain-floor", "ceil", "ceil-no-guard", "round", "float", "float-no-guard", "min",
        "timm", "off-by-one"])
def test_wrong_widths_fail_with_their_hint(answer, label, phrase):
    outcome = run_check("reduced_width", "values", answer)
    assert not outcome.passed
    assert outcome.mistake == label, outcome.message
    assert phrase in outcome.message, outcome.message


@pytest.mark.parametrize("answer, label, phrase", [
    (lambda c, r: 2 * c * width(c, r), "no-bias", "weights only"),
    (lambda c, r: 2 * c * (c // r) + c + c // r, "plain-floor", "not 0"),
    (lambda c, r: 2 * c * c / r + c + c / r, "float-division", "float division"),
    (lambda c, r: 2 * c * c // r + c + c // r, "no-floor", "skips the rounding"),
    (lambda c, r: c * width(c, r) + width(c, r), "one-layer", "one of the two"),
    (lambda c, r: c * width(c, r) + c, "one-layer", "one of the two"),
    (lambda c, r: 2 * c * width(c, r) + c, "bias-of-one-layer", "Both Linear layers"),
    (lambda c, r: 2 * c * c + 2 * c, "full-width", "C -> C"),
    (lambda c, r: cse_formula(c, r) + 1, "values", "expected"),
], ids=["no-bias", "plain-floor", "float", "no-floor", "fc1-only", "fc2-only", "one-bias",
        "full-width", "off-by-one"])
def test_wrong_cse_counts_fail_with_their_hint(answer, label, phrase):
    outcome = run_check("cse_params", "values", answer)
    assert not outcome.passed
    assert outcome.mistake == label, outcome.message
    assert phrase in outcome.message, outcome.message


def test_unanswered_count_says_not_implemented():
    def cse_params(channels, reduction):
        raise NotImplementedError()

    outcome = run_check("cse_params", "basic", cse_params)
    assert not outcome.passed and "not implemented yet" in outcome.message


def test_reference_counts_are_the_lessons_numbers():
    """SE-ResNet-50 at r = 16 is timm's seresnet50 (28,088,024 parameters) and, at r = 2, the
    paper's 45.7M; the seed's C // 16 for C = 8 is 0 where the reference keeps one unit."""
    stages = [(256, 3), (512, 4), (1024, 6), (2048, 3)]
    cse = get("cse_params").expected

    def se_resnet50(r):
        return 25_557_032 + sum(n * cse(c, r) for c, n in stages)

    assert se_resnet50(16) == 28_088_024
    assert round(se_resnet50(2) / 1e6, 1) == 45.7
    assert get("reduced_width").expected(8, 16) == 1
