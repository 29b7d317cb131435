"""`python -m autograder grade` on a real nbgrader course: bad submissions, both modes, resuming.

Every bad submission must get a clear message and lose only the parts it affects, while every
other student is graded and the batch finishes. Outcomes are read from nbgrader's gradebook.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from autograder._env import tool_env
from autograder.batch.coordinator import MAX_NOTEBOOK_BYTES
from autograder.batch.run import Options, grade, load_record
from tests.grading_fixture import EXCITATION, GAP, POINTS, answered, cell_of, make_course

FULL = POINTS
GAP_CELLS = {"global_avg_pool_values", "global_avg_pool_gradient"}
EXC_CELLS = {"excitation_values", "excitation_device"}
FAST = dict(jobs=2, exercise_timeout=6.0, cell_timeout=6.0, memory_mb=2048, progress=False,
            reports=False)


def build_submissions(course):
    """student -> (submission content, cells that must score 0, note fragment or None)."""
    subs = {}
    subs["perfect"] = (answered(course), set(), None)
    subs["blank"] = (nbformat.read(course.release_notebook("toy"), 4), set(FULL), None)
    subs["max_pool"] = (answered(course, {"global_avg_pool": GAP.replace("mean", "amax")}),
                        GAP_CELLS, None)
    loop = EXCITATION.replace("return torch.sigmoid", "while True:\n            pass\n"
                              "        return torch.sigmoid")
    subs["infinite_loop"] = (answered(course, {"excitation": loop}), EXC_CELLS, None)
    bomb = EXCITATION.replace("return torch.sigmoid", "hoard = [torch.ones(2 ** 27) for _ in "
                              "range(10 ** 4)]\n        return torch.sigmoid")
    subs["memory_bomb"] = (answered(course, {"excitation": bomb}), EXC_CELLS, None)
    dies = EXCITATION.replace("return torch.sigmoid", "import os\n        os._exit(3)\n"
                              "        return torch.sigmoid")
    subs["os_exit_in_forward"] = (answered(course, {"excitation": dies}), EXC_CELLS, None)
    subs["os_exit_at_top"] = (answered(course, {"excitation": "import os\nos._exit(1)\n" +
                                                EXCITATION}), EXC_CELLS, "kernel died")
    subs["sleeps_forever"] = (answered(course, {"global_avg_pool": GAP + "import time\n"
                                                "time.sleep(10 ** 6)\n"}), set(),
                              "did not finish")
    nb = answered(course)
    nb.cells.remove(cell_of(nb, "excitation_values"))
    subs["test_cell_deleted"] = (nb, set(), "put back")
    nb = answered(course, {"global_avg_pool": GAP.replace("mean", "amax")})
    nb.cells.remove(cell_of(nb, "global_avg_pool_values"))    # it follows a locked, ungraded cell
    nb.cells.remove(cell_of(nb, "global_avg_pool_gradient"))
    subs["test_cells_deleted_after_visible_test"] = (nb, GAP_CELLS, "put back")
    nb = answered(course)
    cell_of(nb, "global_avg_pool_values").source = "print('all good')"
    subs["test_cell_edited"] = (nb, set(), None)
    nb = answered(course, {"global_avg_pool": GAP.replace("mean", "sum")})
    cell = cell_of(nb, "global_avg_pool_values")
    cell.metadata["nbgrader"]["points"] = 0
    cell.metadata["nbgrader"]["grade"] = False
    subs["metadata_changed"] = (nb, GAP_CELLS, None)
    nb = answered(course)
    cell = cell_of(nb, "excitation_device")
    del cell.metadata["nbgrader"]
    cell.source = "print('fine')"
    subs["metadata_stripped"] = (nb, set(), "put back")
    nb = answered(course)
    nb.cells.insert(3, nbformat.from_dict(json.loads(json.dumps(cell_of(nb, "global_avg_pool")))))
    subs["duplicated_grade_id"] = (nb, set(), "second cell with grade id")
    subs["not_json"] = (b"this is not json {", set(FULL), "not JSON")
    subs["json_not_notebook"] = ('{"answer": 42}', set(FULL), "not a notebook")
    subs["empty_file"] = (b"", set(FULL), "empty")
    subs["other_assignment"] = (answered(course, aid="other"), set(FULL), "not a notebook of toy")
    subs["oversized"] = (None, set(FULL), "more than the 32 MiB a notebook may be")
    return subs


#: the two executors: the task that grades a submission is the same, only where it runs differs
EXECUTORS = {"--jobs 2": {"jobs": 2}, "--cluster local:2": {"jobs": 0, "cluster": "local:2"}}


@pytest.fixture(scope="module", params=list(EXECUTORS))
def graded(request, tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("grading"))
    subs = build_submissions(course)
    for student, (content, _, _) in subs.items():
        if content is not None:
            course.submit(student, "toy", content)
    with open(course.submit("oversized", "toy", b""), "wb") as fh:
        fh.truncate(MAX_NOTEBOOK_BYTES + 1)      # sparse: costs no disk
    summary = grade(course.root, ["toy"], Options(**{**FAST, **EXECUTORS[request.param]}))
    return course, subs, summary


def test_batch_finishes_and_grades_everyone(graded):
    course, subs, summary = graded
    assert not summary.failed, summary.failed
    assert {t.student for t in summary.graded} == set(subs)


@pytest.mark.parametrize("student", [
    "perfect", "blank", "max_pool", "infinite_loop", "memory_bomb", "os_exit_in_forward",
    "os_exit_at_top", "sleeps_forever", "test_cell_deleted",
    "test_cells_deleted_after_visible_test", "test_cell_edited",
    "metadata_changed", "metadata_stripped", "duplicated_grade_id", "not_json",
    "json_not_notebook", "empty_file", "other_assignment", "oversized"])
def test_bad_submission_loses_only_what_it_affects(graded, student):
    course, subs, _ = graded
    _, zero, note = subs[student]
    scores = course.scores("toy", student)
    assert set(scores) == set(FULL), scores
    for cell, (score, top) in scores.items():
        assert top == FULL[cell]
        expected = 0 if cell in zero else FULL[cell]
        assert score == expected, (student, cell, score, scores)
    record = load_record(course.root, "toy", student)
    assert record["status"] == "graded"
    text = json.dumps(record)
    if note:
        assert note in text, (student, record["notes"], record["notebooks"])


def test_messages_name_the_problem(graded):
    course, _, _ = graded
    def messages(student):
        record = load_record(course.root, "toy", student)
        return " ".join(c["message"] for nb in record["notebooks"].values() for c in nb["cells"])
    assert "time limit" in messages("infinite_loop")
    assert "killed the kernel" in messages("os_exit_in_forward")
    assert "max pooling" in messages("max_pool").lower()
    assert "not implemented yet" in messages("blank")


def test_submitted_files_are_never_modified(graded):
    course, subs, _ = graded
    raw = course.root / "submitted" / "not_json" / "toy" / "toy.ipynb"
    assert raw.read_bytes() == b"this is not json {"


def test_graded_submissions_are_skipped_and_force_regrades(tmp_path):
    course = make_course(tmp_path)
    students = ["perfect", "s1", "s2"]
    for student in students:
        course.submit(student, "toy", answered(course))
    first = grade(course.root, ["toy"], Options(**FAST))
    assert len(first.graded) == len(students)
    again = grade(course.root, ["toy"], Options(**FAST))
    assert not again.graded and len(again.skipped) == len(students)
    course.submit("perfect", "toy", answered(course, {"global_avg_pool": GAP.replace("mean",
                                                                                     "amax")}))
    changed = grade(course.root, ["toy"], Options(**FAST))
    assert [t.student for t in changed.graded] == ["perfect"], "a changed submission is regraded"
    assert course.scores("toy", "perfect")["global_avg_pool_values"][0] == 0
    course.submit("perfect", "toy", answered(course))
    forced = grade(course.root, ["toy"], Options(**{**FAST, "force": True}))
    assert len(forced.graded) == len(students)
    assert course.scores("toy", "perfect")["global_avg_pool_values"][0] == 2


def test_every_mode_gives_honest_submissions_the_scores_of_plain_nbgrader(tmp_path):
    course = make_course(tmp_path)
    honest = {"perfect": answered(course),
              "max_pool": answered(course, {"global_avg_pool": GAP.replace("mean", "amax")}),
              "no_relu": answered(course, {"excitation": EXCITATION.replace("torch.relu", "")}),
              "blank": nbformat.read(course.release_notebook("toy"), 4)}
    for student, nb in honest.items():
        course.submit(student, "toy", nb)
    grade(course.root, ["toy"], Options(**FAST))
    isolated = {s: course.scores("toy", s) for s in honest}
    grade(course.root, ["toy"], Options(**{**FAST, "force": True,
                                           "mode": "in-kernel"}))
    in_kernel = {s: course.scores("toy", s) for s in honest}
    plain = course.autograde("toy", env={"AUTOGRADER_MODE": "nbgrader"})
    assert plain.returncode == 0, plain.stderr[-2000:]
    nbgrader_itself = {s: course.scores("toy", s) for s in honest}
    assert isolated == in_kernel == nbgrader_itself
    assert isolated["perfect"] == {k: (float(v), float(v)) for k, v in FULL.items()}
    assert isolated["blank"] == {k: (0.0, float(v)) for k, v in FULL.items()}


def test_a_killed_run_loses_nothing_and_the_next_run_finishes(tmp_path):
    course = make_course(tmp_path)
    students = [f"s{i:02d}" for i in range(6)]
    for s in students:
        course.submit(s, "toy", answered(course))
    cmd = [sys.executable, "-m", "autograder", "grade", "toy", "--jobs", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=course.root, env=tool_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    records = course.root / ".autograder" / "records" / "toy"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        done = list(records.glob("*/_submission.json")) if records.exists() else []
        if len(done) >= 2:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)   # the whole process group: a crash, not a clean stop
    proc.wait()
    first = {p.parent.name for p in records.glob("*/_submission.json")}
    assert 2 <= len(first) < len(students)
    summary = grade(course.root, ["toy"], Options(**FAST))
    assert {t.student for t in summary.skipped} == first
    assert {t.student for t in summary.graded} == set(students) - first
    for s in students:
        assert course.scores("toy", s) == {k: (float(v), float(v)) for k, v in FULL.items()}


def test_a_worker_starts_a_kernel_ahead_only_while_a_task_is_left_for_it():
    """A kernel started ahead for nothing costs a whole start-up: with 2 workers and 5
    submissions, the last two sent (one per worker) start none."""
    from autograder.batch.executors import _Queue
    from autograder.batch.task import AssignmentSpec, TaskInput
    from autograder.kernel.limits import Limits

    spec = AssignmentSpec("toy", {})
    queue = _Queue((TaskInput("toy", f"s{i}", {}, spec, "isolated", Limits(), i)
                    for i in range(5)), jobs=2)
    sent = [queue.next() for _ in range(5)]
    assert [t.student for t in sent] == [f"s{i}" for i in range(5)]
    assert [t.ahead for t in sent] == [True, True, True, False, False]
    assert queue.next() is None
    queue.again.append(sent[1])          # its worker died: it is sent again, with nothing after
    again = queue.next()
    assert again.student == "s1" and not again.ahead and queue.next() is None


def test_the_kernel_started_ahead_is_made_for_the_assignment_that_comes_next(tmp_path):
    """Workers take turns: with 2 workers, a worker's next submission is the one two places on.
    Where the class moves from a lesson whose given cells do not use the reference to one whose
    do, the kernel started ahead must allow it (one that does not fit is started again)."""
    from autograder.batch.coordinator import Coordinator
    from autograder.batch.executors import _Queue
    from autograder.batch.task import TaskInput
    from autograder.kernel.limits import Limits
    from autograder.nbgrader.course import Course
    from autograder.nbgrader.store import load_config

    lessons = ["01_global_average_pooling", "02_channel_se"]
    course = Course.scratch(tmp_path / "course", lessons)
    with Coordinator(course.root, load_config(course.root)) as coordinator:
        specs = coordinator.specs
    assert not specs[lessons[0]].kernel_reference() and specs[lessons[1]].kernel_reference()
    order = [lessons[0]] * 3 + [lessons[1]] * 2
    queue = _Queue((TaskInput(a, f"s{i}", {}, specs[a], "isolated", Limits(), i)
                    for i, a in enumerate(order)), jobs=2)
    sent = [queue.next() for _ in order]
    assert [t.next_spec.name if t.next_spec else None for t in sent] == \
        [lessons[0], lessons[1], lessons[1], None, None]


def test_a_kernel_started_ahead_is_taken_and_none_is_started_for_nothing():
    from autograder.kernel.limits import Limits
    from autograder.nbgrader.grader import _Spare

    spare = _Spare()
    limits = Limits(memory_mb=2048)
    first = spare.take(True, limits, [], reference=False, ahead=True)
    try:
        started = spare.pending.result(timeout=300)
        second = spare.take(True, limits, [], reference=False, ahead=True, next_reference=True)
        assert second is started, "the kernel started ahead was not used"
        assert spare.key == (True, limits, True, "bwrap"), "started ahead for the wrong notebook"
        started = spare.pending.result(timeout=300)
        third = spare.take(True, limits, [], reference=True, ahead=False)
        assert third is started, "the kernel started ahead for a reference notebook was not used"
        assert spare.pending is None, "a kernel was started ahead for nothing"
        second.shutdown()
        third.shutdown()
    finally:
        first.shutdown()
        spare.close()
