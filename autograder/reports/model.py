"""What there is to report, read from nbgrader's gradebook and the grading records.

:func:`collect` builds a :class:`ClassData`: the assignments with their graded cells, the students,
and one :class:`Submission` per (assignment, student), whose scores come from the gradebook (the
authority, never recomputed) and whose verdicts, notes, errors and timings come from the record
``.autograder/records/<assignment>/<student>/_submission.json`` that
:mod:`autograder.batch.run` wrote.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..nbgrader.cells import split_grade_id
from .build import RECORDS, _config_dirs, load_record

NOT_SUBMITTED = "not submitted"
NOT_GRADED = "not graded"
#: what a student reads when the grader failed on their submission (the instructor reads why in
#: the class report)
UNGRADED = ("Your submission could not be graded automatically: the grader failed on it (this is "
            "not a check that failed). Your instructor has the details and will grade it.")
#: where the device family ran (``Outcome.ran_on``), in words
WHERE = {"gpu": "ran on a GPU",
         "simulated": "simulated on the CPU (no GPU on the grading machine): the same bug "
                      "classes, found without a GPU"}


def fmt(x: float | None) -> str:
    """A score as people write it: ``3``, ``2.5``; ``""`` for no score."""
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def unique(items) -> list:
    """``items`` without repeats, in their first order."""
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


@dataclass
class GradeCell:
    """One graded cell of an assignment: ``<exercise>_<family>``."""

    grade_id: str
    notebook: str
    exercise: str            # the exercise id, or the grade id when it names no exercise
    family: str | None       # shape, values, gradient, device; None outside the convention
    max_score: float


@dataclass
class CellResult:
    cell: GradeCell
    score: float | None      # from the gradebook; None: not recorded / needs manual grading
    verdict: dict | None     # the record's verdict for this cell (hint, mistake, where it ran)

    @property
    def passed(self) -> bool:
        if self.verdict is not None and self.score is not None:
            return bool(self.verdict.get("passed")) and self.score >= self.cell.max_score
        return self.score is not None and self.score >= self.cell.max_score


@dataclass
class Submission:
    assignment: str
    student: str
    status: str
    score: float             # nbgrader's score of the submission (0 when none)
    max_score: float
    results: list[CellResult] = field(default_factory=list)
    record: dict | None = None

    @property
    def notes(self) -> list[str]:
        return unique((self.record or {}).get("notes", []))

    def notebook_report(self, notebook: str) -> dict:
        return ((self.record or {}).get("notebooks") or {}).get(notebook) or {}

    def by_exercise(self) -> dict[str, list[CellResult]]:
        out: dict[str, list[CellResult]] = {}
        for r in self.results:
            out.setdefault(r.cell.exercise, []).append(r)
        return out


@dataclass
class Assignment:
    name: str
    max_score: float
    notebooks: list[str]
    cells: list[GradeCell]

    def exercises(self) -> list[str]:
        return unique(c.exercise for c in self.cells)

    def exercise_max(self, exercise: str) -> float:
        return sum(c.max_score for c in self.cells if c.exercise == exercise)


@dataclass
class ClassData:
    root: Path
    assignments: list[Assignment]
    students: list[str]
    submissions: dict[tuple[str, str], Submission]   # (assignment, student) -> submission

    def of(self, assignment: str) -> list[Submission]:
        return [self.submissions[(assignment, s)] for s in self.students]


def exercise_score(results: list[CellResult]) -> float | None:
    """The points of an exercise's cells; ``None`` when none of them has a score."""
    if all(r.score is None for r in results):
        return None
    return sum(r.score or 0 for r in results)


def title(exercise: str) -> str:
    """An exercise's title for people (``"The excitation MLP"``), or its id."""
    from ..exercises import EXERCISES

    ex = EXERCISES.get(exercise)
    return (ex.title or ex.name) if ex is not None else exercise


def _cell_order(root: Path, dirs: dict, assignment: str, notebook: str) -> list[str]:
    """Grade ids in the order of the release (or source) notebook; [] when neither is there."""
    from ..nbgrader.cells import NotebookError, grade_id, read

    for key in ("release_directory", "source_directory"):
        path = root / dirs[key] / assignment / f"{notebook}.ipynb"
        if path.exists():
            try:
                return [gid for gid in (grade_id(c) for c in read(path).cells) if gid]
            except NotebookError:
                continue
    return []


def collect(root: Path, assignments: list[str], config=None) -> ClassData:
    """Everything the reports show, from the gradebook and the records (``config``: the
    course's configuration, when the caller has loaded it)."""
    from nbgrader.api import Gradebook, MissingEntry

    from ..exercises import EXERCISES

    root = Path(root).resolve()
    dirs = _config_dirs(root, config)
    out_assignments: list[Assignment] = []
    subs: dict[tuple[str, str], Submission] = {}
    students: set[str] = set()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        students.update(s.id for s in gb.students)
        for aid in assignments:
            try:
                assignment = gb.find_assignment(aid)
            except MissingEntry:
                continue
            cells: list[GradeCell] = []
            notebooks = sorted(nb.name for nb in assignment.notebooks)
            for nb in assignment.notebooks:
                order = _cell_order(root, dirs, aid, nb.name)
                known = sorted(nb.grade_cells, key=lambda c: (
                    order.index(c.name) if c.name in order else len(order), c.name))
                for gc in known:
                    exercise, family = split_grade_id(gc.name, EXERCISES)
                    cells.append(GradeCell(gc.name, nb.name, exercise, family,
                                           float(gc.max_score or 0)))
            out_assignments.append(Assignment(aid, float(assignment.max_score or 0), notebooks,
                                              cells))
            for sub in assignment.submissions:
                scores = {}
                for nb in sub.notebooks:
                    for g in nb.grades:
                        scores[(nb.name, g.name)] = None if g.needs_manual_grade else \
                            (float(g.score) if g.score is not None else None)
                subs[(aid, sub.student.id)] = Submission(
                    aid, sub.student.id, "graded", float(sub.score or 0),
                    float(assignment.max_score or 0),
                    [CellResult(c, scores.get((c.notebook, c.grade_id)), None) for c in cells])
    submitted = root / dirs["submitted_directory"]
    for a in out_assignments:
        for folder in sorted(submitted.glob(f"*/{a.name}")) if submitted.is_dir() else []:
            if folder.is_dir():
                students.add(folder.parent.name)
        records = root / RECORDS / a.name
        if records.is_dir():
            students.update(p.name for p in records.iterdir() if p.is_dir())
    ordered = sorted(students)
    for a in out_assignments:
        for student in ordered:
            sub = subs.get((a.name, student))
            record = load_record(root, a.name, student)
            if sub is None:
                handed_in = (submitted / student / a.name).is_dir()
                status = NOT_SUBMITTED if not handed_in and record is None else NOT_GRADED
                sub = Submission(a.name, student, status, 0.0, a.max_score,
                                 [CellResult(c, None, None) for c in a.cells])
                subs[(a.name, student)] = sub
            if record is not None:
                sub.record = record
                sub.status = record.get("status") or sub.status
                verdicts = {(nb, v.get("grade_id")): v
                            for nb, report in (record.get("notebooks") or {}).items()
                            for v in report.get("cells", [])}
                for r in sub.results:
                    r.verdict = verdicts.get((r.cell.notebook, r.cell.grade_id))
    return ClassData(root, out_assignments, ordered, subs)


def not_os_isolated(subs: list[Submission]) -> list[str]:
    """Students with a notebook graded without the OS sandbox (``--sandbox none``)."""
    return sorted({s.student for s in subs
                   for nb in ((s.record or {}).get("notebooks") or {}).values()
                   if nb.get("sandbox") == "none"})
