"""``reports/grades.csv``: one row per student.

Columns: ``student``; then for each assignment ``A``: ``A/status`` (graded, error, not graded, not
submitted), ``A/<exercise>/<family>`` (the score of one graded cell), ``A/<exercise>`` (the
exercise's total), ``A/total`` (nbgrader's score of the submission); then ``total`` and ``max``
over all the assignments. A grade cell whose id names no exercise has one column
``A/<grade id>``. Scores nbgrader did not record are left empty; totals count them as 0.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..nbgrader.store import atomic_write
from .model import ClassData, exercise_score, fmt


def grade_columns(data: ClassData) -> list[str]:
    cols = ["student"]
    for a in data.assignments:
        cols.append(f"{a.name}/status")
        for ex in a.exercises():
            cells = [c for c in a.cells if c.exercise == ex]
            if len(cells) == 1 and cells[0].family is None:
                cols.append(f"{a.name}/{ex}")
                continue
            cols += [f"{a.name}/{ex}/{c.family}" for c in cells]
            cols.append(f"{a.name}/{ex}")
        cols.append(f"{a.name}/total")
    return cols + ["total", "max"]


def write_grades_csv(data: ClassData, path: Path) -> Path:
    cols = grade_columns(data)
    with io.StringIO(newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        top = sum(a.max_score for a in data.assignments)
        for student in data.students:
            row = {"student": student}
            total = 0.0
            for a in data.assignments:
                sub = data.submissions[(a.name, student)]
                row[f"{a.name}/status"] = sub.status
                for ex, results in sub.by_exercise().items():
                    for r in results:
                        if r.cell.family is not None:
                            row[f"{a.name}/{ex}/{r.cell.family}"] = fmt(r.score)
                    row[f"{a.name}/{ex}"] = fmt(exercise_score(results))
                row[f"{a.name}/total"] = fmt(sub.score)
                total += sub.score
            row["total"], row["max"] = fmt(total), fmt(top)
            writer.writerow([row.get(c, "") for c in cols])
        return atomic_write(path, fh.getvalue())
