"""Grading speed: `python -m autograder grade` against plain sequential `nbgrader autograde`.

Builds a scratch course with one lesson and N submissions (answered, unanswered and one typical
mistake per exercise, in turn), then grades them, in one run, with:

- plain nbgrader: one `nbgrader autograde ASSIGNMENT` command, nbgrader's own executor, one
  submission after the other (the baseline an instructor has);
- `python -m autograder grade --mode in-kernel`: the pipeline, test cells in the student's kernel;
- `python -m autograder grade` (isolated, the default): checks in the grader, student code in a
  sandboxed kernel;
- the same two with `--sandbox none` (no OS sandbox: the kernels run as the grading user), to
  measure what the OS sandbox costs. The pipeline's runs take turns, sandbox and not, for
  `--rounds` rounds, and each keeps its fastest round, so that a burst of other work on a shared
  machine slows one round rather than one configuration.

It prints the wall time of each, the speed-up over plain nbgrader, the per-notebook cost, the
isolated/in-kernel ratio, what the OS sandbox adds to each mode (the aim: at most 10% for
isolated grading), and whether every run gave every submission the same scores. ``--startup N``
also times N kernel starts with and without the sandbox (start-up is the cost that should
dominate).

    .venv/bin/python bench/bench_grading.py [--assignment 02_channel_se] [-n 40] [--jobs 2]
        [--rounds 1] [--no-plain] [--startup 0]

This is a benchmark, not a test: numbers depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder._env import tool_env  # noqa: E402
from autograder.nbgrader.course import Course  # noqa: E402
from autograder.nbgrader.cells import grade_id, nbgrader_meta  # noqa: E402


def mistakes(aid: str) -> dict:
    path = ROOT / "tests" / "lesson_mistakes" / f"{aid}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location("mistakes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MISTAKES


def answered(release, solution, replace=None):
    answers = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    answers.update(replace or {})
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(release), 4))
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution") and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def build(folder: Path, aid: str, n: int) -> Course:
    course = Course.scratch(folder, [aid])
    release = nbformat.read(course.release_notebook(aid), 4)
    solution = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", 4)
    wrong = list(mistakes(aid).items())
    for i in range(n):
        kind = i % (2 + len(wrong))
        if kind == 0:
            nb = answered(release, solution)
        elif kind == 1:
            nb = release
        else:
            ex, (source, _) = wrong[kind - 2]
            nb = answered(release, solution, {ex: source})
        course.submit(f"student{i:03d}", aid, nb)
    return course


def scores(course: Course, aid: str, students: list[str]) -> dict:
    return {s: course.scores(aid, s) for s in students}


def messages(course: Course, aid: str, student: str) -> dict:
    """grade_id -> (passed, message) from the pipeline's record, or from the autograded notebook
    (plain nbgrader): the output that decided each graded cell."""
    import json

    record = course.root / ".autograder" / "records" / aid / student / "_submission.json"
    if record.exists():
        data = json.loads(record.read_text())
        return {c["grade_id"]: (c["passed"], c["message"][:300])
                for nb in data["notebooks"].values() for c in nb["cells"]}
    path = course.root / "autograded" / student / aid / f"{aid}.ipynb"
    out = {}
    for cell in nbformat.read(path, 4).cells:
        if nbgrader_meta(cell).get("grade"):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            out[grade_id(cell)] = (not errors, errors[0].get("evalue", "")[:300] if errors else "")
    return out


def reset(course: Course) -> None:
    """Forget earlier grading (records, autograded notebooks), keep the gradebook's cells."""
    import shutil

    for name in (".autograder", "autograded"):
        shutil.rmtree(course.root / name, ignore_errors=True)


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def startup_times(n: int) -> dict[str, list[float]]:
    """Seconds from asking for a kernel to its first answer, ``n`` times with the OS sandbox
    and without it, taking turns."""
    from autograder.kernel.session import KernelSession

    times: dict[str, list[float]] = {"bwrap": [], "none": []}
    for _ in range(n):
        for sandbox in times:
            start = time.perf_counter()
            session = KernelSession(isolated=True, sandbox=sandbox).start()
            times[sandbox].append(time.perf_counter() - start)
            session.shutdown()
    return times


PLAIN = "plain nbgrader, sequential"
PIPELINE = {  # label -> (mode, sandbox)
    "autograder grade --mode in-kernel": ("in-kernel", "bwrap"),
    "autograder grade --mode in-kernel --sandbox none": ("in-kernel", "none"),
    "autograder grade (isolated)": ("isolated", "bwrap"),
    "autograder grade (isolated) --sandbox none": ("isolated", "none"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", default="02_channel_se")
    parser.add_argument("-n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the pipeline's runs; "
                        "each configuration keeps its fastest (default 1)")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader")
    parser.add_argument("--startup", type=int, default=0, metavar="N",
                        help="also time N kernel starts with and without the OS sandbox")
    args = parser.parse_args()
    aid = args.assignment
    print(f"# grading benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores, python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    from autograder.kernel.sandbox import find

    print(f"# OS sandbox: {find().describe()}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = build(Path(tmp) / "course", aid, args.n)
        students = sorted(p.name for p in (course.root / "submitted").iterdir())
        one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        runs: dict[str, list[float]] = {}
        results, why = {}, {}
        if not args.no_plain:
            env = tool_env(AUTOGRADER_MODE="nbgrader", **one_thread)
            runs[PLAIN] = [timed([sys.executable, "-m", "nbgrader", "autograde", aid, "--force"],
                                 course.root, env)]
            results[PLAIN] = scores(course, aid, students)
            why[PLAIN] = {s: messages(course, aid, s) for s in students}
        for _ in range(args.rounds):
            for label, (mode, sandbox) in PIPELINE.items():
                reset(course)
                runs.setdefault(label, []).append(timed(
                    [sys.executable, "-m", "autograder", "grade", aid, "--force", "--mode", mode,
                     "--sandbox", sandbox, "--jobs", str(args.jobs), "--no-progress"],
                    course.root, tool_env(**one_thread)))
                results[label] = scores(course, aid, students)
                why[label] = {s: messages(course, aid, s) for s in students}
        starts = startup_times(args.startup) if args.startup else None
    best = {label: min(seconds) for label, seconds in runs.items()}
    base = best.get(PLAIN)
    print(f"{args.n} submissions of {aid}, {args.jobs} jobs for the pipeline, fastest of "
          f"{args.rounds} round(s), load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| how | wall time (s) | per notebook (s) | speed-up vs plain nbgrader | rounds (s) |")
    print("|---|---:|---:|---:|---|")
    for label, seconds in best.items():
        speed = f"{base / seconds:.2f}x" if base else "-"
        print(f"| {label} | {seconds:.1f} | {seconds / args.n:.2f} | {speed} | "
              f"{', '.join(f'{x:.1f}' for x in runs[label])} |")
    iso = best["autograder grade (isolated)"]
    ink = best["autograder grade --mode in-kernel"]
    print(f"\nisolated / in-kernel time: {iso / ink:.2f} (aim: at most 1.5)")
    for mode, label in (("isolated", "autograder grade (isolated)"),
                        ("in-kernel", "autograder grade --mode in-kernel")):
        ratio = best[label] / best[f"{label} --sandbox none"]
        aim = " (aim: at most 1.10)" if mode == "isolated" else ""
        print(f"OS sandbox / none, {mode}: {ratio:.3f}{aim}")
    if starts:
        import statistics

        for sandbox, seconds in starts.items():
            print(f"kernel start ({sandbox}): median {statistics.median(seconds):.2f} s, "
                  f"fastest {min(seconds):.2f} s of {len(seconds)}")
    reference = results[PLAIN] if PLAIN in results else results["autograder grade (isolated)"]
    same = all(r == reference for r in results.values())
    print(f"identical scores in every run: {'yes' if same else 'NO'}")
    if not same:
        against = PLAIN if PLAIN in results else "autograder grade (isolated)"
        for label, r in results.items():
            for s in students:
                if r[s] != reference[s]:
                    for cell in r[s]:
                        if r[s][cell] != reference[s].get(cell):
                            print(f"  {label}: {s}: {cell} {r[s][cell]} ({against}: "
                                  f"{reference[s].get(cell)})\n    {why[label][s].get(cell)}\n"
                                  f"    {against}: {why[against][s].get(cell)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
