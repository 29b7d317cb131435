"""The guarantees every lesson keeps, for every assignment in solutions/ (issue: lessons 01-04).

- the solution notebook runs top to bottom in a fresh kernel without an error;
- notebooks/ is exactly what `nbgrader generate_assignment` makes from solutions/;
- the release run as handed out does not crash the kernel: stubs raise NotImplementedError and
  test cells fail with the "not implemented yet" hint;
- real `nbgrader autograde`: the solutions get full marks, the unanswered release gets 0, and a
  submission with one typical mistake in one exercise loses points in that exercise only, and its
  feedback carries the hint (mistakes are in tests/lesson_mistakes/<assignment>.py);
- every graded cell is exactly one ``check(...)`` call of the exercise and family its grade id
  names (the isolated grader runs that call in its own process; anything else would run in the
  student's kernel);
- notebooks are stored without outputs and with clean metadata;
- `nbgrader validate` on the release with the answers filled in reports success.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import EXERCISES
from autograder._env import tool_env
from autograder.nbgrader.cells import (check_calls, exercise_of, grade_id, nbgrader_meta,
                                       split_grade_id)
from autograder.nbgrader.course import Course
from autograder.nbgrader.release import ROOT, assignments, generate
from tests.mutants.registry import lesson_mistakes

ASSIGNMENTS = assignments()


def solution_path(aid: str) -> Path:
    return ROOT / "solutions" / aid / f"{aid}.ipynb"


def release_path(aid: str) -> Path:
    return ROOT / "notebooks" / aid / f"{aid}.ipynb"


def execute(nb, cwd: Path, allow_errors: bool = False, timeout: int = 120):
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def errors(nb) -> list[tuple[str, str, str]]:
    """``(grade_id, ename, evalue)`` of every error output."""
    return [(grade_id(c) or "", o["ename"], o["evalue"]) for c in nb.cells
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def with_answers(release, solution, replace: dict[str, str] | None = None):
    """The release notebook with the solution cells' answers filled in (or replaced)."""
    answers = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    answers.update(replace or {})
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution") and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_solution_runs_top_to_bottom(aid, tmp_path):
    nb = execute(nbformat.read(solution_path(aid), 4), solution_path(aid).parent)
    assert not errors(nb)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_graded_cell_is_exactly_one_check_call(aid):
    """The isolated grader takes a graded cell's ``check(...)`` call from nbgrader's stored copy
    and runs it in the grader; any other code in a graded cell would run in the student's kernel.
    So every graded cell is that one call (comments aside), on the exercise and family its grade
    id names, with the name the exercise defines."""
    graded = [c for c in nbformat.read(solution_path(aid), 4).cells
              if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    assert graded, f"{aid} has no graded cell"
    for cell in graded:
        gid = grade_id(cell)
        body = ast.parse(cell.source).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) \
            and isinstance(body[0].value, ast.Call), f"{gid}: not one call:\n{cell.source}"
        call = body[0].value
        assert len(call.args) == 3 and not call.keywords, f"{gid}: {ast.unparse(call)}"
        calls = check_calls(cell.source)
        assert len(calls) == 1, f"{gid}: not a check(exercise, family, Name) call"
        exercise, family = split_grade_id(gid, EXERCISES)
        assert (calls[0].exercise, calls[0].family) == (exercise, family), gid
        assert calls[0].name == EXERCISES[exercise].name, (gid, calls[0].name)


def test_release_is_what_nbgrader_generates(tmp_path):
    out = generate(tmp_path / "release")
    for aid in ASSIGNMENTS:
        generated = sorted(p.name for p in (out / aid).iterdir())
        committed = sorted(p.name for p in (ROOT / "notebooks" / aid).iterdir())
        assert generated == committed, f"{aid}: files differ; run `make release`"
        for name in generated:
            assert (out / aid / name).read_bytes() == (ROOT / "notebooks" / aid / name) \
                .read_bytes(), f"notebooks/{aid}/{name} is out of date; run `make release`"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_as_handed_out_fails_cleanly(aid):
    nb = execute(nbformat.read(release_path(aid), 4), release_path(aid).parent, allow_errors=True)
    errs = errors(nb)
    assert errs, "an unanswered release should fail its visible tests"
    for cell, ename, evalue in errs:
        assert ename in ("NotImplementedError", "CheckFailed"), (cell, ename, evalue)
        if ename == "CheckFailed":
            assert "not implemented yet" in evalue, (cell, evalue)


def _clean(cell) -> bool:
    allowed = {"nbgrader", "deletable", "editable", "tags", "jupyter"}
    return (not cell.get("outputs") and not cell.get("execution_count")
            and set(cell.get("metadata", {})) <= allowed)


@pytest.mark.parametrize("path", sorted(ROOT.glob("solutions/*/*.ipynb"))
                         + sorted(ROOT.glob("notebooks/*/*.ipynb")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_stored_without_outputs_and_clean_metadata(path):
    nb = nbformat.read(path, 4)
    dirty = [i for i, c in enumerate(nb.cells) if not _clean(c)]
    assert not dirty, f"cells {dirty} have outputs, execution counts or editor metadata"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, set(nb.metadata)
    assert nb.metadata["kernelspec"]["name"] == "python3"


_GRADED: dict[str, tuple] = {}


@pytest.fixture
def graded(aid, tmp_path_factory):
    """A scratch course with assignment ``aid`` autograded (plain nbgrader, in-kernel) for: the
    solution, the unanswered release, and one submission per typical mistake. Built once per
    assignment, so that `-k <assignment>` grades only that one."""
    if aid not in _GRADED:
        course = Course.scratch(tmp_path_factory.mktemp(f"course-{aid}"), [aid])
        plan = {}
        solution = nbformat.read(solution_path(aid), 4)
        release = nbformat.read(course.release_notebook(aid), 4)
        course.submit("solution", aid, with_answers(release, solution))
        course.submit("blank", aid, release)
        for i, (ex, (source, hint)) in enumerate(sorted(lesson_mistakes(aid).items())):
            student = f"mistake{i}"
            course.submit(student, aid, with_answers(release, solution, {ex: source}))
            plan[(aid, student)] = (ex, hint)
        proc = course.autograde(aid)
        assert proc.returncode == 0, proc.stderr[-3000:]
        _GRADED[aid] = (course, plan)
    return _GRADED[aid]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_autograde_solution_full_marks_blank_zero(graded, aid):
    course, _ = graded
    full = course.scores(aid, "solution")
    assert full and all(score == top for score, top in full.values()), full
    blank = course.scores(aid, "blank")
    assert blank.keys() == full.keys()
    assert all(score == 0 for score, _ in blank.values()), blank


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_a_typical_mistake_loses_only_its_exercise(graded, aid):
    course, plan = graded
    mine = {student: v for (a, student), v in plan.items() if a == aid}
    assert mine, f"{aid}: tests/lesson_mistakes/{aid}.py lists no mistake"
    solution = nbformat.read(solution_path(aid), 4)
    exercise_ids = [grade_id(c) for c in solution.cells if nbgrader_meta(c).get("solution")]
    covered = {ex for ex, _ in mine.values()}
    assert covered == set(exercise_ids), f"mistakes missing for {set(exercise_ids) - covered}"
    for student, (ex, hint) in mine.items():
        scores = course.scores(aid, student)
        lost = {cell for cell, (score, top) in scores.items() if score != top}
        assert lost, f"{aid}/{ex}: the mistake lost no point"
        assert {exercise_of(c, exercise_ids) for c in lost} == {ex}, (ex, lost)
        feedback = (course.root / "autograded" / student / aid / f"{aid}.ipynb").read_text()
        assert re.search(re.escape(hint), feedback), f"{aid}/{ex}: hint {hint!r} not in feedback"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_nbgrader_validate_accepts_answered_release(aid, tmp_path):
    solution = nbformat.read(solution_path(aid), 4)
    release = nbformat.read(release_path(aid), 4)
    target = tmp_path / f"{aid}.ipynb"
    nbformat.write(with_answers(release, solution), target)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(target)],
                          capture_output=True, text=True, env=tool_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout
