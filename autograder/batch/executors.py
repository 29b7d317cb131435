"""Where the tasks run: local processes (``--jobs N``) or a Dask cluster (``--cluster ADDRESS``).

Both run the same function, :func:`autograder.batch.task.grade_submission`, on the same
:class:`~autograder.batch.task.TaskInput`, and yield ``(input, output)`` pairs as tasks finish,
and ``None`` whenever no other result is waiting (the coordinator then commits what it has).
Both keep only a few tasks in flight beyond the number of workers, so the coordinator never holds
more than that many submissions in memory, however large the class.

A worker that dies mid-task (killed, out of memory, a crash of the grader) does not lose the
submission: it is graded again elsewhere. A submission whose grading was running when two workers
died is given up, and comes back as a failed output (``status="error"``) for the coordinator to
record, and the batch goes on. Only deaths while a submission was *running* count against it, not
while it waited for a busy worker:

- locally, each worker process grades one task at a time, so a process that dies names the task
  it was grading; that task is run again on a fresh process;
- on Dask, the scheduler reschedules the tasks of a dead worker by itself; each task reports when
  it starts (a Dask event), so a start beyond the first means that a worker died running it. At
  its third start the coordinator gives it up and cancels it. (Dask's own rule,
  ``distributed.scheduler.allowed-failures``, counts also the tasks that only waited on a dead
  worker; it stays as the scheduler has it, 3 by default, and its ``KilledWorker`` gives a task up
  the same way.)
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections import deque
from typing import Iterable, Iterator

from .task import TaskInput, TaskOutput, grade_submission

#: workers that may die running one submission; one more, and it is given up
ALLOWED_FAILURES = 1
#: the Dask event topic on which each task says that it started, and where
STARTED = "autograder-started"
#: a local worker process grades this many submissions, then a fresh one takes over (memory)
TASKS_PER_PROCESS = 50

Results = Iterator[tuple[TaskInput, TaskOutput] | None]


class ClusterError(RuntimeError):
    """The cluster failed (not a submission): the run stops, and what was recorded stays."""


def given_up(task: TaskInput, deaths: int) -> TaskOutput:
    """The output of a submission whose grading killed its worker more than once."""
    return TaskOutput(task.assignment, task.student, "error",
                      error=f"not graded: {deaths} grading workers died while grading this "
                            "submission (killed by the system, out of memory, or a crash of the "
                            "grader), so it was given up. Grade it by hand, or grade it again "
                            "with more memory per worker.")


#: what a local worker imports before its first task. The workers are forked from one server
#: process that has imported these once (multiprocessing's "forkserver"), instead of each starting
#: a fresh interpreter that imports torch, nbformat and nbgrader again (about 3.5 s of CPU per
#: worker; bench/bench_workers.py). The server lives as long as the process that grades, so the
#: workers of later runs, and the fresh ones that replace a dead or retired worker, start in
#: milliseconds.
WORKER_PRELOAD = ("autograder.batch.executors", "autograder.batch.task",
                  "autograder.nbgrader.grader", "autograder.exercises", "nbconvert.preprocessors",
                  "nbgrader.preprocessors", "nbgrader.utils")


def worker_context():
    """The multiprocessing context of the local workers: the fork server where the platform has
    one (Linux, macOS), else fresh interpreters ("spawn")."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    return ctx


def _serve(conn, environ: dict[str, str] | None = None) -> None:
    """A local worker process: grade each task it is sent, until it is sent ``None``.
    ``environ``: the grading process's environment when it started the worker (a forked worker
    would otherwise have the fork server's, from the first run)."""
    from ..nbgrader.grader import SPARE

    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            conn.send(grade_submission(task))
    finally:
        SPARE.close()   # a forked worker ends with os._exit: no atexit handler shuts it down


class _Process:
    """One local worker process and the task it is grading."""

    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, dict(os.environ)),
                                name="autograder-worker")
        self.proc.start()
        child.close()
        self.task: TaskInput | None = None
        self.graded = 0

    def stop(self, wait: bool) -> None:
        """Let the process end normally (it shuts its spare kernel down), or end it now."""
        if wait and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
        self.conn.close()


class _Queue:
    """The tasks still to send to local workers: first those whose worker died (``again``), then
    the inputs, read one task per worker ahead. Each task sent says whether its worker should
    start a kernel for the next one: only while at least one task per worker is still waiting
    (a kernel started ahead for nothing costs a whole start-up); and for which assignment: the
    one of the task ``jobs`` places on (the workers take turns), so that where the class moves
    to another assignment the kernel started ahead fits it."""

    def __init__(self, inputs: Iterable[TaskInput], jobs: int):
        self.inputs = iter(inputs)
        self.jobs = jobs
        self.read: deque[TaskInput] = deque()
        self.again: deque[TaskInput] = deque()

    def next(self) -> TaskInput | None:
        while len(self.read) <= self.jobs:
            task = next(self.inputs, None)
            if task is None:
                break
            self.read.append(task)
        task = self.again.popleft() if self.again else \
            (self.read.popleft() if self.read else None)
        if task is None:
            return None
        waiting = [*self.again, *self.read]
        if len(waiting) < self.jobs:
            return dataclasses.replace(task, ahead=False, next_spec=None)
        return dataclasses.replace(task, ahead=True, next_spec=waiting[self.jobs - 1].spec)


class LocalExecutor:
    """``jobs`` local worker processes (:func:`worker_context`), each grading one task at a
    time."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self.workers = self.jobs
        self.description = f"{self.jobs} job{'s' if self.jobs > 1 else ''}"

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def run(self, inputs: Iterable[TaskInput]) -> Results:
        from multiprocessing.connection import wait

        ctx = worker_context()
        queue = _Queue(inputs, self.jobs)
        deaths: dict[tuple, int] = {}        # (assignment, student) -> workers died running it
        workers = [_Process(ctx) for _ in range(self.jobs)]
        clean = False
        try:
            while True:
                for i, worker in enumerate(workers):
                    if worker.task is None:
                        task = queue.next()
                        if task is None:
                            continue
                        try:
                            worker.conn.send(task)
                            worker.task = task
                        except OSError:          # it died between two tasks: not the task's doing
                            queue.again.appendleft(task)
                            worker.stop(wait=False)
                            workers[i] = _Process(ctx)
                busy = [w for w in workers if w.task is not None]
                if not busy:
                    break
                wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
                for i, worker in enumerate(workers):
                    task = worker.task
                    if task is None:
                        continue
                    if worker.conn.poll():
                        try:
                            out = worker.conn.recv()
                        except (EOFError, OSError):
                            out = None
                        if out is not None:
                            worker.task = None
                            worker.graded += 1
                            if worker.graded >= TASKS_PER_PROCESS:
                                worker.stop(wait=True)
                                workers[i] = _Process(ctx)
                            yield task, out
                            continue
                    if worker.proc.is_alive():
                        continue
                    # the process died while grading ``task``
                    worker.stop(wait=False)
                    workers[i] = _Process(ctx)
                    key = (task.assignment, task.student)
                    deaths[key] = deaths.get(key, 0) + 1
                    if deaths[key] > ALLOWED_FAILURES:
                        yield task, given_up(task, deaths[key])
                    else:
                        queue.again.append(task)
                yield None
            clean = True
        finally:
            for worker in workers:
                worker.stop(wait=clean)


def _grade_on_dask(task: TaskInput, submission: str) -> TaskOutput:
    """What a Dask worker runs: say that the task started, then grade it."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(STARTED, {"submission": submission, "worker": worker.address})
    return grade_submission(task)


class DaskExecutor:
    """Tasks on a Dask cluster: ``local:N`` starts a ``LocalCluster`` of N worker processes with
    one thread each; anything else is the address of a running scheduler (``tcp://HOST:8786``)."""

    def __init__(self, address: str):
        self.address = address
        self.cluster = None
        self.client = None
        self.workers = 0
        self.description = f"cluster {address}"
        self.starts: dict[str, int] = {}

    def __enter__(self) -> "DaskExecutor":
        from distributed import Client, LocalCluster

        if self.address.startswith("local:"):
            count = self.address.removeprefix("local:")
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"--cluster local:N needs a number of workers N >= 1, got "
                                 f"{self.address!r}")
            self.cluster = LocalCluster(n_workers=int(count), threads_per_worker=1,
                                        processes=True, dashboard_address=":0",
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.address, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"no Dask scheduler answered at {self.address} ({exc}); "
                                   "start one with `dask scheduler` (see the README, "
                                   "'Grading on a cluster')") from None
        self.client.subscribe_topic(STARTED, self._started)
        self.workers = self._threads()
        self.description = f"cluster {self.address}, {self.workers} workers"
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.client is not None:
                self.client.unsubscribe_topic(STARTED)
                self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def _started(self, event) -> None:
        """A task started on a worker (called in the client's event loop)."""
        _, message = event
        name = message["submission"]
        self.starts[name] = self.starts.get(name, 0) + 1

    def _threads(self) -> int:
        return sum(self.client.nthreads().values())

    def run(self, inputs: Iterable[TaskInput]) -> Results:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        inputs = iter(inputs)
        names = itertools.count()
        futures: dict = {}                   # future -> (task input, submission name)
        running = as_completed()
        refreshed, window = 0.0, 4

        def submit() -> bool:
            task = next(inputs, None)
            if task is None:
                return False
            number = next(names)
            name = f"{task.assignment}/{task.student}/{number}"
            future = self.client.submit(_grade_on_dask, task, name, pure=False, retries=0,
                                        key=f"grade-{number}-{os.getpid()}-"
                                            f"{task.assignment}-{task.student}")
            futures[future] = (task, name)
            running.add(future)
            return True

        try:
            while True:
                if time.monotonic() - refreshed > 2.0:   # workers may come and go
                    window = max(4, 2 * self._threads())
                    refreshed = time.monotonic()
                while len(futures) < window and submit():
                    pass
                if not futures:
                    break
                done = running.next_batch(block=False)
                if not done:
                    for future, (task, name) in list(futures.items()):
                        deaths = self.starts.get(name, 0) - 1
                        if deaths > ALLOWED_FAILURES:    # it started again: give it up
                            del futures[future]
                            future.cancel()
                            yield task, given_up(task, deaths)
                    time.sleep(0.02)
                    continue
                for future in done:
                    if future not in futures:           # given up and cancelled above
                        continue
                    task, name = futures.pop(future)
                    if future.status == "finished":
                        yield task, future.result()
                    else:
                        error = future.exception() if future.status == "error" else None
                        if not isinstance(error, KilledWorker):
                            raise ClusterError(
                                f"the cluster could not run the grading of {task.student} / "
                                f"{task.assignment} ({future.status}: {error!r}). Do the "
                                "workers have the course package installed, with the same "
                                "versions as here? (see the README, 'Grading on a cluster')")
                        yield task, given_up(task, error.allowed_failures + 1)
                    future.release()
                if not running.has_ready():
                    yield None
        finally:
            for future in futures:
                future.cancel()


def executor_for(cluster: str | None, jobs: int):
    return DaskExecutor(cluster) if cluster else LocalExecutor(jobs)
