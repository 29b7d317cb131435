"""How long each exercise's visible check and each lesson's ``check_all()`` take, as a student
runs them.

For every lesson, the release notebook with the solutions' answers filled in runs in a fresh
Jupyter kernel (its test cells skipped, heavy cells in their quick version), then, in that same
kernel, each exercise's visible check ``check("<id>", "basic", Name)`` runs ``--repeat`` times
(output discarded) and ``check_all(...)`` once. The one-time import of the exercise catalogue
(which a student's first check pays) is timed apart. The aim (issue #14): under 3 s per exercise
on a laptop CPU.

    .venv/bin/python bench/bench_visible_checks.py [ASSIGNMENT ...] [--repeat 5]

A benchmark, not a test: times depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder._env import tool_env  # noqa: E402
from autograder.nbgrader.cells import grade_id, is_test_cell, nbgrader_meta  # noqa: E402
from autograder.nbgrader.release import assignments  # noqa: E402

AIM = 3.0

_TIMER = """
import contextlib as _contextlib, io as _io, json as _json, time as _time
import torch as _torch
_t = _time.perf_counter()
from autograder import check as _check, check_all as _check_all
from autograder.exercises import get as _get
_import = _time.perf_counter() - _t
_rows = []
for _id in {ids!r}:
    _obj = globals()[_get(_id).name]
    _times = []
    for _ in range({repeat}):
        _t = _time.perf_counter()
        with _contextlib.redirect_stdout(_io.StringIO()):
            _check(_id, "basic", _obj)
        _times.append(_time.perf_counter() - _t)
    _rows.append(dict(id=_id, families=len(_get(_id).families), times=_times))
_t = _time.perf_counter()
with _contextlib.redirect_stdout(_io.StringIO()):
    _check_all(*{ids!r})
_all = _time.perf_counter() - _t
print("@@TIMES@@" + _json.dumps(dict(rows=_rows, check_all=_all, imports=_import,
                                     threads=_torch.get_num_threads())))
"""


def measure(aid: str, repeat: int) -> dict:
    release = nbformat.read(ROOT / "notebooks" / aid / f"{aid}.ipynb", 4)
    solution = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", 4)
    answers = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    ids = [grade_id(c) for c in release.cells if nbgrader_meta(c).get("solution")]
    work = nbformat.v4.new_notebook(metadata=release.metadata)
    for cell in release.cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        if nbgrader_meta(cell).get("solution"):
            cell.source = answers[grade_id(cell)]
        work.cells.append(cell)
    work.cells.append(nbformat.v4.new_code_cell(_TIMER.format(ids=ids, repeat=repeat)))
    env = tool_env(SCSE_COURSE_QUICK="1")
    NotebookClient(work, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks" / aid)}}).execute(env=env)
    text = "".join(o.get("text", "") for o in work.cells[-1].outputs)
    return json.loads(text.split("@@TIMES@@", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each visible check")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# visible checks, {datetime.date.today()}, {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores, load average {load:.1f}, python "
          f"{platform.python_version()}\n")
    print("| lesson | exercise | families | first run (s) | median (s) | slowest (s) | "
          f"under {AIM:g} s |")
    print("|---|---|---:|---:|---:|---:|---|")
    worst = 0.0
    lessons = []
    for aid in args.assignments or assignments():
        result = measure(aid, args.repeat)
        for row in result["rows"]:
            times = row["times"]
            worst = max(worst, max(times))
            print(f"| {aid} | {row['id']} | {row['families']} | {times[0]:.2f} | "
                  f"{statistics.median(times):.2f} | {max(times):.2f} | "
                  f"{'yes' if max(times) < AIM else 'NO'} |", flush=True)
        lessons.append((aid, result["check_all"], result["imports"], result["threads"]))
    print("\n| lesson | check_all() (s) | first import of the checks (s) | kernel torch threads |")
    print("|---|---:|---:|---:|")
    for aid, seconds, imports, threads in lessons:
        print(f"| {aid} | {seconds:.2f} | {imports:.2f} | {threads} |")
    print(f"\nslowest visible check: {worst:.2f} s (aim: under {AIM:g} s per exercise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
