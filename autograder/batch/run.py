"""``python -m autograder grade``: every submission graded, in parallel or on a cluster, resumable.

One code path, two executors:

- the **coordinator** (:mod:`.coordinator`, in this process) reads the course once, skips every
  submission whose record matches its files (unless ``--force``), sends each of the others as
  data to an executor and alone writes what comes back: the gradebook, the autograded notebooks,
  the records; then the reports (:mod:`autograder.reports`);
- the **task** (:func:`autograder.batch.task.grade_submission`) grades one submission from its
  bytes and the course data, and reads no course folder;
- the **executor** (:mod:`.executors`) runs the tasks: ``--jobs N`` local processes, or
  ``--cluster tcp://HOST:8786`` (a running Dask scheduler) / ``--cluster local:N`` (a Dask
  ``LocalCluster`` of N processes).

Scores, the progress bar, resumability (a killed run loses nothing; the next run grades the rest)
and what happens to bad submissions are the same with either executor.
"""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..kernel.limits import Limits
from ..nbgrader.grader import MODES
from ..nbgrader.store import load_config, load_record
from .coordinator import Coordinator, Task
from .executors import ClusterError, executor_for

__all__ = ["ClusterError", "Options", "Summary", "Task", "grade", "load_record"]


@dataclass
class Options:
    mode: str = "isolated"
    sandbox: str = "bwrap"         # "none": kernels without the OS sandbox (reports say so)
    jobs: int = 0                  # 0: one per CPU core (local processes)
    cluster: str | None = None     # a Dask scheduler's address, or local:N; None: local processes
    force: bool = False
    cell_timeout: float = Limits.cell_timeout          # CPU seconds
    exercise_timeout: float = Limits.exercise_timeout  # CPU seconds
    memory_mb: int = Limits.memory_mb
    seed: int = -1                 # -1: a fresh secret seed for each submission
    gradescope: bool = False
    progress: bool = True
    reports: bool = True

    def limits(self) -> Limits:
        """The limits each task's kernel runs under (they travel with the task)."""
        return Limits(memory_mb=self.memory_mb, cell_timeout=self.cell_timeout,
                      exercise_timeout=self.exercise_timeout)

    def fresh_seed(self) -> int:
        return secrets.randbits(62) if self.seed < 0 else self.seed


@dataclass
class Summary:
    graded: list[Task] = field(default_factory=list)
    skipped: list[Task] = field(default_factory=list)
    failed: list[tuple[Task, str]] = field(default_factory=list)
    seconds: float = 0.0
    report_dir: Path | None = None
    executor: str = ""                 # where the tasks ran
    workers: int = 0                   # worker processes (or threads) when the run began
    startup_seconds: float = 0.0       # starting the executor (a LocalCluster, connecting)
    task_seconds: list[float] = field(default_factory=list)    # each task, on its worker
    write_seconds: list[float] = field(default_factory=list)   # each result, by the coordinator


def grade(root: str | Path = ".", assignments: list[str] | None = None,
          options: Options | None = None) -> Summary:
    """Grade every submission of ``assignments`` (default: all) in the course at ``root``."""
    options = options or Options()
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {options.mode!r}")
    from ..kernel.sandbox import SANDBOXES, find

    if options.sandbox not in SANDBOXES:
        raise ValueError(f"sandbox must be one of {SANDBOXES}, got {options.sandbox!r}")
    if options.sandbox != "none" and options.cluster is None:
        find()   # SandboxUnavailable, naming the cause and the fix, before any work starts
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").exists():
        raise FileNotFoundError(f"{root} is not a course directory (no nbgrader_config.py)")
    config = load_config(root)
    summary = Summary()
    start = time.monotonic()
    with Coordinator(root, config) as coordinator:
        missing = [a for a in assignments or [] if a not in coordinator.specs]
        if missing:
            raise ValueError(f"unknown assignment(s) {missing}: the gradebook has "
                             f"{sorted(coordinator.specs)} (run nbgrader generate_assignment "
                             "first)")
        tasks = coordinator.find_tasks(assignments)
        todo = []
        for task in tasks:
            if not options.force and coordinator.is_graded(task, coordinator.read(task, False)):
                summary.skipped.append(task)
            else:
                todo.append(task)
        if todo:
            jobs = max(1, min(options.jobs or os.cpu_count() or 1, len(todo)))
            began = time.monotonic()
            with executor_for(options.cluster, jobs) as executor:
                summary.startup_seconds = time.monotonic() - began
                summary.workers = executor.workers
                _run(coordinator, executor, todo, options, summary)
    summary.seconds = time.monotonic() - start
    if options.reports:
        from ..reports.build import write_reports

        summary.report_dir = write_reports(root, sorted({t.assignment for t in tasks}),
                                           gradescope=options.gradescope, config=config)
    return summary


def _run(coordinator: Coordinator, executor, todo: list[Task], options: Options,
         summary: Summary) -> None:
    """Send ``todo`` to ``executor``, one submission read at a time, and save every result."""
    from tqdm import tqdm

    hashes: dict[Task, str] = {}
    limits = options.limits()

    def inputs():
        for task in todo:
            submission = coordinator.read(task)
            hashes[task] = submission.sha256
            yield coordinator.task_input(task, submission, mode=options.mode, limits=limits,
                                         seed=options.fresh_seed(), sandbox=options.sandbox)

    summary.executor = executor.description
    bar = tqdm(total=len(todo), unit="sub", disable=not options.progress,
               desc=f"grading ({options.mode}, {executor.description})")

    def tally(written) -> None:
        for w in written:
            summary.write_seconds.append(w.seconds)
            if w.status == "graded":
                summary.graded.append(w.task)
            else:
                summary.failed.append((w.task, w.error or "?"))
        if written:
            bar.update(len(written))
            bar.set_postfix(done=len(summary.graded), failed=len(summary.failed),
                            left=len(todo) - len(summary.graded) - len(summary.failed))

    try:
        for item in executor.run(inputs()):
            if item is None:             # no other result is waiting: commit what there is
                tally(coordinator.commit())
                continue
            given, out = item
            summary.task_seconds.append(out.seconds)
            tally(coordinator.add(out, hashes.pop(Task(given.assignment, given.student))))
    finally:
        tally(coordinator.commit())      # also when stopped: what was graded is kept
        bar.close()
