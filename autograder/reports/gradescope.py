"""Gradescope's autograder ``results.json``, one per submission (``--gradescope``):
``reports/gradescope/<student>/<assignment>/results.json``."""
from __future__ import annotations

import json
from pathlib import Path

from ..nbgrader.store import atomic_write
from .model import NOT_SUBMITTED, UNGRADED, WHERE, Assignment, ClassData, Submission


def gradescope_results(sub: Submission, assignment: Assignment) -> dict:
    """Gradescope's autograder ``results.json`` for one submission: one test per graded cell,
    its output the hint."""
    tests = []
    several = len(assignment.notebooks) > 1
    for i, r in enumerate(sub.results, 1):
        name = f"{r.cell.exercise}: {r.cell.family}" if r.cell.family else r.cell.grade_id
        if several:
            name = f"{r.cell.notebook} / {name}"
        v = r.verdict or {}
        output = v.get("message", "") if v else ("" if r.score is not None else "not graded")
        if r.cell.family == "device" and v.get("ran_on"):
            output += f"\n({WHERE.get(v['ran_on'], v['ran_on'])})"
        tests.append({"name": name, "number": str(i), "score": r.score or 0.0,
                      "max_score": r.cell.max_score, "status": "passed" if r.passed else "failed",
                      "output": output, "visibility": "visible",
                      "tags": [r.cell.exercise] + ([r.cell.family] if r.cell.family else [])})
    notes = list(sub.notes)
    if sub.status == "error":
        notes.insert(0, UNGRADED)
    for nb in assignment.notebooks:
        notes += [f"error in your cell: {x}" for x in sub.notebook_report(nb).get("errors") or []]
    result = {"score": sub.score, "output": "\n".join(notes), "visibility": "visible",
              "stdout_visibility": "hidden", "tests": tests}
    if (sub.record or {}).get("seconds") is not None:
        result["execution_time"] = round(float(sub.record["seconds"]), 1)
    return result


def write_gradescope(data: ClassData, folder: Path) -> list[Path]:
    written = []
    for a in data.assignments:
        for sub in data.of(a.name):
            if sub.status == NOT_SUBMITTED:
                continue
            written.append(atomic_write(folder / sub.student / a.name / "results.json",
                                       json.dumps(gradescope_results(sub, a), indent=1)))
    return written
