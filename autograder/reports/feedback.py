"""Feedback for each student: one HTML page per notebook of a submission.

The page shows, per exercise, its score and a row per check family (passed or failed, with the hint
of each failure), where the GPU checks ran, the notes about the submission (repaired files,
restored cells, time limits, use of the reference) and the errors of the student's own cells. It
never shows the hidden tests' code or their inputs, only the verdicts' messages, which are written
to say neither. It is written to nbgrader's feedback folder, so that ``nbgrader release_feedback``
hands it out (``timestamp.txt`` and ``submission_secret.txt`` are copied from the submission, as
nbgrader needs them).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..nbgrader.store import atomic_write
from .model import (NOT_GRADED, NOT_SUBMITTED, UNGRADED, WHERE, Assignment, CellResult,
                    ClassData, Submission, exercise_score, title)
from .render import render


def grade_class(score: float | None, top: float) -> str:
    """The CSS class of a score out of ``top``: ``ok`` (full), ``part``, ``bad`` (none)."""
    if score is None or (score <= 0 < top):
        return "bad"
    return "ok" if score >= top else "part"


def _where(r: CellResult, report: dict) -> str:
    ran_on = (r.verdict or {}).get("ran_on")
    if ran_on is None:   # a failed device check stops before it says; the notebook's others did
        ran_on = next((v.get("ran_on") for v in report.get("cells", [])
                       if v.get("family") == "device" and v.get("ran_on")), None)
    return WHERE.get(ran_on, "not known: the check stopped at the failure above")


def _row(r: CellResult, report: dict) -> dict:
    """One check of an exercise, as the feedback table shows it."""
    v = r.verdict
    if r.score is None and v is None:
        state = "not graded"
    else:
        state = "passed" if r.passed else "failed"
    failed = v is not None and not r.passed
    return {"check": r.cell.family or r.cell.grade_id, "state": state, "score": r.score,
            "top": r.cell.max_score,
            "hint": v.get("message", "") if failed else None,
            "label": v.get("mistake") if failed else None,
            "summary": v.get("message", "") if v is not None and not failed else None,
            "no_hint": v is None and not r.passed and r.score is not None,
            "gpu": _where(r, report) if r.cell.family == "device" and v is not None else None}


def feedback_html(sub: Submission, assignment: Assignment, notebook: str) -> str:
    """The feedback page of one notebook of one submission."""
    report = sub.notebook_report(notebook)
    results = [r for r in sub.results if r.cell.notebook == notebook]
    notes = list(sub.notes)
    restarts = report.get("kernel_restarts") or 0
    if restarts:
        notes.append(f"your notebook's kernel was restarted {restarts} time(s) while grading: it "
                     "died (os._exit, a crash in native code, or memory exhaustion) or stopped "
                     "answering; the cells before the one that killed it were run again")
    flagged = report.get("flagged") or {}
    by_ex: dict[str, list[CellResult]] = {}
    for r in results:
        by_ex.setdefault(r.cell.exercise, []).append(r)
    exercises = []
    for ex, rs in by_ex.items():
        score = exercise_score(rs)
        top = sum(r.cell.max_score for r in rs)
        exercises.append({"id": ex, "title": title(ex), "score": score, "top": top,
                          "grade": grade_class(score, top), "flagged": flagged.get(ex),
                          "rows": [_row(r, report) for r in rs]})
    return render("feedback.html.j2", title=f"{assignment.name}: feedback for {sub.student}",
                  assignment=assignment, notebook=notebook, sub=sub,
                  several_notebooks=len(assignment.notebooks) > 1,
                  notebook_score=sum(r.score or 0 for r in results),
                  notebook_max=sum(r.cell.max_score for r in results),
                  ungraded=UNGRADED, not_graded=NOT_GRADED, notes=notes, exercises=exercises,
                  errors=report.get("errors") or [], seconds=report.get("seconds"))


def write_feedback(data: ClassData, dirs: dict) -> list[Path]:
    """Every handed-in submission's feedback pages, in nbgrader's feedback folder."""
    written = []
    submitted = data.root / dirs["submitted_directory"]
    feedback = data.root / dirs["feedback_directory"]
    for a in data.assignments:
        for sub in data.of(a.name):
            if sub.status == NOT_SUBMITTED:
                continue
            folder = feedback / sub.student / a.name
            for nb in a.notebooks:
                written.append(atomic_write(folder / f"{nb}.html", feedback_html(sub, a, nb)))
            for name in ("timestamp.txt", "submission_secret.txt"):
                src = submitted / sub.student / a.name / name
                if src.is_file():
                    shutil.copy(src, folder / name)
    return written
