"""What a graded course gives back: grades, feedback for each student, a class report.

:func:`write_reports` runs at the end of ``python -m autograder grade``. It reads the scores from
nbgrader's gradebook (``gradebook.db``: the authority, never recomputed here) and everything else
(hints, notes, errors, timings) from the grading records ``.autograder/records/<assignment>/
<student>/_submission.json`` written by :mod:`autograder.batch.run`. It writes, under the course
root::

    reports/grades.csv                                 one row per student (columns below)
    reports/index.html                                 links to each assignment's report
    reports/<assignment>/index.html                    the class report of one assignment
    reports/<assignment>/scores_<exercise>.png         score distribution of one exercise
    reports/<assignment>/scores_total.png              ... of the assignment's total
    reports/<assignment>/mistakes.png                  the most frequent mistakes, by hint
    feedback/<student>/<assignment>/<notebook>.html    what the student reads
    reports/gradescope/<student>/<assignment>/results.json   with ``gradescope=True``

``grades.csv`` columns: ``student``; then for each assignment ``A``: ``A/status`` (graded, error,
not graded, not submitted), ``A/<exercise>/<family>`` (the score of one graded cell),
``A/<exercise>`` (the exercise's total), ``A/total`` (nbgrader's score of the submission); then
``total`` and ``max`` over all the assignments. A grade cell whose id names no exercise has one
column ``A/<grade id>``. Scores nbgrader did not record are left empty; totals count them as 0.

Feedback is written to nbgrader's feedback folder, so that ``nbgrader release_feedback`` hands it
out (``timestamp.txt`` and ``submission_secret.txt`` are copied from the submission, as nbgrader
needs them). **Do not run** ``nbgrader generate_feedback`` **on this course**: it renders the
autograded notebook, hidden tests included (nbgrader issue #917), and would overwrite these
files. The feedback here shows, per exercise, its score and a row per check family (passed or
failed, with the hint of each failure), where the GPU checks ran, the notes about the submission
(repaired files, restored cells, time limits, use of the reference) and the errors of the
student's own cells; it never shows the hidden tests' code or their inputs, only the verdicts'
messages, which are written to say neither. Every piece of text that can come from a student (a
hint quoting their exception, a file name, an error) is HTML-escaped.

The class report groups failures by hint: the context line a hint ends with (``(seen for ...)``,
``(while ...)``) is dropped and numbers are masked, so that one mistake made by several students
is counted once per student.
"""
from __future__ import annotations

import csv
import html
import json
import re
import shutil
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


RECORDS = ".autograder/records"
REPORTS = "reports"
NOT_SUBMITTED = "not submitted"
NOT_GRADED = "not graded"
#: what a student reads when the grader failed on their submission (the instructor reads why in
#: the class report)
UNGRADED = ("Your submission could not be graded automatically: the grader failed on it (this is "
            "not a check that failed). Your instructor has the details and will grade it.")


# --- what there is to report ---------------------------------------------------------------------


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
        return _unique((self.record or {}).get("notes", []))

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
        return _unique(c.exercise for c in self.cells)

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


def _unique(items) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def split_grade_id(grade_id: str, exercise_ids) -> tuple[str, str | None]:
    """``(exercise, family)`` of a graded cell id ``<exercise>_<family>``: the exercise is the
    longest exercise id the cell id starts with. A cell outside the convention is its own
    exercise, with no family."""
    found = [e for e in exercise_ids if grade_id == e or grade_id.startswith(e + "_")]
    if not found:
        return grade_id, None
    exercise = max(found, key=len)
    rest = grade_id[len(exercise) + 1:]
    return exercise, (rest or None)


def _config_dirs(root: Path) -> dict[str, str]:
    from traitlets.config.loader import PyFileConfigLoader

    dirs = {"source_directory": "source", "release_directory": "release",
            "submitted_directory": "submitted", "feedback_directory": "feedback"}
    if (root / "nbgrader_config.py").exists():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        for key in dirs:
            value = config.CourseDirectory.get(key)
            if isinstance(value, str) and value:
                dirs[key] = value
    return dirs


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


def load_record(root: Path, assignment: str, student: str) -> dict | None:
    path = root / RECORDS / assignment / student / "_submission.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def collect(root: Path, assignments: list[str]) -> ClassData:
    """Everything the reports show, from the gradebook and the records."""
    from nbgrader.api import Gradebook, MissingEntry

    from ..exercises import EXERCISES

    root = Path(root).resolve()
    dirs = _config_dirs(root)
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


# --- hints, grouped ---------------------------------------------------------------------------

_CONTEXT = re.compile(r"^\s*\((seen for|while)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])")


def normalise_hint(message: str) -> str:
    """A hint without its context line (``(seen for ...)``, ``(while ...)``): what the student
    did wrong, not where the check saw it."""
    lines = (message or "").strip().splitlines()
    while len(lines) > 1 and _CONTEXT.match(lines[-1]):
        lines.pop()
    return "\n".join(lines).strip()


def hint_key(message: str) -> str:
    """The grouping key of a hint: normalised, with numbers masked (errors, shapes, counts)."""
    return _NUMBER.sub("#", normalise_hint(message))


@dataclass
class MistakeGroup:
    exercise: str
    hint: str
    labels: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    variants: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.students)

    @property
    def label(self) -> str:
        return ", ".join(self.labels)


def mistakes(subs: list[Submission]) -> list[MistakeGroup]:
    """Failed checks grouped by exercise and hint (see :func:`hint_key`), with the mistake
    labels the checks gave them; most frequent first, counted once per student."""
    groups: dict[tuple, MistakeGroup] = {}
    for sub in subs:
        if sub.status == NOT_SUBMITTED:
            continue
        for r in sub.results:
            v = r.verdict
            if r.passed or v is None or v.get("passed"):
                continue
            message = v.get("message", "")
            key = (r.cell.exercise, hint_key(message))
            group = groups.setdefault(key, MistakeGroup(r.cell.exercise, key[1]))
            for item, bag in ((v.get("mistake"), group.labels), (sub.student, group.students),
                              (r.cell.family, group.families)):
                if item and item not in bag:
                    bag.append(item)
            group.variants[normalise_hint(message)] += 1
    out = list(groups.values())
    for g in out:
        g.hint = g.variants.most_common(1)[0][0]
    return sorted(out, key=lambda g: (-g.count, g.exercise, g.hint))


# --- grades.csv ---------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


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
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = grade_columns(data)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
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
                            row[f"{a.name}/{ex}/{r.cell.family}"] = _fmt(r.score)
                    scores = [r.score for r in results]
                    row[f"{a.name}/{ex}"] = "" if all(s is None for s in scores) else \
                        _fmt(sum(s or 0 for s in scores))
                row[f"{a.name}/total"] = _fmt(sub.score)
                total += sub.score
            row["total"], row["max"] = _fmt(total), _fmt(top)
            writer.writerow([row.get(c, "") for c in cols])
    tmp.replace(path)
    return path


# --- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem
auto;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid
#d0d7de;padding-bottom:.2rem} h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
.sub{color:#59636e;margin-top:0} .total{font-size:1.3rem;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.4rem 0} th,td{border:1px solid #d0d7de;
padding:.3rem .5rem;text-align:left;vertical-align:top} th{background:#f6f8fa}
td.n{text-align:right;white-space:nowrap;width:5rem}
.ok{color:#1a7f37;font-weight:600} .bad{color:#cf222e;font-weight:600}
.part{color:#9a6700;font-weight:600} .muted{color:#59636e}
.hint{white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;
font-size:.85rem;background:#fff8f0;border-left:3px solid #cf222e;padding:.3rem .5rem;
margin:.2rem 0}
.box{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:1rem 0;background:#f6f8fa}
.warn{border-color:#d4a72c;background:#fff8c5} .err{border-color:#cf222e;background:#ffebe9}
.tag{display:inline-block;font-size:.75rem;border:1px solid #d0d7de;border-radius:1rem;
padding:0 .5rem;margin-left:.3rem;color:#59636e}
img{max-width:100%} .plots{display:flex;flex-wrap:wrap;gap:.5rem}
.plots figure{margin:0;width:18rem} figcaption{font-size:.85rem;color:#59636e}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _score_class(score: float | None, top: float) -> str:
    if score is None or (score <= 0 < top):
        return "bad"
    return "ok" if score >= top else "part"


def _title(exercise: str) -> str:
    from ..exercises import EXERCISES

    ex = EXERCISES.get(exercise)
    return (ex.title or ex.name) if ex is not None else exercise


_WHERE = {"gpu": "ran on a GPU",
          "simulated": "simulated on the CPU (no GPU on the grading machine): the same bug "
                       "classes, found without a GPU"}


def _where(r: CellResult, report: dict) -> str:
    ran_on = (r.verdict or {}).get("ran_on")
    if ran_on is None:   # a failed device check stops before it says; the notebook's others did
        ran_on = next((v.get("ran_on") for v in report.get("cells", [])
                       if v.get("family") == "device" and v.get("ran_on")), None)
    return _WHERE.get(ran_on, "not known: the check stopped at the failure above")


def feedback_html(sub: Submission, assignment: Assignment, notebook: str) -> str:
    """The feedback page of one notebook of one submission."""
    report = sub.notebook_report(notebook)
    results = [r for r in sub.results if r.cell.notebook == notebook]
    nb_score = sum(r.score or 0 for r in results)
    nb_max = sum(r.cell.max_score for r in results)
    parts = [f"<h1>{_e(assignment.name)}: feedback</h1>",
             f'<p class="sub">{_e(notebook)}.ipynb, submitted by {_e(sub.student)}</p>']
    if len(assignment.notebooks) > 1:
        parts.append(f'<p class="total">This notebook: {_fmt(nb_score)} / {_fmt(nb_max)} '
                     f'points <span class="muted">(assignment: {_fmt(sub.score)} / '
                     f"{_fmt(sub.max_score)})</span></p>")
    else:
        parts.append(f'<p class="total">Score: {_fmt(sub.score)} / {_fmt(sub.max_score)} '
                     "points</p>")
    if sub.status == "error":
        parts.append(f'<div class="box err"><strong>{_e(UNGRADED)}</strong></div>')
    elif sub.status == NOT_GRADED:
        parts.append('<div class="box warn">This submission has not been graded yet.</div>')
    notes = list(sub.notes)
    flagged = report.get("flagged") or {}
    restarts = report.get("kernel_restarts") or 0
    if restarts:
        notes.append(f"your notebook's kernel was restarted {restarts} time(s) while grading: it "
                     "died (os._exit, a crash in native code, or memory exhaustion) or stopped "
                     "answering; the cells before the one that killed it were run again")
    if notes:
        parts.append('<div class="box warn"><strong>About your submission</strong><ul>' +
                     "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>")
    parts.append("<h2>Exercises</h2>")
    by_ex: dict[str, list[CellResult]] = {}
    for r in results:
        by_ex.setdefault(r.cell.exercise, []).append(r)
    for ex, rs in by_ex.items():
        score = None if all(r.score is None for r in rs) else sum(r.score or 0 for r in rs)
        top = sum(r.cell.max_score for r in rs)
        title = _title(ex)
        name = f"{title} <code>{_e(ex)}</code>" if title != ex else f"<code>{_e(ex)}</code>"
        parts.append(f'<h3>{name}: <span class="{_score_class(score, top)}">'
                     f"{_fmt(score) or '0'} / {_fmt(top)}</span></h3>")
        if ex in flagged:
            parts.append(f'<div class="box err">Not counted: this answer {_e(flagged[ex])}. '
                         "Answers must be your own code, not the course's reference "
                         "implementation.</div>")
        rows = []
        for r in rs:
            family = r.cell.family or r.cell.grade_id
            if r.score is None and r.verdict is None:
                state = '<span class="muted">not graded</span>'
            elif r.passed:
                state = '<span class="ok">&#10003; passed</span>'
            else:
                state = '<span class="bad">&#10007; failed</span>'
            detail = ""
            if r.verdict is not None and not r.passed:
                label = r.verdict.get("mistake")
                detail = f'<div class="hint">{_e(r.verdict.get("message", ""))}</div>'
                if label:
                    detail += f'<span class="tag">{_e(label)}</span>'
            elif r.verdict is not None:
                detail = f'<span class="muted">{_e(r.verdict.get("message", ""))}</span>'
            elif not r.passed and r.score is not None:
                detail = '<span class="muted">no hint recorded for this check</span>'
            if r.cell.family == "device" and (r.verdict is not None):
                detail += f'<div class="muted">GPU checks: {_e(_where(r, report))}</div>'
            rows.append(f"<tr><td>{_e(family)}</td><td>{state}</td><td class=\"n\">"
                        f"{_fmt(r.score) or '&ndash;'} / {_fmt(r.cell.max_score)}</td>"
                        f"<td>{detail}</td></tr>")
        parts.append("<table><tr><th>check</th><th>result</th><th>points</th><th>what the "
                     "grader saw</th></tr>" + "".join(rows) + "</table>")
    errors = report.get("errors") or []
    if errors:
        parts.append("<h2>Errors in your own cells</h2><p>These cells of yours raised an error, "
                     "ran past the time limit or stopped the kernel while the notebook was "
                     "graded:</p>" + "".join(f'<div class="hint">{_e(x)}</div>' for x in errors))
    seconds = report.get("seconds")
    footer = "The hidden tests themselves are not shown; each failed check says what it saw."
    if seconds is not None:
        footer += f" Grading took {seconds:.1f} s."
    parts.append(f'<p class="muted">{_e(footer)}</p>')
    return _page(f"{assignment.name}: feedback for {sub.student}", "\n".join(parts))


def write_feedback(data: ClassData, dirs: dict) -> list[Path]:
    written = []
    submitted = data.root / dirs["submitted_directory"]
    feedback = data.root / dirs["feedback_directory"]
    for a in data.assignments:
        for sub in data.of(a.name):
            if sub.status == NOT_SUBMITTED:
                continue
            folder = feedback / sub.student / a.name
            for nb in a.notebooks:
                written.append(_write_text(folder / f"{nb}.html", feedback_html(sub, a, nb)))
            for name in ("timestamp.txt", "submission_secret.txt"):
                src = submitted / sub.student / a.name / name
                if src.is_file():
                    shutil.copy(src, folder / name)
    return written


# --- plots ----------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _score_plot(path: Path, title: str, scores: list[float], top: float) -> Path:
    """Bars: how many students got each score (0 .. top)."""
    counts = Counter(scores)
    step = 1.0 if top <= 20 and all(float(s).is_integer() for s in scores) else None
    values = [float(v) for v in range(int(top) + 1)] if step else sorted(counts)
    fig = _figure(3.6, 2.4)
    ax = fig.add_subplot()
    colours = ["#cf222e" if v <= 0 else "#1a7f37" if v >= top else "#d4a72c" for v in values]
    ax.bar([_fmt(v) for v in values], [counts.get(v, 0) for v in values], color=colours)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"score (of {_fmt(top)})", fontsize=8)
    ax.set_ylabel("students", fontsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _mistake_plot(path: Path, groups: list[MistakeGroup]) -> Path:
    top = groups[:10][::-1]
    fig = _figure(7.0, 0.45 * len(top) + 1.0)
    ax = fig.add_subplot()
    labels = [f"{g.exercise}: {g.labels[0] if g.labels else 'failed'}" for g in top]
    ax.barh(range(len(top)), [g.count for g in top], color="#cf222e")
    ax.set_yticks(range(len(top)), labels, fontsize=8)
    ax.set_xlabel("students", fontsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("most frequent mistakes (see the table for the hints)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path


# --- the class report -----------------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _rel_feedback(dirs: dict, sub: Submission, notebook: str) -> str:
    from urllib.parse import quote

    return "../../" + quote(f"{dirs['feedback_directory']}/{sub.student}/{sub.assignment}/"
                            f"{notebook}.html")


def not_os_isolated(subs: list[Submission]) -> list[str]:
    """Students with a notebook graded without the OS sandbox (``--sandbox none``)."""
    return sorted({s.student for s in subs
                   for nb in ((s.record or {}).get("notebooks") or {}).values()
                   if nb.get("sandbox") == "none"})


def _not_isolated_box(students: list[str]) -> str:
    return ('<div class="box err"><strong>Not OS-isolated.</strong> The notebooks of '
            f"{len(students)} student(s) were graded with <code>--sandbox none</code>: their "
            "code ran as the grading user, held back only by the kernel's audit hook, which is "
            "not a sandbox. Those grades are not protected against forgery. "
            f'<span class="muted">{_e(", ".join(students[:50]))}</span></div>')


def class_report(data: ClassData, a: Assignment, dirs: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    subs = data.of(a.name)
    handed = [s for s in subs if s.status != NOT_SUBMITTED]
    graded = [s for s in handed if s.status == "graded"]
    totals = [s.score for s in handed]
    parts = [f"<h1>{_e(a.name)}: class report</h1>",
             '<p class="sub"><a href="../index.html">all assignments</a> &middot; '
             f'<a href="../grades.csv">grades.csv</a></p>']
    counts = Counter(s.status for s in subs)
    summary = [("students", len(subs)), ("submissions", len(handed)), ("graded", len(graded)),
               ("errors", counts.get("error", 0)), ("not submitted", counts.get(NOT_SUBMITTED, 0))]
    if counts.get(NOT_GRADED):
        summary.append(("not graded yet", counts[NOT_GRADED]))
    if totals:
        summary += [("mean score", f"{statistics.mean(totals):.2f} / {_fmt(a.max_score)}"),
                    ("median score", f"{_fmt(statistics.median(totals))} / {_fmt(a.max_score)}"),
                    ("full marks", sum(1 for t in totals if t >= a.max_score))]
    parts.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                     for k, v in summary) + "</table>")
    if not_os_isolated(handed):
        parts.append(_not_isolated_box(not_os_isolated(handed)))

    parts.append("<h2>Score distribution</h2>")
    figures = []
    if handed:
        total_png = _score_plot(folder / "scores_total.png", f"{a.name}: total", totals,
                                a.max_score)
        figures.append((total_png.name, "total"))
        for ex in a.exercises():
            scores = [sum(r.score or 0 for r in s.results if r.cell.exercise == ex)
                      for s in handed]
            png = _score_plot(folder / f"scores_{_safe(ex)}.png", _title(ex) + f" ({ex})",
                              scores, a.exercise_max(ex))
            figures.append((png.name, ex))
        parts.append('<div class="plots">' + "".join(
            f'<figure><img src="{_e(src)}" alt="score distribution of {_e(cap)}">'
            f"<figcaption>{_e(cap)}</figcaption></figure>" for src, cap in figures) + "</div>")
    else:
        parts.append('<p class="muted">No submissions.</p>')

    groups = mistakes(handed)
    parts.append("<h2>Most frequent mistakes</h2>")
    if groups:
        png = _mistake_plot(folder / "mistakes.png", groups)
        parts.append(f'<img src="{_e(png.name)}" alt="most frequent mistakes">')
        rows = "".join(
            f'<tr><td class="n">{g.count}</td><td><code>{_e(g.exercise)}</code></td>'
            f"<td>{_e(', '.join(g.families))}</td><td>{_e(g.label or '')}</td>"
            f'<td><div class="hint">{_e(g.hint)}</div>'
            + (f'<span class="muted">and {len(g.variants) - 1} variant(s) with other numbers'
               "</span>" if len(g.variants) > 1 else "")
            + f"</td><td>{_e(', '.join(g.students))}</td></tr>" for g in groups)
        parts.append("<table><tr><th>students</th><th>exercise</th><th>checks</th><th>mistake"
                     "</th><th>hint</th><th>who</th></tr>" + rows + "</table>")
    else:
        parts.append('<p class="muted">No failed check.</p>')

    trouble = [s for s in handed if s.status != "graded" or s.notes]
    parts.append("<h2>Submissions that failed or were repaired</h2>")
    if trouble:
        parts.append("<table><tr><th>student</th><th>status</th><th>what happened</th></tr>" +
                     "".join(f"<tr><td>{_e(s.student)}</td><td>{_e(s.status)}</td><td><ul>" +
                             "".join(f"<li>{_e(n)}</li>" for n in
                                     ([s.record.get('error')] if (s.record or {}).get('error')
                                      else []) + s.notes) + "</ul></td></tr>" for s in trouble)
                     + "</table>")
    else:
        parts.append('<p class="muted">None.</p>')

    parts.append("<h2>Flagged: answers that use the reference implementation</h2>")
    flagged = [(s.student, ex, why) for s in handed for nb in a.notebooks
               for ex, why in (s.notebook_report(nb).get("flagged") or {}).items()]
    if flagged:
        parts.append("<table><tr><th>student</th><th>exercise</th><th>why</th></tr>" +
                     "".join(f"<tr><td>{_e(st)}</td><td><code>{_e(ex)}</code></td>"
                             f"<td>{_e(why)}</td></tr>" for st, ex, why in flagged) + "</table>")
    else:
        parts.append('<p class="muted">None.</p>')

    seconds = [s.record["seconds"] for s in handed
               if s.record and isinstance(s.record.get("seconds"), (int, float))]
    restarts = sum((s.notebook_report(nb).get("kernel_restarts") or 0)
                   for s in handed for nb in a.notebooks)
    timeouts = sorted({s.student for s in handed for r in s.results
                       if (r.verdict or {}).get("mistake") == "timeout"})
    parts.append("<h2>Timing</h2>")
    if seconds:
        slow = sorted((s for s in handed if s.record and s.record.get("seconds") is not None),
                      key=lambda s: -s.record["seconds"])[:3]
        rows = [("mean per submission", f"{statistics.mean(seconds):.1f} s"),
                ("median", f"{statistics.median(seconds):.1f} s"),
                ("slowest", ", ".join(f"{s.student} {s.record['seconds']:.1f} s" for s in slow)),
                ("sum (one worker)", f"{sum(seconds):.0f} s"),
                ("kernel restarts", restarts),
                ("ran past a time limit", ", ".join(timeouts) or "none")]
        parts.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                         for k, v in rows) + "</table>")
    else:
        parts.append('<p class="muted">No timings recorded.</p>')

    parts.append("<h2>Students</h2>")
    header = "".join(f"<th>{_e(ex)}</th>" for ex in a.exercises())
    rows = []
    for s in subs:
        link = " ".join(f'<a href="{_e(_rel_feedback(dirs, s, nb))}">feedback</a>'
                        for nb in a.notebooks) if s.status != NOT_SUBMITTED else ""
        cells = ""
        for ex in a.exercises():
            rs = [r for r in s.results if r.cell.exercise == ex]
            got = None if all(r.score is None for r in rs) else sum(r.score or 0 for r in rs)
            top = a.exercise_max(ex)
            cls = _score_class(got, top) if s.status != NOT_SUBMITTED else "muted"
            cells += f'<td class="n {cls}">{_fmt(got) or "&ndash;"}</td>'
        rows.append(f"<tr><td>{_e(s.student)}</td><td>{_e(s.status)}</td>{cells}"
                    f'<td class="n">{_fmt(s.score)} / {_fmt(a.max_score)}</td><td>{link}</td>'
                    "</tr>")
    parts.append(f"<table><tr><th>student</th><th>status</th>{header}<th>total</th><th></th>"
                 "</tr>" + "".join(rows) + "</table>")
    return _write_text(folder / "index.html", _page(f"{a.name}: class report", "\n".join(parts)))


def write_index(data: ClassData, folder: Path) -> Path:
    rows = []
    for a in data.assignments:
        handed = [s for s in data.of(a.name) if s.status != NOT_SUBMITTED]
        mean = f"{statistics.mean(s.score for s in handed):.2f}" if handed else "&ndash;"
        errors = sum(1 for s in handed if s.status == "error")
        rows.append(f'<tr><td><a href="{_e(_safe(a.name))}/index.html">{_e(a.name)}</a></td>'
                    f'<td class="n">{len(handed)}</td><td class="n">{errors}</td>'
                    f'<td class="n">{mean} / {_fmt(a.max_score)}</td></tr>')
    body = ("<h1>Class reports</h1>"
            '<p class="sub">Scores come from nbgrader\'s gradebook; '
            '<a href="grades.csv">grades.csv</a> has one row per student.</p>'
            "<table><tr><th>assignment</th><th>submissions</th><th>errors</th><th>mean score"
            "</th></tr>" + "".join(rows) + "</table>")
    unconfined = not_os_isolated([s for a in data.assignments for s in data.of(a.name)])
    if unconfined:
        body += _not_isolated_box(unconfined)
    return _write_text(folder / "index.html", _page("Class reports", body))


# --- Gradescope ---------------------------------------------------------------------------------


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
            output += f"\n({_WHERE.get(v['ran_on'], v['ran_on'])})"
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
            written.append(_write_text(folder / sub.student / a.name / "results.json",
                                       json.dumps(gradescope_results(sub, a), indent=1)))
    return written


# --- all of it ----------------------------------------------------------------------------------


def write_reports(root: Path, assignments: list[str], *, gradescope: bool = False) -> Path:
    """Write grades.csv, the feedback, the class reports (and Gradescope's results.json) of
    ``assignments`` (default: every assignment of the gradebook); return ``reports/``, the folder
    of the class report (its ``index.html`` links the rest)."""
    root = Path(root).resolve()
    folder = root / REPORTS
    if not assignments:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            assignments = sorted(a.name for a in gb.assignments)
    data = collect(root, list(assignments))
    dirs = _config_dirs(root)
    write_grades_csv(data, folder / "grades.csv")
    write_feedback(data, dirs)
    for a in data.assignments:
        class_report(data, a, dirs, folder / _safe(a.name))
    write_index(data, folder)
    if gradescope:
        write_gradescope(data, folder / "gradescope")
    return folder
