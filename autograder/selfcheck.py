"""``python -m autograder check NOTEBOOK``: every check of every exercise, for a self-learner.

The notebook's own cells run in a fresh Jupyter kernel (its test cells are skipped), then every
family of every exercise it holds is checked in that kernel, and a table of verdicts with the hint
of each failure is printed. The exit status is 0 only if everything passed.
"""
from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

from ._env import tool_env
from .nbgrader.cells import exercises_in, is_test_cell, read

_RUNNER = """
import json as _json
from autograder import run_check as _run_check
from autograder.exercises import get as _get
_verdicts = []
for _ex_id in {ids!r}:
    _ex = _get(_ex_id)
    _obj = globals().get(_ex.name, None)
    for _family in _ex.families:
        if _obj is None:
            _verdicts.append(dict(exercise=_ex_id, family=_family, passed=False, ran_on=None,
                                  message=f"{{_ex.name}} is not defined: its cell did not run "
                                          "(see the error above) or the name was changed."))
            continue
        _o = _run_check(_ex_id, _family, _obj, seed={seed!r})
        _verdicts.append(dict(exercise=_o.exercise, family=_o.family, passed=_o.passed,
                              message=_o.message, ran_on=_o.ran_on))
print("@@VERDICTS@@" + _json.dumps(_verdicts))
"""


def run(path: str, *, timeout: int = 60, seed: int | None = None) -> tuple[list[dict], list[str]]:
    """Execute the notebook's cells and its checks; ``(verdicts, errors in the student's cells)``."""
    from nbclient import NotebookClient
    import nbformat

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


def table(verdicts: list[dict]) -> str:
    """Exercise x family table, then the hint of every failure."""
    families = ["shape", "values", "gradient", "device"]
    rows = {}
    for v in verdicts:
        rows.setdefault(v["exercise"], {})[v["family"]] = v
    width = max([len(r) for r in rows] + [8])
    lines = [f"{'exercise':{width}}  " + "  ".join(f"{f:9}" for f in families)]
    for ex, fams in rows.items():
        cells = []
        for f in families:
            v = fams.get(f)
            mark = "-" if v is None else "pass" if v["passed"] else "FAIL"
            if v is not None and f == "device" and v.get("ran_on") == "simulated" and v["passed"]:
                mark = "pass(sim)"
            cells.append(f"{mark:9}")
        lines.append(f"{ex:{width}}  " + "  ".join(cells))
    failures = [v for v in verdicts if not v["passed"]]
    if failures:
        lines.append("")
        for v in failures:
            hint = textwrap.indent(textwrap.fill(v["message"], 96, break_long_words=False), "    ")
            lines.append(f"{v['exercise']} / {v['family']}:\n{hint}")
    if any(v.get("ran_on") == "simulated" for v in verdicts):
        lines.append("")
        lines.append("device: no GPU here, so the GPU checks were simulated on the CPU (meta "
                     "device, dtype sweep, memory layouts, attribute scan).")
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
