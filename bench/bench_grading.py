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

With ``--cluster`` it measures the cluster path instead, in one run: the same class graded with
``--jobs J`` (local processes) and with ``--cluster local:J`` (a Dask LocalCluster of J worker
processes), and with ``--scheduler tcp://HOST:8786`` also on that running cluster. It prints the
tasks per second and the cost per submission of each (wall time after the executor started,
times the workers, over the submissions), their ratio (the aim: the cluster costs at most 10%
more per submission), the coordinator's cost of writing one result (gradebook, autograded
notebook, record) measured separately by replaying the results into a fresh copy of the course
with nothing else running (one commit per result, and results committed together), and from
those costs how the wall time of 20,000 submissions scales with the number of workers.

    .venv/bin/python bench/bench_grading.py --cluster [-n 40] [--jobs 2] [--rounds 2]
                                            [--scheduler ADDRESS]

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


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if ordered else float("nan")


def cluster_mode(args) -> int:
    """The cluster path against local processes, the coordinator's write cost, the scaling."""
    import shutil

    import autograder.batch.run as run
    from autograder.batch.coordinator import GROUP, Coordinator
    from autograder.nbgrader.store import load_config

    kept: list = []

    class Keeping(Coordinator):
        """The coordinator, keeping each result for the write-cost replay."""

        def add(self, out, sha256):
            kept.append((out, sha256))
            return super().add(out, sha256)

    run.Coordinator = Keeping
    aid, n, jobs = args.assignment, args.n, args.jobs
    ways = {f"--jobs {jobs}": {"jobs": jobs}, f"--cluster local:{jobs}": {"cluster": f"local:{jobs}"}}
    if args.scheduler:
        ways[f"--cluster {args.scheduler}"] = {"cluster": args.scheduler}
    # rounds in the order A B B A A B ...: a machine that gets busier or quieter during the run
    # weighs on every way alike
    order = [list(ways)[::1 if r % 2 == 0 else -1] for r in range(args.rounds)]
    results, runs = {}, {label: [] for label in ways}
    outputs: list = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        template = build(Path(tmp) / "template", aid, n)
        students = sorted(p.name for p in (template.root / "submitted").iterdir())
        for r, labels in enumerate(order):
            for label in labels:
                course = Course(Path(tmp) / f"round{r}-{len(runs[label])}-{label[2:6]}")
                shutil.copytree(template.root, course.root)
                kept.clear()
                options = run.Options(**ways[label], seed=1234, progress=False, reports=False)
                began = time.perf_counter()
                summary = run.grade(course.root, [aid], options)
                wall = time.perf_counter() - began
                if summary.failed:
                    print(f"{label}: {len(summary.failed)} failed: {summary.failed[:3]}")
                results[(label, r)] = scores(course, aid, students)
                grading = wall - summary.startup_seconds
                workers = summary.workers or jobs
                runs[label].append((wall, summary.startup_seconds, grading, n / grading,
                                    grading * workers / n, _median(summary.task_seconds),
                                    _median(summary.write_seconds)))
                if not outputs:
                    outputs = list(kept)
                shutil.rmtree(course.root)
        # the write cost alone: the first run's results written again into fresh copies
        fsync = bare_commit(Path(tmp))
        single, grouped = [], []
        for label, group in (("one commit per result", 1), (f"{GROUP} per commit", GROUP)):
            course = Path(tmp) / f"replay-{group}"
            shutil.copytree(template.root, course)
            with Coordinator(course, load_config(course)) as coordinator:
                times = single if group == 1 else grouped
                for k, (out, sha) in enumerate(outputs):
                    written = coordinator.add(out, sha)
                    if group == 1 or k == len(outputs) - 1:
                        written += coordinator.commit()
                    times += [w.seconds for w in written]
    print(f"{n} submissions of {aid}, {args.rounds} rounds (order A B B A ...); per-submission "
          "cost = (wall - executor start) x workers / submissions\n")
    print("| how | round | wall (s) | executor start (s) | grading (s) | tasks/s | per submission "
          "(s) | task on its worker, median (s) | write, median (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, rows in runs.items():
        for r, (wall, startup, grading, rate, per, task, write) in enumerate(rows):
            print(f"| {label} | {r + 1} | {wall:.1f} | {startup:.1f} | {grading:.1f} | "
                  f"{rate:.2f} | {per:.2f} | {task:.2f} | {1000 * write:.0f} |")
    per = {label: _median([row[4] for row in rows]) for label, rows in runs.items()}
    base_label = list(ways)[0]
    for label in list(ways)[1:]:
        print(f"\n{label} / {base_label}, median cost per submission over the rounds: "
              f"{per[label]:.2f} / {per[base_label]:.2f} s = {per[label] / per[base_label]:.2f} "
              "(aim: at most 1.10)")
    reference = next(iter(results.values()))
    same = all(r == reference for r in results.values())
    print(f"identical scores every way and round: {'yes' if same else 'NO'}")
    print(f"\ncoordinator's write per submission (gradebook rows, autograded notebook, record), "
          f"alone, {len(single)} results written into a fresh gradebook (new submissions):")
    print(f"- one commit per result: median {1000 * _median(single):.1f} ms, p90 "
          f"{1000 * _p90(single):.1f} ms")
    print(f"- results committed together ({GROUP} at most, as when many arrive at once): median "
          f"{1000 * _median(grouped):.1f} ms, p90 {1000 * _p90(grouped):.1f} ms")
    print(f"- (a bare sqlite commit on this disk: {1000 * fsync:.1f} ms) aim: under 50 ms")
    task = _median([row[5] for rows in runs.values() for row in rows])
    total = 20000
    print(f"\n20,000 submissions, from these costs: wall = N x max({task:.2f} s / workers, "
          "write per submission). Writing overlaps grading; once results arrive faster than the "
          "coordinator commits them one by one, they wait together and share a commit, so the "
          "bound is the cost of results committed together\n")
    print(f"| workers | grading alone | writing, one commit each ({1000 * _median(single):.0f} "
          f"ms) | writing, committed together ({1000 * _median(grouped):.0f} ms) | wall time |")
    print("|---:|---:|---:|---:|---:|")
    for workers in (1, 2, 10, 50, 100, 200, 500, 1000):
        grading = total * task / workers
        one, together = total * _median(single), total * _median(grouped)
        print(f"| {workers} | {_duration(grading)} | {_duration(one)} | {_duration(together)} | "
              f"{_duration(max(grading, together))} |")
    return 0 if same else 1


def bare_commit(folder: Path, n: int = 30) -> float:
    """Median seconds of one sqlite commit of one row on this disk: what a commit costs before
    any gradebook work."""
    import sqlite3

    db = sqlite3.connect(folder / "fsync.db")
    db.execute("create table t (x integer)")
    times = []
    for i in range(n):
        began = time.perf_counter()
        db.execute("insert into t values (?)", (i,))
        db.commit()
        times.append(time.perf_counter() - began)
    db.close()
    return _median(times)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


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
    parser.add_argument("--cluster", action="store_true", help="measure the cluster path: local "
                        "processes against a Dask LocalCluster, and the coordinator's writes")
    parser.add_argument("--scheduler", default=None, help="with --cluster: also grade on the "
                        "running Dask cluster at this address (tcp://HOST:8786)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds: each configuration "
                        "keeps its fastest (default 1); with --cluster, times each way grades "
                        "the class, alternating (default 2)")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader")
    parser.add_argument("--startup", type=int, default=0, metavar="N",
                        help="also time N kernel starts with and without the OS sandbox")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 2 if args.cluster else 1
    aid = args.assignment
    print(f"# grading benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores, python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    from autograder.kernel.sandbox import find

    print(f"# OS sandbox: {find().describe()}")
    if args.cluster:
        return cluster_mode(args)
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
