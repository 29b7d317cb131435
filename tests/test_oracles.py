"""Every exercise is judged against the obvious formula, never against the reference's fast path.

``scse_ref.SCSE`` computes scSE's "add" mode with a fused path whose backward is written by hand
(``scse_ref/_fused.py``): the fast option for users. The grader must not depend on it: each
exercise's oracle (the expected outputs and, through autograd, the expected gradients) is computed
with plain torch operations. The test computes every oracle, forward and backward, on the cases of
every family, with the lesson's own answer as the student, and fails if any code of
``scse_ref._fused`` ran.
"""
from __future__ import annotations

import sys

import nbformat
import pytest
import torch

from autograder import EXERCISES
from autograder.judge.context import Context
from autograder.judge.exercise import ValueExercise
from autograder.judge.subjects import LocalSubject
from autograder.nbgrader.cells import grade_id, nbgrader_meta
from autograder.nbgrader.release import ROOT, assignments
from tests.helpers import notebook_answer

FUSED = "scse_ref._fused"


def _graded_exercises() -> list[tuple[str, str]]:
    """``(assignment, exercise id)`` of every tensor exercise a lesson holds."""
    found = []
    for aid in assignments():
        nb = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", 4)
        for cell in nb.cells:
            gid = grade_id(cell)
            if nbgrader_meta(cell).get("solution") and gid in EXERCISES \
                    and not isinstance(EXERCISES[gid], ValueExercise):
                found.append((aid, gid))
    return found


class _RanFused:
    """Whether any function of ``scse_ref._fused`` was called while active (a profile hook)."""

    def __init__(self):
        self.seen: set[str] = set()

    def _profile(self, frame, event, arg):
        if event == "call" and frame.f_globals.get("__name__") == FUSED:
            self.seen.add(frame.f_code.co_qualname)

    def __enter__(self):
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self.previous)


def test_the_hook_sees_the_fused_path():
    """The test can fail: the reference's default scSE runs the fused path, and it is seen."""
    import scse_ref

    x = torch.randn(2, 8, 3, 4, requires_grad=True)
    with _RanFused() as ran:
        scse_ref.SCSE(8, 2)(x).sum().backward()
    assert {"Squeeze.forward", "ScaleAdd.forward", "ScaleAdd.backward"} <= ran.seen


@pytest.mark.parametrize("aid, exercise_id", _graded_exercises(),
                         ids=[e for _, e in _graded_exercises()])
def test_the_oracle_runs_no_fused_code(aid, exercise_id):
    exercise = EXERCISES[exercise_id]
    answer = notebook_answer(aid, exercise_id)
    ctx = Context(LocalSubject({exercise.name: answer}), exercise.name, seed=5)
    cases = [*exercise.shape_cases, *exercise.value_cases, *exercise.grad_cases,
             *([exercise.device_case] if exercise.device_case else [])]
    for case in cases:
        for dtype in (torch.float32, torch.float64):
            probe = exercise.probe(ctx, case, dtype, grad=True)
            with _RanFused() as ran:
                out = exercise.oracle(probe)
                outs = [o for o in (out if isinstance(out, (tuple, list)) else [out])
                        if o.requires_grad]
                if outs:
                    torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
            assert not ran.seen, f"{exercise_id} {case.describe(exercise.name)}: {ran.seen}"
