"""The reports of a graded course (autograder/reports.py): grades.csv, feedback, class report,
Gradescope results.json.

A real nbgrader course with one small assignment (the contract exercise global_avg_pool, one hidden
test cell per check family) is graded by the real pipeline for four students: a correct answer, a
typical mistake (max pooling), an answer that raises an error whose message holds HTML, and a file
that is not JSON. The reports must agree with nbgrader's gradebook, show the hints, escape what
the student wrote, and never show the hidden tests.
"""
from __future__ import annotations

import csv
import json

import nbformat
import pytest

from autograder.nbgrader.course import Course
from autograder.nbgrader.cells import nbgrader_meta
from autograder.batch.run import Options, grade
from autograder.nbgrader.release import ROOT
from autograder.nbgrader.cells import split_grade_id
from autograder.reports.class_report import class_report, hint_key, mistakes, normalise_hint
from autograder.reports.feedback import feedback_html
from autograder.reports.gradescope import gradescope_results
from autograder.reports.model import (UNGRADED, Assignment, CellResult, ClassData, GradeCell,
                                      Submission)

AID = "mini"
POINTS = {"shape": 1, "values": 2, "gradient": 1, "device": 1}
GOOD = "def global_avg_pool(x):\n    return x.mean(dim=tuple(range(2, x.dim())))\n"
MAX_POOL = "def global_avg_pool(x):\n    return x.amax(dim=tuple(range(2, x.dim())))\n"
EVIL = ("def global_avg_pool(x):\n"
        "    raise ValueError(\"<script>alert('owned')</script> & <b>bold</b>\")\n")


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    meta = {"schema_version": 3, "grade": False, "solution": False, "locked": False}
    meta.update(nbgrader)
    cell.metadata["nbgrader"] = meta
    return cell


def mini_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Global average pooling"),
                _cell("import torch\nfrom torch import nn\nfrom autograder import check",
                      grade_id="setup", locked=True),
                _cell("def global_avg_pool(x):\n    ### BEGIN SOLUTION\n"
                      "    return x.mean(dim=tuple(range(2, x.dim())))\n    ### END SOLUTION\n",
                      grade_id="global_avg_pool", solution=True)]
    for family, points in POINTS.items():
        nb.cells.append(_cell(f"# Graded (hidden): {family} ({points} points)\n"
                              f"### BEGIN HIDDEN TESTS\n"
                              f"check('global_avg_pool', '{family}', global_avg_pool)\n"
                              "### END HIDDEN TESTS",
                              grade_id=f"global_avg_pool_{family}", grade=True, locked=True,
                              points=points))
    return nb


def answered(course: Course, source: str) -> nbformat.NotebookNode:
    nb = nbformat.read(course.release_notebook(AID), 4)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution"):
            cell.source = source
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    source = base / "source"
    (source / "solutions" / AID).mkdir(parents=True)
    nbformat.write(mini_notebook(), source / "solutions" / AID / f"{AID}.ipynb")
    (source / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    course = Course.scratch(base / "course", [AID], source=source)
    course.submit("good", AID, answered(course, GOOD))
    course.submit("wrong", AID, answered(course, MAX_POOL))
    course.submit("evil", AID, answered(course, EVIL))
    course.submit("broken", AID, b"this is not JSON {")
    (course.root / "submitted" / "good" / AID / "timestamp.txt").write_text("2026-01-01 10:00:00")
    summary = grade(course.root, options=Options(jobs=2, exercise_timeout=10, progress=False,
                                                 gradescope=True, seed=1234))
    assert not summary.failed, summary.failed
    return course, summary


def feedback(course: Course, student: str) -> str:
    return (course.root / "feedback" / student / AID / f"{AID}.html").read_text()


def test_write_reports_returns_the_class_report_folder(graded):
    course, summary = graded
    assert summary.report_dir == course.root / "reports"
    index = (summary.report_dir / "index.html").read_text()
    assert f'href="{AID}/index.html"' in index and "grades.csv" in index


def test_grades_csv_matches_the_gradebook(graded):
    course, summary = graded
    with (summary.report_dir / "grades.csv").open() as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"good", "wrong", "evil", "broken"}
    header = list(next(iter(rows.values())))
    families = [f"{AID}/global_avg_pool/{f}" for f in POINTS]
    assert header == ["student", f"{AID}/status", *families, f"{AID}/global_avg_pool",
                      f"{AID}/total", "total", "max"]
    with course.gradebook() as gb:
        totals = {s.student.id: s.score for s in gb.find_assignment(AID).submissions}
    for student, row in rows.items():
        scores = course.scores(AID, student)
        for family in POINTS:
            assert float(row[f"{AID}/global_avg_pool/{family}"]) == \
                scores[f"global_avg_pool_{family}"][0], (student, family)
        assert float(row[f"{AID}/global_avg_pool"]) == sum(s for s, _ in scores.values())
        assert float(row[f"{AID}/total"]) == totals[student] == float(row["total"])
        assert float(row["max"]) == sum(POINTS.values())
        assert row[f"{AID}/status"] == "graded"
    assert float(rows["good"]["total"]) == sum(POINTS.values())
    assert float(rows["broken"]["total"]) == 0
    assert float(rows["wrong"][f"{AID}/global_avg_pool/values"]) == 0


def test_feedback_shows_scores_and_hints_never_the_tests(graded):
    course, _ = graded
    html = {s: feedback(course, s) for s in ("good", "wrong", "evil", "broken")}
    assert "Score: 5 / 5" in html["good"]
    assert "Looks like max pooling" in html["wrong"]          # the hint of the values check
    assert "max-pool" in html["wrong"]                        # its mistake label
    assert "simulated on the CPU" in html["good"]             # where the GPU checks ran
    assert "not JSON" in html["broken"]                       # the repair note
    for page in html.values():
        assert "check(" not in page and "HIDDEN TESTS" not in page
        assert "tensor(" not in page                          # no test input values
        assert "<script" not in page
    # the student's exception message, quoted by the hint, is escaped
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; &lt;b&gt;" in html["evil"]
    # nbgrader release_feedback needs the submission's timestamp next to the feedback
    assert (course.root / "feedback" / "good" / AID / "timestamp.txt").exists()


def test_class_report_plots_and_mistakes(graded):
    course, summary = graded
    folder = summary.report_dir / AID
    for name in ("index.html", "scores_total.png", "scores_global_avg_pool.png",
                 "mistakes.png"):
        assert (folder / name).exists(), name
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (folder / "index.html").read_text()
    row = page[page.index("Looks like max pooling") - 400:page.index("Looks like max pooling")]
    assert '<td class="n">1</td>' in row and "max-pool" in row   # the mistake and its count
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "broken" in page[page.index("failed or were repaired"):]
    assert "mean per submission" in page


def test_gradescope_results(graded):
    course, summary = graded
    for student in ("good", "wrong", "evil", "broken"):
        path = summary.report_dir / "gradescope" / student / AID / "results.json"
        data = json.loads(path.read_text())
        assert isinstance(data["score"], float)
        assert [t["name"] for t in data["tests"]] == [f"global_avg_pool: {f}" for f in POINTS]
        for test in data["tests"]:
            assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
            assert test["visibility"] in ("visible", "hidden", "after_due_date",
                                          "after_published")
            assert 0 <= test["score"] <= test["max_score"]
            assert "check(" not in test["output"]
        assert sum(t["score"] for t in data["tests"]) == data["score"]
        assert sum(t["max_score"] for t in data["tests"]) == sum(POINTS.values())
    wrong = json.loads((summary.report_dir / "gradescope" / "wrong" / AID /
                        "results.json").read_text())
    values = next(t for t in wrong["tests"] if t["name"].endswith("values"))
    assert values["score"] == 0 and "Looks like max pooling" in values["output"]


# --- the pieces, without nbgrader -----------------------------------------------------------------


def test_normalise_hint_drops_the_context_line():
    hint = "Looks like max pooling: use .mean.\n  (seen for f on input (3, 4, 5), float32)"
    assert normalise_hint(hint) == "Looks like max pooling: use .mean."
    assert normalise_hint("f is not implemented.\n  (while building f(3))") == \
        "f is not implemented."
    assert normalise_hint("one line (while running)") == "one line (while running)"
    assert hint_key("max abs error 0.25, 3 of 60 elements") == \
        hint_key("max abs error 1.5e-03, 12 of 8 elements")
    assert hint_key("float32 input") == "float32 input"


def test_split_grade_id_takes_the_longest_exercise():
    ids = ["gap_head", "gap_head_params", "global_avg_pool"]
    assert split_grade_id("gap_head_params_values", ids) == ("gap_head_params", "values")
    assert split_grade_id("gap_head_values", ids) == ("gap_head", "values")
    assert split_grade_id("other_test", ids) == ("other_test", None)


def test_mistakes_are_counted_once_per_student_and_grouped_by_hint():
    cells = [GradeCell(f"ex_{f}", "nb", "ex", f, 1.0) for f in ("values", "gradient")]

    def sub(student, *messages):
        results = [CellResult(c, 0.0, {"passed": False, "message": m, "mistake": "max-pool"})
                   for c, m in zip(cells, messages)]
        return Submission("a", student, "graded", 0.0, 2.0, results)

    groups = mistakes([sub("s1", "max pooling.\n  (seen for (2, 3))", "max pooling.\n  "
                           "(seen for (4, 5))"),
                       sub("s2", "max pooling.\n  (seen for (9, 9))", "other 1.5"),
                       sub("s3", "other 2.5")])
    assert [(g.hint, g.count, g.students) for g in groups] == [
        ("max pooling.", 2, ["s1", "s2"]), ("other 1.5", 2, ["s2", "s3"])]
    assert groups[0].families == ["values", "gradient"] and groups[0].labels == ["max-pool"]


def test_a_submission_the_grader_failed_on_tells_the_student_so_without_internals():
    cell = GradeCell("ex_values", "nb", "ex", "values", 2.0)
    record = {"status": "error", "error": "nbgrader autograde failed: KeyError: 'gap_head_check'",
              "notes": ["<b>a.ipynb</b> was graded as nb.ipynb"], "notebooks": {}}
    sub = Submission("a", "s", "error", 0.0, 2.0, [CellResult(cell, None, None)], record)
    page = feedback_html(sub, Assignment("a", 2.0, ["nb"], [cell]), "nb")
    assert UNGRADED in page and "KeyError" not in page and "not graded" in page
    assert "&lt;b&gt;a.ipynb&lt;/b&gt;" in page and "<b>a.ipynb" not in page
    result = gradescope_results(sub, Assignment("a", 2.0, ["nb"], [cell]))
    assert result["output"].startswith(UNGRADED) and "KeyError" not in json.dumps(result)
    assert result["tests"][0]["score"] == 0.0 and result["tests"][0]["status"] == "failed"


HOSTILE = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def _hostile_submission() -> tuple[Submission, Assignment]:
    """Every text of a submission that a student can influence, each holding markup."""
    values = GradeCell("ex_values", "nb", "ex", "values", 2.0)
    device = GradeCell("ex_device", "nb", "ex", "device", 1.0)
    record = {"status": "error", "error": f"{HOSTILE} error", "notes": [f"{HOSTILE} note"],
              "seconds": 1.5,
              "notebooks": {"nb": {"errors": [f"{HOSTILE} cell"], "kernel_restarts": 1,
                                   "flagged": {"ex": f"{HOSTILE} flag"}, "cells": []}}}
    results = [CellResult(values, 0.0, {"passed": False, "message": f"{HOSTILE} hint",
                                        "mistake": f"{HOSTILE} label"}),
               CellResult(device, 1.0, {"passed": True, "message": f"{HOSTILE} summary",
                                        "ran_on": HOSTILE})]
    sub = Submission("a", f"{HOSTILE} student", "error", 1.0, 3.0, results, record)
    return sub, Assignment("a", 3.0, ["nb"], [values, device])


def test_every_text_a_student_can_influence_is_escaped_in_the_feedback():
    sub, assignment = _hostile_submission()
    page = feedback_html(sub, assignment, "nb")
    assert "<script" not in page
    for where in ("student", "note", "cell", "flag", "hint", "label", "summary"):
        assert f"{ESCAPED} {where}" in page, where


def test_every_text_a_student_can_influence_is_escaped_in_the_class_report(tmp_path):
    sub, assignment = _hostile_submission()
    data = ClassData(tmp_path, [assignment], [sub.student], {("a", sub.student): sub})
    dirs = {"feedback_directory": "feedback"}
    page = class_report(data, assignment, dirs, tmp_path / "a").read_text()
    assert "<script" not in page
    for where in ("student", "note", "error", "flag", "hint", "label"):
        assert f"{ESCAPED} {where}" in page, where
    # the student's name in the link to their feedback is a URL path, percent-encoded
    assert 'href="../../feedback/%3Cscript%3Ealert%28%27x%27%29%3C/script%3E%20student/a/nb.html"' \
        in page
