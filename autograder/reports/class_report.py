"""The class report: ``reports/index.html`` (every assignment) and, per assignment,
``reports/<assignment>/index.html`` with its plots (``scores_total.png``,
``scores_<exercise>.png``, ``mistakes.png``).

The report groups failures by hint: the context line a hint ends with (``(seen for ...)``,
``(while ...)``) is dropped and numbers are masked, so that one mistake made by several students
is counted once per student.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..nbgrader.store import atomic_write
from .feedback import grade_class
from .model import (NOT_GRADED, NOT_SUBMITTED, Assignment, ClassData, Submission,
                    exercise_score, fmt, not_os_isolated, title)
from .render import render

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


# --- plots ----------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _score_plot(path: Path, caption: str, scores: list[float], top: float) -> Path:
    """Bars: how many students got each score (0 .. top)."""
    counts = Counter(scores)
    step = 1.0 if top <= 20 and all(float(s).is_integer() for s in scores) else None
    values = [float(v) for v in range(int(top) + 1)] if step else sorted(counts)
    fig = _figure(3.6, 2.4)
    ax = fig.add_subplot()
    colours = ["#cf222e" if v <= 0 else "#1a7f37" if v >= top else "#d4a72c" for v in values]
    ax.bar([fmt(v) for v in values], [counts.get(v, 0) for v in values], color=colours)
    ax.set_title(caption, fontsize=9)
    ax.set_xlabel(f"score (of {fmt(top)})", fontsize=8)
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


# --- the pages ------------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """``name`` as a file or folder name: anything but letters, digits, ``_.-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _rel_feedback(dirs: dict, sub: Submission, notebook: str) -> str:
    return "../../" + quote(f"{dirs['feedback_directory']}/{sub.student}/{sub.assignment}/"
                            f"{notebook}.html")


def _summary(a: Assignment, subs: list[Submission], handed: list[Submission]) -> list[tuple]:
    graded = [s for s in handed if s.status == "graded"]
    totals = [s.score for s in handed]
    counts = Counter(s.status for s in subs)
    rows = [("students", len(subs)), ("submissions", len(handed)), ("graded", len(graded)),
            ("errors", counts.get("error", 0)), ("not submitted", counts.get(NOT_SUBMITTED, 0))]
    if counts.get(NOT_GRADED):
        rows.append(("not graded yet", counts[NOT_GRADED]))
    if totals:
        rows += [("mean score", f"{statistics.mean(totals):.2f} / {fmt(a.max_score)}"),
                 ("median score", f"{fmt(statistics.median(totals))} / {fmt(a.max_score)}"),
                 ("full marks", sum(1 for t in totals if t >= a.max_score))]
    return rows


def _figures(a: Assignment, handed: list[Submission], folder: Path) -> list[tuple[str, str]]:
    """The score plots of an assignment: ``(file name, caption)``, the total first."""
    if not handed:
        return []
    total = _score_plot(folder / "scores_total.png", f"{a.name}: total",
                        [s.score for s in handed], a.max_score)
    figures = [(total.name, "total")]
    for ex in a.exercises():
        scores = [sum(r.score or 0 for r in s.results if r.cell.exercise == ex) for s in handed]
        png = _score_plot(folder / f"scores_{safe_name(ex)}.png", title(ex) + f" ({ex})",
                          scores, a.exercise_max(ex))
        figures.append((png.name, ex))
    return figures


def _timing(a: Assignment, handed: list[Submission]) -> list[tuple]:
    seconds = [s.record["seconds"] for s in handed
               if s.record and isinstance(s.record.get("seconds"), (int, float))]
    if not seconds:
        return []
    restarts = sum((s.notebook_report(nb).get("kernel_restarts") or 0)
                   for s in handed for nb in a.notebooks)
    timeouts = sorted({s.student for s in handed for r in s.results
                       if (r.verdict or {}).get("mistake") == "timeout"})
    slow = sorted((s for s in handed if s.record and s.record.get("seconds") is not None),
                  key=lambda s: -s.record["seconds"])[:3]
    return [("mean per submission", f"{statistics.mean(seconds):.1f} s"),
            ("median", f"{statistics.median(seconds):.1f} s"),
            ("slowest", ", ".join(f"{s.student} {s.record['seconds']:.1f} s" for s in slow)),
            ("sum (one worker)", f"{sum(seconds):.0f} s"),
            ("kernel restarts", restarts),
            ("ran past a time limit", ", ".join(timeouts) or "none")]


def _student_row(a: Assignment, s: Submission, dirs: dict) -> dict:
    exercises = []
    for ex in a.exercises():
        got = exercise_score([r for r in s.results if r.cell.exercise == ex])
        grade = grade_class(got, a.exercise_max(ex)) if s.status != NOT_SUBMITTED else "muted"
        exercises.append((got, grade))
    feedback = [_rel_feedback(dirs, s, nb) for nb in a.notebooks] \
        if s.status != NOT_SUBMITTED else []
    return {"student": s.student, "status": s.status, "score": s.score, "exercises": exercises,
            "feedback": feedback}


def class_report(data: ClassData, a: Assignment, dirs: dict, folder: Path) -> Path:
    """``folder/index.html`` and its plots: the class report of one assignment."""
    folder.mkdir(parents=True, exist_ok=True)
    subs = data.of(a.name)
    handed = [s for s in subs if s.status != NOT_SUBMITTED]
    groups = mistakes(handed)
    mistakes_png = _mistake_plot(folder / "mistakes.png", groups).name if groups else None
    trouble = [(s.student, s.status,
                ([s.record["error"]] if (s.record or {}).get("error") else []) + s.notes)
               for s in handed if s.status != "graded" or s.notes]
    flagged = [(s.student, ex, why) for s in handed for nb in a.notebooks
               for ex, why in (s.notebook_report(nb).get("flagged") or {}).items()]
    page = render("class_report.html.j2", title=f"{a.name}: class report", a=a,
                  summary=_summary(a, subs, handed), figures=_figures(a, handed, folder),
                  groups=groups, mistakes_png=mistakes_png, trouble=trouble, flagged=flagged,
                  timing=_timing(a, handed), exercises=a.exercises(),
                  students=[_student_row(a, s, dirs) for s in subs],
                  unconfined=not_os_isolated(handed))
    return atomic_write(folder / "index.html", page)


def write_index(data: ClassData, folder: Path) -> Path:
    """``folder/index.html``: a row per assignment with a link to its class report."""
    rows = []
    for a in data.assignments:
        handed = [s for s in data.of(a.name) if s.status != NOT_SUBMITTED]
        rows.append({"name": a.name, "href": f"{safe_name(a.name)}/index.html",
                     "submissions": len(handed),
                     "errors": sum(1 for s in handed if s.status == "error"),
                     "mean": f"{statistics.mean(s.score for s in handed):.2f}" if handed
                     else "–", "max_score": a.max_score})
    unconfined = not_os_isolated([s for a in data.assignments for s in data.of(a.name)])
    return atomic_write(folder / "index.html", render("index.html.j2", title="Class reports",
                                                     rows=rows, unconfined=unconfined))
