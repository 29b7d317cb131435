"""Time limits that never cost correct work its points (issue #11).

Budgets charge the CPU time of the kernel's processes, which other work on the machine does not
inflate; the wall clock only bounds what sleeps or waits. The load test grades the instructor's
solution of lesson 05 (whose gradient check lost its point to a wall-clock budget on a busy
machine) while the test keeps every core busy with two spinning processes each, under a CPU
budget ten times smaller than the default: every check must pass. A deliberately slow wrong
answer, graded under the same load, must still time out, be run again once, and say so.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.kernel.limits import Limits
from autograder.kernel.session import KernelSession, KernelSubject, Status
from autograder.nbgrader.cells import grade_id, nbgrader_meta
from autograder.nbgrader.grader import grade_file
from tests.grading_fixture import toy_notebook

ROOT = Path(__file__).resolve().parent.parent
#: a tenth of the default CPU budget per exercise; the wall-clock bound stays generous
TIGHT = Limits(exercise_timeout=3.0, wall_factor=10.0)
LESSON = "05_attention_in_networks"

SLOW_EXCITATION = """
import time
import torch
from torch import nn

class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Linear(channels, max(1, channels // reduction))
        self.fc2 = nn.Linear(max(1, channels // reduction), channels)

    def forward(self, z):
        start = time.process_time()
        while time.process_time() - start < 60:     # a minute of CPU per call
            pass
        return torch.full_like(z, 0.5)
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The lesson's solution and a slow wrong answer, graded while two spinning processes per
    core run (stopped as soon as both are graded)."""
    tmp = tmp_path_factory.mktemp("load")
    solution = ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"
    slow = toy_notebook()
    for cell in slow.cells:
        if grade_id(cell) == "excitation" and nbgrader_meta(cell).get("solution"):
            cell.source = SLOW_EXCITATION
    nbformat.write(slow, tmp / "toy.ipynb")
    quick = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"   # heavy cells run their quick version
    spinners = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
                for _ in range(2 * (os.cpu_count() or 1))]
    try:
        reports = {
            "solution": grade_file(solution, nbformat.read(solution, 4), mode="isolated",
                                   limits=TIGHT, seed=5, ahead=False),
            "slow": grade_file(tmp / "toy.ipynb", slow, mode="isolated", limits=TIGHT, seed=5,
                               ahead=False),
        }
    finally:
        for p in spinners:
            p.kill()
            p.wait()
        if quick is None:
            del os.environ["NBGRADER_EXECUTION"]
        else:
            os.environ["NBGRADER_EXECUTION"] = quick
    return reports


def test_the_instructors_solution_gets_full_marks_on_a_busy_machine(loaded):
    report = loaded["solution"]
    nb = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", 4)
    graded = [grade_id(c) for c in nb.cells
              if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    assert sorted(c.grade_id for c in report.cells) == sorted(graded)
    failed = [(c.grade_id, c.message) for c in report.cells if not c.passed]
    assert failed == [], failed
    assert not any("run again" in n for n in report.notes), report.notes


def test_a_slow_wrong_answer_still_times_out_and_is_run_again_first(loaded):
    report = loaded["slow"]
    verdicts = {c.grade_id: c for c in report.cells}
    for family in ("values", "device"):
        verdict = verdicts[f"excitation_{family}"]
        assert not verdict.passed and verdict.mistake == "timeout", (family, verdict)
        assert "time limit" in verdict.message and "twice" in verdict.message
    assert verdicts["global_avg_pool_values"].passed
    assert verdicts["global_avg_pool_gradient"].passed
    notes = [n for n in report.notes if n.startswith("excitation:")]
    assert len(notes) == 1 and "run again with a fresh budget" in notes[0], report.notes
    assert "ran past the limit again" in notes[0]


def test_the_second_run_gets_a_fresh_budget(tmp_path):
    """An exercise that needs more than its budget once (here: the first call spins past it,
    the later ones do not) is not failed: the rerun finishes, and the record says so."""
    from autograder.nbgrader.grader import NotebookGrader

    code = ("import time\nfrom autograder import check\n_calls = []\n"
            "def global_avg_pool(x):\n"
            "    _calls.append(1)\n"
            "    if len(_calls) == 1:\n"
            "        t = time.process_time()\n"
            "        while time.process_time() - t < 5:\n"
            "            pass\n"
            "    return x.mean(dim=tuple(range(2, x.dim())))\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code),
                nbformat.v4.new_code_cell('check("global_avg_pool", "values", global_avg_pool)')]
    nb.cells[1].metadata["nbgrader"] = {"grade": True, "grade_id": "global_avg_pool_values",
                                        "points": 2, "solution": False, "locked": True,
                                        "schema_version": 3}
    with KernelSession(isolated=True, reference=False, limits=TIGHT).start() as session:
        report = NotebookGrader(session, mode="isolated", limits=TIGHT, seed=3).grade(nb)
    verdict = report.cells[0]
    assert verdict.passed, verdict.message
    assert len(report.notes) == 1 and "finished the second time" in report.notes[0], report.notes


def test_an_exercise_budget_counts_cpu_not_the_graders_time():
    """Time the grader spends between calls (computing references, gradcheck) is not charged
    to the exercise, however long it is."""
    import time

    from autograder.wire.protocol import Call

    with KernelSession(isolated=True, reference=False, limits=Limits(wall_factor=1.0)).start() \
            as session:
        ran = session.execute("answer = 42", 30)
        assert ran.status == Status.OK
        subject = KernelSubject(session)
        subject.budget(1.0)
        for _ in range(3):
            [result] = subject.run([Call(name="answer", init=None, args=None)])
            assert result.ok, result.error
            time.sleep(1.0)            # the grader's own work: not the kernel's
        assert not subject.timed_out and subject.cpu_left > 0.5
