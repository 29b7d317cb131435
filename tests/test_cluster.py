"""Grading on a Dask cluster: the same grader, the same grades, workers and coordinators that die.

Real services only: a ``LocalCluster`` of worker processes, and a ``dask scheduler`` with two
``dask worker`` processes that this module starts on 127.0.0.1 (free ports) and stops afterwards,
checking that nothing it started is left running. The class is the grading tests' toy course
(:mod:`tests.grading_fixture`), kept small: every submission costs a kernel start.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder._env import tool_env
from autograder.batch.coordinator import JOURNAL, Coordinator, Task
from autograder.batch.run import Options, grade, load_record
from autograder.batch.task import grade_submission
from autograder.nbgrader.course import Course
from autograder.nbgrader.store import load_config
from tests.grading_fixture import GAP, POINTS, answered, make_course

FAST = dict(exercise_timeout=6.0, cell_timeout=6.0, memory_mb=2048, progress=False)
FULL = {k: (float(v), float(v)) for k, v in POINTS.items()}
BIN = Path(sys.executable).parent


def stalls(marker: str) -> str:
    """An answer that is right, then leaves ``marker`` in its kernel's folder and sleeps past the
    cell time limit: the tests find the worker grading it by that file, and kill it."""
    return GAP + f"import time\nopen({marker!r}, 'w').close()\ntime.sleep(30)\n"


# --- a real Dask cluster on this machine -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``dask scheduler`` + ``dask worker`` processes, each in its own session (process group)."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder = folder
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        env = tool_env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self._start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                     str(self.port), "--no-dashboard", "--dashboard-address", "127.0.0.1:0"],
                    env, "scheduler")
        for i in range(workers):
            self._start([str(BIN / "dask"), "worker", self.address, "--nthreads", "1",
                         "--nworkers", "1", "--no-dashboard", "--name", f"w{i}",
                         "--local-directory", str(folder / f"w{i}"), "--death-timeout", "60"],
                        env, f"w{i}")

    def _start(self, argv, env, name) -> None:
        log = open(self.folder / f"{name}.log", "wb")
        self.procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def wait(self, workers: int = 2, timeout: float = 180) -> None:
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=timeout)

    def family(self) -> set[int]:
        """Every process this cluster started, down to the grading kernels."""
        pids = set()
        for proc in self.procs:
            try:
                p = psutil.Process(proc.pid)
                pids |= {p.pid} | {c.pid for c in p.children(recursive=True)}
            except psutil.NoSuchProcess:
                pass
        return pids

    def stop(self) -> set[int]:
        """Stop the workers, then the scheduler; return what is still running (nothing, unless
        something leaked)."""
        started = self.family()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(psutil.pid_exists(p) and
                                                  psutil.Process(p).status() != "zombie"
                                                  for p in started):
            time.sleep(0.2)
        return {p for p in started if psutil.pid_exists(p)
                and psutil.Process(p).status() != "zombie"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        cluster.wait()
        yield cluster
    finally:
        left = cluster.stop()
    assert not left, f"processes left behind by the cluster: {left}"


def worker_grading(marker: str) -> psutil.Process | None:
    """The worker process whose grading kernel holds ``marker`` in its folder (a kernel runs in a
    folder of its own, under the worker that started it)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "autograder.kernel.entry" not in cmd:
            continue
        try:
            if not os.path.exists(f"/proc/{proc.pid}/cwd/{marker}"):
                continue
            for parent in proc.parents():
                # a Dask worker (spawned by its nanny) or a local one (forked by the fork server)
                if any(w in " ".join(parent.cmdline()) for w in ("spawn_main", "forkserver")):
                    return parent
        except (psutil.NoSuchProcess, PermissionError, FileNotFoundError):
            continue
    return None


class Killer(threading.Thread):
    """Kills (SIGKILL) the worker that grades ``marker``'s submission, ``times`` times."""

    def __init__(self, plan: dict[str, int]):
        super().__init__(daemon=True)
        self.plan = dict(plan)
        self.killed: dict[str, list[int]] = {m: [] for m in plan}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for marker, times in self.plan.items():
                if len(self.killed[marker]) >= times:
                    continue
                worker = worker_grading(marker)
                if worker is not None and worker.pid not in self.killed[marker]:
                    worker.send_signal(signal.SIGKILL)
                    self.killed[marker].append(worker.pid)
            time.sleep(0.1)


# --- the class ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Course:
    """A class in which two students hand in both assignments (the coordinator alone writes the
    gradebook: two workers grading one new student's two assignments at once used to both insert
    the student), with a wrong answer and a file that is not JSON."""
    course = make_course(tmp_path_factory.mktemp("cluster-class"))
    toy = {"ada": answered(course),
           "bob": answered(course, {"global_avg_pool": GAP.replace("mean", "amax")}),
           "dee": b"this is not json {"}
    for student, content in toy.items():
        course.submit(student, "toy", content)
    for student in ("ada", "bob"):
        course.submit(student, "other", answered(course, aid="other"))
    return course


def copy_of(template: Course, folder: Path) -> Course:
    shutil.copytree(template.root, folder)
    return Course(folder)


def outcome(course: Course) -> dict:
    """What a grading run leaves for people: the gradebook's scores, grades.csv and the feedback
    (without the line that says how long grading took)."""
    with course.gradebook() as gb:
        pairs = [(a.name, s.student.id) for a in gb.assignments for s in a.submissions]
    scores = {pair: course.scores(*pair) for pair in sorted(pairs)}
    feedback = {str(p.relative_to(course.root)): re.sub(r" Grading took [\d.]+ s\.", "",
                                                          p.read_text())
                for p in sorted((course.root / "feedback").rglob("*.html"))}
    return {"scores": scores, "csv": (course.root / "reports" / "grades.csv").read_text(),
            "feedback": feedback}


def journal(course: Course) -> list[dict]:
    path = course.root / JOURNAL
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- the tests ------------------------------------------------------------------------------------


def test_the_task_grades_from_data_alone_with_no_course_folder(template, tmp_path, monkeypatch):
    course = copy_of(template, tmp_path / "course")
    with Coordinator(course.root, load_config(course.root)) as coordinator:
        task = Task("toy", "bob")
        given = coordinator.task_input(task, coordinator.read(task), mode="isolated",
                                       limits=Options(**FAST).limits(), seed=7)
    shutil.rmtree(course.root)                     # nothing of the course is left to read
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    out = grade_submission(given)
    assert out.status == "graded", out.error
    assert out.notebooks["toy"].scores == {"global_avg_pool_values": 0.0,
                                           "global_avg_pool_gradient": 0.0,
                                           "excitation_values": 2.0, "excitation_device": 1.0}
    autograded = nbformat.reads(out.notebooks["toy"].autograded, 4)
    hidden = [c.source for c in autograded.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) == len(POINTS), "the hidden tests come from the course data, not the file"
    assert list(empty.iterdir()) == [], "the task wrote into its working folder"


@pytest.mark.parametrize("address", ["local:0", "local:four"])
def test_a_bad_local_cluster_size_is_refused_with_a_clear_message(template, tmp_path, address):
    course = copy_of(template, tmp_path / "course")
    with pytest.raises(ValueError, match="local:N needs a number of workers N >= 1"):
        grade(course.root, None, Options(**FAST, cluster=address))
    assert not (course.root / JOURNAL).exists()


def test_the_command_takes_jobs_or_a_cluster_not_both(template, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "--jobs", "2",
                           "--cluster", "local:2"], cwd=template.root, env=tool_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr, proc.stderr


def test_the_same_class_graded_three_ways_gets_the_same_grades(template, cluster, tmp_path):
    ways = {"--jobs 2": dict(jobs=2), "--cluster local:2": dict(cluster="local:2"),
            "--cluster tcp://": dict(cluster=cluster.address)}
    results = {}
    for way, where in ways.items():
        course = copy_of(template, tmp_path / re.sub(r"\W+", "_", way))
        summary = grade(course.root, None, Options(**FAST, **where, seed=1234))
        assert not summary.failed, (way, summary.failed)
        assert len(summary.graded) == 5, way
        results[way] = outcome(course)
        assert results[way]["scores"][("toy", "ada")] == FULL
        assert results[way]["scores"][("toy", "bob")]["global_avg_pool_values"] == (0.0, 2.0)
        assert {(line["assignment"], line["student"]) for line in journal(course)} == \
            set(results[way]["scores"])
    first = results["--jobs 2"]
    for way, result in results.items():
        assert result["scores"] == first["scores"], way
        assert result["csv"] == first["csv"], way
        assert result["feedback"] == first["feedback"], way
    assert "not JSON" in first["feedback"]["feedback/dee/toy/toy.html"]


@pytest.mark.parametrize("where", ["cluster", "jobs"])
def test_dead_workers_lose_nothing_and_a_submission_that_kills_two_is_given_up(
        where, template, cluster, tmp_path):
    course = copy_of(template, tmp_path / "course")
    for student in ("bob", "dee"):
        shutil.rmtree(course.root / "submitted" / student)
    # markers of this run only: a kernel of the other run may still stall on the cluster's
    # workers (Dask starts a task that was given up once more), and must not be taken for ours
    marks = {student: f"{student}-{where}-{tmp_path.name}" for student in ("unlucky", "doomed")}
    course.submit("unlucky", "toy", answered(course, {"global_avg_pool": stalls(marks["unlucky"])}))
    course.submit("doomed", "toy", answered(course, {"global_avg_pool": stalls(marks["doomed"])}))
    killer = Killer({marks["unlucky"]: 1, marks["doomed"]: 2})
    killer.start()
    try:
        options = Options(**FAST, **({"cluster": cluster.address} if where == "cluster"
                                     else {"jobs": 2}))
        summary = grade(course.root, ["toy"], options)
    finally:
        killer.done.set()
        killer.join()
    assert len(killer.killed[marks["unlucky"]]) == 1 and \
        len(killer.killed[marks["doomed"]]) == 2, killer.killed
    assert [t.student for t, _ in summary.failed] == ["doomed"]
    assert "2 grading workers died" in summary.failed[0][1]
    record = load_record(course.root, "toy", "doomed")
    assert record["status"] == "error" and "Grade it by hand" in record["error"]
    feedback = (course.root / "feedback" / "doomed" / "toy" / "toy.html").read_text()
    assert "could not be graded automatically" in feedback
    assert {t.student for t in summary.graded} == {"ada", "unlucky"}
    assert course.scores("toy", "unlucky") == FULL
    assert course.scores("toy", "ada") == FULL
    written = [line["student"] for line in journal(course)]
    assert sorted(written) == ["ada", "doomed", "unlucky"], "each submission is written once"
    if where == "cluster":
        cluster.wait()          # the nannies restarted the killed workers


def test_a_killed_coordinator_resumes_and_grades_nothing_twice(template, cluster, tmp_path):
    course = copy_of(template, tmp_path / "course")
    for i in range(3):
        course.submit(f"extra{i}", "toy", answered(course))
    students = {("toy", s) for s in ("ada", "bob", "dee", "extra0", "extra1", "extra2")}
    students |= {("other", "ada"), ("other", "bob")}
    cmd = [sys.executable, "-m", "autograder", "grade", "--cluster", cluster.address,
           "--no-progress", "--time-limit", "6", "--cell-timeout", "6", "--memory-mb", "2048"]
    proc = subprocess.Popen(cmd, cwd=course.root, env=tool_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    records = course.root / ".autograder" / "records"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(records.glob("*/*/_submission.json"))) < 2:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)      # the coordinator, not the cluster
    proc.wait()
    first = {p: p.read_bytes() for p in records.glob("*/*/_submission.json")}
    done = {(p.parent.parent.name, p.parent.name) for p in first}
    assert 2 <= len(done) < len(students)
    summary = grade(course.root, None, Options(**FAST, cluster=cluster.address))
    assert {(t.assignment, t.student) for t in summary.skipped} == done
    assert {(t.assignment, t.student) for t in summary.graded} == students - done
    assert not summary.failed
    assert all(p.read_bytes() == data for p, data in first.items()), \
        "a submission recorded before the kill was graded again"
    written = [(line["assignment"], line["student"]) for line in journal(course)]
    assert len(written) == len(set(written)), "a submission was written twice"
    assert students - done <= set(written)
    for student in ("ada", "extra0", "extra1", "extra2"):
        assert course.scores("toy", student) == FULL
    assert course.scores("toy", "bob")["global_avg_pool_values"] == (0.0, 2.0)
    assert course.scores("other", "bob") == {"other_test": (1.0, 1.0)}
