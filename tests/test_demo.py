"""The demo (``python -m autograder demo``, autograder/demo.py): its synthetic class and its run.

- The builder, without nbgrader (the release notebooks are the committed ones in notebooks/):
  at least 12 submissions, every bad case handed in by someone, each file what its case says,
  and the class's data consistent with the lessons (every answer replaces a solution cell that
  exists, every expectation names an exercise of its assignment).
- The whole demo once, end to end (release, collect, grade, report; a few minutes on 2 cores):
  each submission's scores in nbgrader's gradebook are what autograder/demo/students.py expects
  (a bad case loses the exercise it breaks, nothing else), the grading records say what happened,
  and the reports exist.
"""
from __future__ import annotations

import csv
import json
import shutil

import nbformat
import pytest

from autograder.demo import run as demo
from autograder.demo.students import ALL, BAD_CASES, STUDENTS
from autograder.nbgrader.cells import grade_id, nbgrader_meta
from autograder.nbgrader.release import ROOT, assignments

RELEASED = [a for a in assignments() if any((ROOT / "notebooks" / a).glob("*.ipynb"))]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-build")
    for aid in RELEASED:
        shutil.copytree(ROOT / "notebooks" / aid, root / "notebooks" / aid)
    warnings: list[str] = []
    out = demo.build(root, ROOT, RELEASED, warnings)
    return root, out, warnings


def solution_ids(aid: str) -> set[str]:
    ids = set()
    for path in (ROOT / "solutions" / aid).glob("*.ipynb"):
        ids |= {grade_id(c) for c in nbformat.read(path, 4).cells
                if nbgrader_meta(c).get("solution")}
    return ids


def test_at_least_twelve_submissions_cover_every_case(built):
    _, out, warnings = built
    assert not warnings, warnings
    assert len(out) >= 12
    cases = {b.hand.case for b in out}
    assert set(BAD_CASES) <= cases, f"bad cases nobody hands in: {set(BAD_CASES) - cases}"
    kinds = {b.hand.kind for b in out}
    assert {"answered", "unanswered"} <= kinds
    perfect = [b for b in out if b.hand.kind == "answered" and not b.hand.answers
               and not b.hand.case]
    assert {b.assignment for b in perfect} == set(RELEASED), "someone hands in every lesson"
    assert any(b.hand.answers and not b.hand.case for b in out), "typical mistakes"


def test_the_class_data_fits_the_lessons():
    for student in STUDENTS:
        for aid, hand in student.hands.items():
            if aid == ALL or aid not in RELEASED:
                continue
            ids = solution_ids(aid)
            assert set(hand.answers) <= ids, (student.name, aid, set(hand.answers) - ids)
            unknown = set(hand.expect) - ids - {ALL}
            assert not unknown, (student.name, aid, unknown)


def test_files_are_what_their_case_says(built):
    root, out, _ = built
    for b in out:
        files = sorted(b.path.glob("*.ipynb"))
        assert (b.path / "timestamp.txt").exists()
        assert len(files) == 1, (b.student.name, files)
        raw = files[0].read_bytes()
        kind = b.hand.kind
        if kind == "empty-file":
            assert raw == b""
        elif kind == "not-json":
            with pytest.raises(ValueError):
                json.loads(raw)
        elif kind == "not-a-notebook":
            assert "cells" not in json.loads(raw)
        elif kind == "other-assignment":
            assert files[0].stem != b.assignment
            ids = {grade_id(c) for c in nbformat.read(files[0], 4).cells} - {None, "setup"}
            assert ids and not ids & solution_ids(b.assignment)
        else:
            nb = nbformat.read(files[0], 4)
            cells = {grade_id(c): c for c in nb.cells if grade_id(c)}
            for gid, source in b.hand.answers.items():
                assert cells[gid].source == source
            for gid in b.hand.delete:
                assert gid not in cells
            for gid, source in b.hand.edit.items():
                assert cells[gid].source == source
            for gid, change in b.hand.metadata.items():
                if change is None:
                    assert gid not in cells
            for gid in b.hand.duplicate:
                assert sum(grade_id(c) == gid for c in nb.cells) == 2
            assert len({c.get("id") for c in nb.cells}) == len(nb.cells), "cell ids unique"
            text = files[0].read_text()
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
            if kind == "unanswered":
                assert "raise NotImplementedError()" in text


# --- the whole demo ------------------------------------------------------------------------------

def _edited_tests_still_checked(nb) -> bool:
    """nbgrader restores locked cells silently: the two checks the student replaced by a print
    ran all the same (from nbgrader's stored copy) and failed the softmax answer."""
    verdicts = {c["grade_id"]: c for c in nb["cells"]}
    values, gradient = verdicts.get("excitation_values"), verdicts.get("excitation_gradient")
    return (values is not None and not values["passed"] and values["mistake"] == "softmax"
            and gradient is not None and not gradient["passed"])


#: what each bad case must leave in the grading record (notes, errors, verdicts)
TRACE = {
    "infinite-loop": lambda rec, nb: any(c["mistake"] == "timeout" for c in nb["cells"]),
    "memory-exhaustion": lambda rec, nb: any("allocate memory" in c["message"] or "MemoryError"
                                             in c["message"] for c in nb["cells"]),
    "kernel-killed": lambda rec, nb: nb["kernel_restarts"] >= 1,
    "sleeps-forever": lambda rec, nb: any("CellTimeoutError" in e for e in nb["errors"]),
    "test-cells-deleted": lambda rec, nb: any("put back" in n for n in rec["notes"]),
    "test-cells-edited": lambda rec, nb: _edited_tests_still_checked(nb),
    "test-metadata-changed": lambda rec, nb: any("metadata" in n for n in rec["notes"]),
    "duplicated-grade-ids": lambda rec, nb: any("second cell with grade id" in n
                                                for n in rec["notes"]),
    "not-json": lambda rec, nb: any("not JSON" in n for n in rec["notes"]),
    "not-a-notebook": lambda rec, nb: any("not a notebook" in n for n in rec["notes"]),
    "empty-file": lambda rec, nb: any("empty" in n for n in rec["notes"]),
    "other-assignment": lambda rec, nb: any("not a notebook of" in n for n in rec["notes"]),
}


#: bad cases the grading pipeline does not handle yet: nbgrader fails on the whole submission
@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return demo.run(tmp_path_factory.mktemp("demo-run") / "demo-course", jobs=2,
                    progress=False)


def _cases():
    return [pytest.param(s, aid, h, id=f"{s.name}-{aid[:2]}") for s, aid, h in
            demo.plan(RELEASED)]


@pytest.mark.parametrize("student,aid,hand", _cases())
def test_demo_grades_each_submission_as_expected(ran, student, aid, hand):
    from autograder.nbgrader.course import Course
    from autograder.nbgrader.cells import split_grade_id
    from autograder.reports.build import load_record
    from autograder.exercises import EXERCISES

    course = Course(ran["report"].parent)
    record = load_record(course.root, aid, student.name)
    assert record is not None and record["status"] == "graded", \
        (record or {}).get("error", "no record")
    scores = course.scores(aid, student.name)
    assert scores and all(s is not None for s, _ in scores.values()), scores
    per: dict[str, list] = {}
    for cell, (score, top) in scores.items():
        per.setdefault(split_grade_id(cell, EXERCISES)[0], []).append((score, top))
    verdicts = [c for nb in record["notebooks"].values() for c in nb["cells"]]
    for exercise, got in per.items():
        want = hand.expect.get(exercise, hand.expect.get(ALL, "full"))
        total, top = sum(s for s, _ in got), sum(t for _, t in got)
        why = [(c["grade_id"], c["mistake"], c["message"][:300]) for c in verdicts
               if c["exercise"] == exercise and not c["passed"]]
        if want == "full":
            assert total == top, (exercise, got, why, record["notes"])
        elif want == "zero":
            assert total == 0, (exercise, got)
        else:
            assert 0 <= total < top, (exercise, got)
    if hand.case:
        nb = next(iter(record["notebooks"].values()))
        assert TRACE[hand.case](record, nb), (hand.case, record["notes"], nb["errors"])


def test_demo_writes_the_reports(ran):
    report = ran["report"]
    assert (report / "index.html").exists()
    for aid in RELEASED:
        assert (report / aid / "index.html").exists()
        assert (report / aid / "scores_total.png").exists()
    with (report / "grades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["student"] for r in rows} == {b.student.name for b in ran["built"]}
    feedback = report.parent / "feedback"
    for b in ran["built"]:
        assert list((feedback / b.student.name / b.assignment).glob("*.html")), b.path
    assert not ran["summary"].failed, ran["summary"].failed
