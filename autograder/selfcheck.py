"""``python -m autograder check NOTEBOOK``: every check of every exercise, for a self-learner.

The notebook's own cells run in a fresh Jupyter kernel (its test cells are skipped), then every
family of every exercise it holds is checked in that kernel, and a table of verdicts with the hint
of each failure is printed. The exit status is 0 only if everything passed.

:func:`table` is also what a lesson's last cell, ``check_all(...)``, prints in the notebook (see
:func:`autograder.check_all`); this module imports nbgrader and nbclient only to run a file.
"""
from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

_RUNNER = """
import json as _json
from autograder import verdicts as _verdicts
print("@@VERDICTS@@" + _json.dumps(_verdicts({ids!r}, globals(), seed={seed!r})))
"""


def run(path: str, *, timeout: int = 60, seed: int | None = None) -> tuple[list[dict], list[str]]:
    """Execute the notebook's cells and its checks; ``(verdicts, errors in the student's cells)``."""
    from nbclient import NotebookClient
    import nbformat

    from ._env import tool_env
    from .nbgrader.cells import exercises_in, is_test_cell, read

    nb = read(path)
    ids = exercises_in(nb)
    if not ids:
        return [], [f"{path}: no exercise of the course found (no solution cell with a known "
                    "grade_id, and none of the exercise names is defined)"]
    work = nbformat.v4.new_notebook(metadata=nb.metadata)
    work.cells = [c for c in nb.cells if c.cell_type == "code" and not is_test_cell(c)]
    work.cells.append(nbformat.v4.new_code_cell(_RUNNER.format(ids=ids, seed=seed)))
    client = NotebookClient(work, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(path).parent.resolve())}})
    # heavy cells (lesson 05's training) run their small version: checks need the definitions
    client.execute(env=tool_env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                                SCSE_COURSE_QUICK="1"))
    errors = []
    for cell in work.cells[:-1]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                errors.append(f"{out['ename']}: {out['evalue']}  (in the cell starting "
                              f"{first[:60]!r})")
    verdicts = []
    for out in work.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if "@@VERDICTS@@" in text:
            verdicts = json.loads(text.split("@@VERDICTS@@", 1)[1])
    return verdicts, errors


#: width of the verdict text: ``nbgrader validate`` cuts an error's lines at 83 characters
#: (after its indent); a check's hint fits whole
WIDTH = 83
FAMILY_ORDER = ("shape", "values", "gradient", "device")


def wrap(text: str, first: str, indent: int) -> list[str]:
    """``first`` then ``text`` wrapped to :data:`WIDTH`, later lines indented by ``indent``;
    the text's own line breaks are kept."""
    lines = []
    for i, paragraph in enumerate(text.strip().splitlines()):
        lead = first if i == 0 else " " * indent
        lines += textwrap.wrap(paragraph.strip(), WIDTH, initial_indent=lead,
                               subsequent_indent=" " * indent, break_long_words=False) or [lead]
    return lines


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def public_block(name: str, families: list[dict]) -> str:
    """The visible check's text for the exercise that defines ``name``: a header, then a ✓ or ✗
    line per family with its summary, or its hint in full. ``families``: ``{family, passed,
    message}`` per family, in order."""
    failed = [f for f in families if not f["passed"]]
    count = f"its {len(families)} checks" if len(families) > 1 else "its check"
    if not failed:
        lines = [f"\u2713 {name} passes {count} on the public inputs:"]
    elif len(failed) == len(families):
        lines = [f"{name} fails {'all ' if len(families) > 1 else ''}{count} on the public "
                 "inputs:"]
    else:
        lines = [f"{name} fails {len(failed)} of {count} on the public inputs:"]
    if len(failed) == len(families) > 1 and len({_first_line(f["message"]) for f in failed}) == 1:
        # an unanswered exercise fails every family for one reason: say it once
        return "\n".join(lines + wrap(_first_line(failed[0]["message"]), "  \u2717 ", 4))
    width = max(len(f["family"]) for f in families) + 2
    for f in families:
        mark = "\u2713" if f["passed"] else "\u2717"
        text = f["message"].removeprefix(f"{f['family']}: ") if f["passed"] else f["message"]
        lines += wrap(text, f"  {mark} {f['family']:{width}}", width + 4)
    if not failed:
        lines.append("Grading runs the same checks again on other, secret inputs.")
    return "\n".join(lines)


def table(verdicts: list[dict]) -> str:
    """Exercise x family table, then the hint of every failure (the families of one exercise
    that fail for one reason, an unanswered exercise, share one hint)."""
    rows: dict[str, dict[str, dict]] = {}
    for v in verdicts:
        rows.setdefault(v["exercise"], {})[v["family"]] = v
    width = max([len(r) for r in rows] + [8])
    lines = [f"{'exercise':{width}}  " + "  ".join(f"{f:9}" for f in FAMILY_ORDER).rstrip()]
    for ex, fams in rows.items():
        cells = []
        for f in FAMILY_ORDER:
            v = fams.get(f)
            mark = "-" if v is None else "pass" if v["passed"] else "FAIL"
            if v is not None and f == "device" and v.get("ran_on") == "simulated" and v["passed"]:
                mark = "pass(sim)"
            cells.append(f"{mark:9}")
        lines.append((f"{ex:{width}}  " + "  ".join(cells)).rstrip())
    for ex, fams in rows.items():
        failed = [v for v in fams.values() if not v["passed"]]
        groups: dict[str, list[dict]] = {}
        for v in failed:
            groups.setdefault(_first_line(v["message"]), []).append(v)
        for group in groups.values():
            names = ", ".join(v["family"] for v in group)
            message = group[0]["message"] if len(group) == 1 else _first_line(group[0]["message"])
            lines.append("")
            lines.append(f"{ex} / {names}:")
            lines += wrap(message, "    ", 4)
    if any(v.get("ran_on") == "simulated" for v in verdicts):
        lines.append("")
        lines += wrap("device: no GPU here, so the GPU checks were simulated on the CPU (meta "
                      "device, dtype sweep, memory layouts, attribute scan).", "", 0)
    return "\n".join(lines)


def main(paths: list[str], *, timeout: int = 60, seed: int | None = None) -> int:
    status = 0
    for path in paths:
        start = time.perf_counter()
        try:
            verdicts, errors = run(path, timeout=timeout, seed=seed)
        except Exception as exc:  # noqa: BLE001 - a bad file must not hide the others
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"== {path}")
        for err in errors:
            print(f"  error in a cell: {err}")
        if verdicts:
            print(table(verdicts))
        passed = sum(v["passed"] for v in verdicts)
        print(f"{passed} of {len(verdicts)} checks passed in {time.perf_counter() - start:.1f} s")
        if errors or passed < len(verdicts) or not verdicts:
            status = 1
    return status
