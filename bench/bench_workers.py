"""What a local grading worker costs to start: fresh interpreters ("spawn") against workers forked
from a fork server that imported the grader once ("forkserver", what ``--jobs N`` uses where the
platform has it; :func:`autograder.batch.executors.worker_context`).

A worker is ready to grade when it has imported what grading needs
(:data:`autograder.batch.executors.WORKER_PRELOAD`: the task, the notebook grader, the checks,
nbgrader's preprocessors; torch and nbformat with them). For each start method, in a fresh
interpreter of its own (so that the fork server's own start is counted), the script starts
``--workers`` workers one after the other, as the executor does, ``--runs`` times (a second
``grade`` call in one process, or the fresh workers that replace retired or dead ones), and
measures the wall time until every worker of a run is ready and the CPU time that cost: the
workers' own, plus, for the fork server, the server's.

    .venv/bin/python bench/bench_workers.py [--workers 2] [--runs 3]

This is a benchmark, not a test: numbers depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ready(conn) -> None:
    """A worker: import what grading needs, say how much CPU that took, end."""
    import importlib

    from autograder.batch.executors import WORKER_PRELOAD

    for name in WORKER_PRELOAD:
        importlib.import_module(name)
    t = os.times()
    conn.send(t.user + t.system)
    conn.close()


def _inner(method: str, workers: int, runs: int) -> dict:
    import multiprocessing as mp

    from autograder.batch.executors import worker_context

    ctx = worker_context() if method == "forkserver" else mp.get_context("spawn")
    if ctx.get_start_method() != method:
        raise SystemExit(f"{method} is not available here")
    out = {"runs": []}
    for _ in range(runs):
        began = time.perf_counter()
        cpu = 0.0
        for _ in range(workers):               # one after the other, as the executor starts them
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_ready, args=(child,))
            proc.start()
            child.close()
            cpu += parent.recv()
            proc.join()
        out["runs"].append({"wall": time.perf_counter() - began, "workers_cpu": cpu})
    if method == "forkserver":
        import psutil
        from multiprocessing import forkserver

        server = psutil.Process(forkserver._forkserver._forkserver_pid)
        times = server.cpu_times()
        out["server_cpu"] = times.user + times.system
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--inner", choices=("spawn", "forkserver"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        print(json.dumps(_inner(args.inner, args.workers, args.runs)))
        return 0
    print(f"# local worker start-up, {datetime.date.today()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {args.workers} workers per run, {args.runs} runs")
    results = {}
    for method in ("spawn", "forkserver"):
        proc = subprocess.run([sys.executable, __file__, "--inner", method, "--workers",
                               str(args.workers), "--runs", str(args.runs)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{method}: failed\n{proc.stderr[-2000:]}")
            continue
        results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{'method':<11} {'run':>3} {'wall s':>8} {'CPU s':>8}")
    totals = {}
    for method, r in results.items():
        for i, run in enumerate(r["runs"], 1):
            cpu = run["workers_cpu"] + (r.get("server_cpu", 0.0) if i == 1 else 0.0)
            print(f"{method:<11} {i:>3} {run['wall']:8.2f} {cpu:8.2f}")
        totals[method] = (sum(x["wall"] for x in r["runs"]),
                          sum(x["workers_cpu"] for x in r["runs"]) + r.get("server_cpu", 0.0))
    if len(totals) == 2:
        (sw, sc), (fw, fc) = totals["spawn"], totals["forkserver"]
        n = args.workers * args.runs
        print(f"per worker: spawn {sw / n:.2f} s wall, {sc / n:.2f} s CPU; forkserver "
              f"{fw / n:.2f} s wall, {fc / n:.2f} s CPU (the server's start included)")
        print(f"forkserver / spawn over {n} workers: wall {fw / sw:.2f}, CPU {fc / sc:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
