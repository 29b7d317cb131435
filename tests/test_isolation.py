"""Honest code gets the same verdict whether it is checked in-process or through a sandboxed kernel.

The mutation suite's implementations (correct ones in many styles, and wrong ones) are run through
both subjects with the same seed: `run_check` in this process, and an isolated
:class:`~autograder.kernel.session.KernelSubject` whose kernel holds the mutant's cell, once in the
OS sandbox (bubblewrap) and once without it (issue #11: honest submissions get the same scores
with and without the OS sandbox). Every family must give the same verdict and the same mistake
label. By default a subset runs (every correct mutant and two wrong ones per exercise);
``AUTOGRADER_ISOLATION_ALL=1`` runs all of them.
"""
from __future__ import annotations

import os

import pytest

from autograder.exercises import get
from autograder.kernel.session import KernelSession, KernelSubject, Limits
from tests.mutants import registry

SEED = 11


def _chosen() -> list[registry.Mutant]:
    mutants = registry.all_mutants()
    if os.environ.get("AUTOGRADER_ISOLATION_ALL") == "1":
        return mutants
    wrong_taken: dict[str, int] = {}
    chosen = []
    for m in mutants:
        if m.expected.correct:
            chosen.append(m)
        elif wrong_taken.get(m.exercise, 0) < 2 and not m.expected.gap:
            wrong_taken[m.exercise] = wrong_taken.get(m.exercise, 0) + 1
            chosen.append(m)
    return chosen


@pytest.fixture(scope="module", params=["bwrap", "none"])
def kernel(request):
    session = KernelSession(isolated=True, limits=Limits(exercise_timeout=60.0),
                            sandbox=request.param).start()
    yield session
    session.shutdown()


@pytest.mark.parametrize("mutant", _chosen(), ids=lambda m: m.id)
def test_same_verdict_in_process_and_isolated(kernel, mutant):
    ran = kernel.execute(mutant.cell, 30.0)
    assert ran.status == "ok", (ran.ename, ran.evalue)
    subject = KernelSubject(kernel)
    exercise = get(mutant.exercise)
    for family in ("basic", *registry.FAMILIES):
        local = registry.local_check(mutant, family, SEED)
        subject.budget(60.0)
        isolated = exercise.check(family, subject, SEED)
        assert (isolated.passed, isolated.mistake) == (local.passed, local.mistake), (
            f"{mutant.id} {family}: isolated {isolated.passed} [{isolated.mistake}] "
            f"{isolated.message}\n  in-process {local.passed} [{local.mistake}] {local.message}")
        assert isolated.message == local.message


def test_the_isolated_subject_is_isolated(kernel):
    ran = kernel.execute("import autograder.exercises", 10.0)
    assert ran.status == "error" and "not allowed" in ran.evalue
    assert KernelSubject(kernel).where == "isolated"
