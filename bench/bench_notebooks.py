"""How long each solution notebook takes to run top to bottom in a fresh kernel.

The course promises every lesson runs in seconds on a laptop CPU: at most 60 s per solution
notebook, and lesson 05 (which trains four small U-Nets on three seeds) within 2 minutes. This
prints the wall time of each, in the full version a student runs and in the quick version that
nbgrader's grading and the tests run (``coursekit.quick_mode``), and the self-check time.

    .venv/bin/python bench/bench_notebooks.py [ASSIGNMENT ...] [--no-quick] [--no-check]

A benchmark, not a test: times depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder._env import tool_env  # noqa: E402
from autograder.nbgrader.release import assignments  # noqa: E402

BUDGET = {"05_attention_in_networks": 120.0}
DEFAULT_BUDGET = 60.0


def run(path: Path, quick: bool) -> float:
    nb = nbformat.read(path, 4)
    env = tool_env()
    env.pop("SCSE_COURSE_QUICK", None)
    if quick:
        env["SCSE_COURSE_QUICK"] = "1"
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    return time.perf_counter() - start


def self_check(path: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(path), "--seed", "1"],
                          capture_output=True, text=True, env=tool_env())
    if proc.returncode != 0:
        raise RuntimeError(f"self-check failed on {path}:\n{proc.stdout[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--no-quick", action="store_true", help="skip the quick version")
    parser.add_argument("--no-check", action="store_true", help="skip the self-check timing")
    args = parser.parse_args()
    print(f"# solution notebooks, {datetime.date.today()}, {platform.machine()}, "
          f"{os.cpu_count()} cores, python {platform.python_version()}\n")
    print("| assignment | full (s) | budget (s) | quick (s) | self-check (s) |")
    print("|---|---:|---:|---:|---:|")
    over = []
    for aid in args.assignments or assignments():
        path = ROOT / "solutions" / aid / f"{aid}.ipynb"
        full = run(path, quick=False)
        quick = "" if args.no_quick else f"{run(path, quick=True):.1f}"
        check = "" if args.no_check else f"{self_check(path):.1f}"
        budget = BUDGET.get(aid, DEFAULT_BUDGET)
        flag = "" if full <= budget else " (over)"
        if flag:
            over.append(aid)
        print(f"| {aid} | {full:.1f}{flag} | {budget:.0f} | {quick} | {check} |", flush=True)
    if over:
        print(f"\nover budget: {', '.join(over)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
