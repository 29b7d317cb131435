"""Mutation tests of the grader: every plausible wrong implementation is caught with its hint, and
every correct one passes.

The mutants live in ``tests/mutants/`` as notebook-cell source (see its ``__init__``). For each
wrong one, the families run in order (shape, values, gradient, device); the first that fails must be
the family the mutant names, with one of its mistake labels and its phrase in the hint. Each correct
one must pass ``basic`` and all four families. Every mutant runs with several seeds, so a verdict
does not hang on one lucky draw of weights and inputs.

``bench/mutation_report.py`` prints the kill and hint rates of the same mutants.
"""
from __future__ import annotations

import pytest

from tests.mutants import registry
from tests.helpers import SEEDS

MUTANTS = registry.all_mutants(lessons=True)
WRONG = [m for m in MUTANTS if not m.expected.correct]
CORRECT = [m for m in MUTANTS if m.expected.correct]


def _wrong(m):
    """A wrong mutant as a parameter; a known gap of the grader is a strict xfail, so the test
    fails the day the grader catches it and the mutant's expectation can be written down."""
    marks = [pytest.mark.xfail(strict=True, reason=m.expected.gap)] if m.expected.gap else []
    return pytest.param(m, id=m.id, marks=marks)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", [_wrong(m) for m in WRONG])
def test_wrong_implementation_is_caught_with_its_hint(mutant, seed):
    verdict = registry.judge(mutant, seed)
    assert verdict.killed, verdict.explain()
    assert verdict.hint_ok, verdict.explain()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", CORRECT, ids=lambda m: m.id)
def test_correct_implementation_passes_every_family(mutant, seed):
    verdict = registry.judge(mutant, seed)
    assert verdict.passed_all, verdict.explain()


@pytest.mark.parametrize("exercise", registry.exercises())
def test_each_exercise_has_enough_mutants_of_every_bug_class(exercise):
    mutants = registry.all_mutants(exercise)
    wrong = [m for m in mutants if not m.expected.correct and not m.expected.gap]
    assert len(wrong) >= 10, f"{exercise}: only {len(wrong)} wrong mutants that are caught"
    assert sum(m.expected.correct for m in mutants) >= 3, f"{exercise}: fewer than 3 correct ones"
    classes = {m.expected.bug for m in wrong}
    assert classes == set(registry.BUG_CLASSES), f"{exercise}: bug classes {sorted(classes)}"


def test_every_exercise_of_the_contract_has_mutants():
    assert registry.exercises() == ["global_avg_pool", "excitation", "channel_se", "spatial_se",
                                    "scse"]
    assert registry.exercises(lessons=True)[5:] == ["kept_mask", "kept_iou"]


def test_data_dependent_styles_run_on_the_simulated_device():
    """The correct mutants written with nonzero / boolean-mask indexing / masked_select / unique
    cannot run on the meta device: their device verdict must come from the simulated device
    (issue #16: a correct kept_iou with boolean-mask indexing lost its device point), and the
    wrong ones in such code must be caught there, not on meta."""
    dd = {"excitation/relu-by-mask", "excitation/relu-by-nonzero",
          "spatial_se/used-channels-nonzero", "scse/max-by-mask", "kept_iou/mask-index",
          "kept_iou/nonzero-bincount", "kept_iou/masked-select-stack", "kept_iou/unique-counts"}
    wrong = {"excitation/relu-by-mask-cpu-zeros", "excitation/relu-by-mask-counts-dead",
             "scse/max-by-mask-cpu-buffer", "kept_iou/mask-index-cpu-ones",
             "kept_iou/mask-index-assert", "kept_iou/mask-index-cpu", "kept_iou/nonzero-numpy",
             "kept_iou/masked-select-tensor-of-list"}
    for mutant_id in sorted(dd | wrong):
        outcome = registry.local_check(registry.by_id(mutant_id), "device", SEEDS[0])
        assert outcome.passed == (mutant_id in dd), (mutant_id, outcome.message)
        assert "simulated device" in outcome.message or "simulated GPU" in outcome.message, \
            (mutant_id, outcome.message)


def test_a_mutant_is_also_its_source_text():
    """What a sandboxed kernel needs: the cell's text, defining the name the grader looks up."""
    for exercise_id, defines, cell, expected in registry.records():
        namespace: dict = {}
        exec(compile(cell, "<cell>", "exec"), namespace)  # noqa: S102
        assert defines in namespace, (exercise_id, defines)
        assert expected.correct or expected.hint


def test_the_judge_fails_a_grader_that_gives_the_wrong_hint():
    """The suite can fail: a verdict with another mistake label, or without the phrase, fails."""
    from autograder.judge.verdict import Outcome

    mutant = registry.by_id("global_avg_pool/max-pool")

    def vague(m, family, seed):
        passed = family != "values"
        return Outcome(m.exercise, family, passed, "" if passed else "wrong output", None,
                       None if passed else "values")

    def blind(m, family, seed):
        return Outcome(m.exercise, family, True, "ok")

    verdict = registry.judge(mutant, 1, check=vague)
    assert verdict.killed and not verdict.hint_ok
    verdict = registry.judge(mutant, 1, check=blind)
    assert not verdict.killed and not verdict.ok
    correct = registry.by_id("global_avg_pool/flatten-mean")
    assert not registry.judge(correct, 1, check=vague).ok
