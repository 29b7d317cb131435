"""Attacks on the grade: each submission has a wrong answer plus a trick (issue: isolated verdicts).

Every attacker hands in a correct ``global_avg_pool`` (the honest part) and a wrong ``Excitation``
(it returns 0.5 everywhere), plus a trick placed after one of the two answers. In isolated mode
each must earn no point its trick-free twin does not earn, must leave every other student's grades
as they were, and the batch must finish. A second batch replays the tricks that are safe to run
unconfined in nbgrader's usual in-kernel mode, to show that they are real attacks: there they do
earn points they should not.
"""
from __future__ import annotations

import textwrap

import pytest

from autograder.batch.run import Options, grade, load_record
from tests.grading_fixture import EXCITATION, GAP, make_course, answered

WRONG_EXCITATION = EXCITATION.replace(
    "return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))", "return torch.full_like(z, 0.5)")
FAST = dict(jobs=2, exercise_timeout=8.0, cell_timeout=8.0, memory_mb=2048, progress=False,
            reports=False)


def _t(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


# name -> (cell the trick follows: "gap" or "exc", trick source, safe to run un-sandboxed)
ATTACKS: dict[str, tuple[str, str, bool]] = {
    "input_transformer": ("gap", _t("""
        get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])
        """), True),
    "ast_transformer": ("gap", _t("""
        import ast
        class Gut(ast.NodeTransformer):
            def visit_Module(self, node):
                node.body = [ast.Pass()]
                return node
        get_ipython().ast_transformers.append(Gut())
        """), True),
    "patch_torch_allclose": ("gap", _t("""
        import torch
        torch.allclose = lambda *a, **k: True
        torch.testing.assert_close = lambda *a, **k: None
        """), True),
    "patch_numpy": ("gap", _t("""
        import numpy
        numpy.allclose = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        """), True),
    "patch_the_grader": ("gap", _t("""
        import autograder
        autograder.check = lambda *a, **k: None
        check = lambda *a, **k: None
        """), True),
    "patch_the_reference": ("exc", _t("""
        import scse_ref
        scse_ref.Excitation = Excitation
        """), True),
    "rebind_builtins": ("gap", _t("""
        import builtins
        builtins.bool = lambda *a: True
        """), True),
    "exception_hook": ("gap", _t("""
        get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
        """), True),
    "silence_tracebacks": ("gap", _t("""
        import sys, os
        ip = get_ipython()
        ip.showtraceback = lambda *a, **k: None
        ip._showtraceback = lambda *a, **k: None
        sys.stderr = open(os.devnull, "w")
        """), True),
    "zero_the_generators": ("gap", _t("""
        import torch
        torch.manual_seed(0)
        _zeros = lambda *shape, **kw: torch.zeros(*(shape[0] if shape and isinstance(shape[0], (tuple, list)) else shape), dtype=kw.get("dtype"))
        torch.randn = _zeros
        torch.rand = _zeros
        """), True),
    "pin_the_seed": ("gap", _t("""
        import os
        os.environ["AUTOGRADER_SEED"] = "0"
        """), True),
    "read_the_solutions": ("exc", _t("""
        import json, glob, os
        for path in glob.glob("../../../solutions/*/*.ipynb"):
            cells = json.load(open(path))["cells"]
            for cell in cells:
                text = "".join(cell["source"])
                if "class Excitation" in text:
                    exec(text, globals())
        """), True),
    "read_the_gradebook": ("gap", _t("""
        import sqlite3
        rows = sqlite3.connect("../../../gradebook.db").execute("select * from grade").fetchall()
        print(len(rows))
        """), True),
    "write_the_gradebook": ("gap", _t("""
        import sqlite3
        db = sqlite3.connect("../../../gradebook.db")
        db.execute("update grade set auto_score = 0")
        db.commit()
        """), True),
    "scan_memory_with_gc": ("exc", _t("""
        import gc
        _forward = Excitation.forward
        def forward(self, z):
            for obj in gc.get_objects():
                if isinstance(obj, torch.Tensor) and obj.shape == z.shape and obj is not z \\
                        and obj.dtype == z.dtype and bool(((obj > 0) & (obj < 1)).all()):
                    return obj.clone()
            return _forward(self, z)
        Excitation.forward = forward
        """), True),
    "scan_caller_frames": ("exc", _t("""
        import sys
        _forward = Excitation.forward
        def forward(self, z):
            frame = sys._getframe(1)
            while frame is not None:
                probe = frame.f_locals.get("probe")
                if probe is not None and hasattr(probe, "ref"):
                    with torch.no_grad():
                        return probe.ref(z).detach().to(z.dtype)
                frame = frame.f_back
            return _forward(self, z)
        Excitation.forward = forward
        """), True),
    "thread_keeps_patching": ("gap", _t("""
        import threading, time, torch
        def patch():
            while True:
                torch.allclose = lambda *a, **k: True
                time.sleep(0.001)
        threading.Thread(target=patch, daemon=True).start()
        """), True),
    "replace_the_grader_entry": ("gap", _t("""
        import builtins
        builtins.__autograder_call__ = lambda *a, **k: None
        """), False),
    "os_exit_in_forward": ("exc", _t("""
        import os
        Excitation.forward = lambda self, z: os._exit(0)
        """), False),
    "infinite_loop": ("exc", _t("""
        def _spin(self, z):
            while True:
                pass
        Excitation.forward = _spin
        """), False),
    "memory_bomb": ("exc", _t("""
        def _hoard(self, z):
            hoard = [torch.ones(2 ** 27) for _ in range(10 ** 4)]
            return z
        Excitation.forward = _hoard
        """), False),
    "fork": ("gap", _t("""
        import os
        for _ in range(3):
            os.fork()
        """), False),
    "huge_output": ("exc", _t("""
        Excitation.forward = lambda self, z: torch.zeros(z.shape[0], 2 ** 27)
        """), False),
    "print_flood": ("gap", _t("""
        for _ in range(200):
            print("x" * 10 ** 6)
        """), False),
    "subprocess": ("gap", _t("""
        import subprocess
        subprocess.run(["sh", "-c", "echo pwned > /tmp/pwned-by-student"])
        """), False),
    "kill_the_grader": ("gap", _t("""
        import os, signal
        os.kill(os.getppid(), signal.SIGKILL)
        """), False),
    "network": ("gap", _t("""
        import socket
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        """), False),
    "write_outside_the_sandbox": ("gap", _t("""
        open("/tmp/written-by-student", "w").write("x")
        """), False),
    "import_the_checks": ("gap", _t("""
        from autograder.exercises import EXERCISES
        EXERCISES.clear()
        """), False),
}


def submission(course, attack: str | None):
    answers = {"global_avg_pool": GAP, "excitation": WRONG_EXCITATION}
    if attack is not None:
        where, trick, _ = ATTACKS[attack]
        key = "global_avg_pool" if where == "gap" else "excitation"
        answers[key] = answers[key] + "\n" + trick
    return answered(course, answers)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("attacks"))
    course.submit("aa_honest_twin", "toy", submission(course, None))
    course.submit("aa_perfect", "toy", answered(course))
    first = grade(course.root, ["toy"], Options(**FAST))
    before = {s: course.scores("toy", s) for s in ("aa_honest_twin", "aa_perfect")}
    for name in ATTACKS:
        course.submit(name, "toy", submission(course, name))
    second = grade(course.root, ["toy"], Options(**FAST))
    return course, first, second, before


def test_the_suite_has_at_least_twenty_attacks():
    assert len(ATTACKS) >= 20


def test_the_batch_finishes(attacked):
    course, first, second, _ = attacked
    assert not first.failed and not second.failed, second.failed
    assert {t.student for t in second.graded} == set(ATTACKS)
    assert len(second.skipped) == 2


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_earns_nothing_its_honest_part_did_not(attacked, attack):
    course, _, _, before = attacked
    twin = before["aa_honest_twin"]
    scores = course.scores("toy", attack)
    assert set(scores) == set(twin)
    for cell, (score, top) in scores.items():
        assert score <= twin[cell][0], (attack, cell, score, twin[cell])
    assert scores["excitation_values"][0] == 0


def test_the_honest_twin_earns_its_honest_part(attacked):
    course, _, _, before = attacked
    twin = before["aa_honest_twin"]
    assert twin["global_avg_pool_values"] == (2.0, 2.0)
    assert twin["global_avg_pool_gradient"] == (1.0, 1.0)
    assert twin["excitation_values"] == (0.0, 2.0)


def test_other_students_grades_are_unchanged(attacked):
    course, _, _, before = attacked
    for student, scores in before.items():
        assert course.scores("toy", student) == scores, student
    assert before["aa_perfect"] == {k: (v[1], v[1]) for k, v in before["aa_perfect"].items()}
    record = load_record(course.root, "toy", "aa_perfect")
    assert record["status"] == "graded"


def test_nothing_escaped_the_sandbox(attacked):
    import pathlib

    assert not pathlib.Path("/tmp/pwned-by-student").exists()
    assert not pathlib.Path("/tmp/written-by-student").exists()


def test_tampering_is_reported_for_the_instructor(attacked):
    course, _, _, _ = attacked
    record = load_record(course.root, "toy", "input_transformer")
    suspicious = " ".join(s for nb in record["notebooks"].values() for s in nb["suspicious"])
    assert "input_transformers_post" in suspicious
    record = load_record(course.root, "toy", "aa_honest_twin")
    assert not any(nb["suspicious"] for nb in record["notebooks"].values())


def test_the_tricks_are_real_attacks_on_plain_nbgrader(tmp_path):
    """The same tricks against plain `nbgrader autograde` (nbgrader's own executor, test cells in
    the student's kernel): several earn points there. Only the tricks that are safe to run
    without a sandbox; the gradebook writer is graded last, alone, and rewrites the scores of the
    students graded before it."""
    course = make_course(tmp_path)
    safe = [a for a, (_, _, ok) in ATTACKS.items() if ok and a != "write_the_gradebook"]
    course.submit("aa_honest_twin", "toy", submission(course, None))
    for name in safe:
        course.submit(name, "toy", submission(course, name))
    plain = {"AUTOGRADER_MODE": "nbgrader"}
    assert course.autograde("toy", env=plain).returncode == 0
    twin = sum(s for s, _ in course.scores("toy", "aa_honest_twin").values())
    gained = [a for a in safe if sum(s for s, _ in course.scores("toy", a).values()) > twin]
    assert len(gained) >= 6, f"only {gained} beat plain nbgrader"
    course.submit("write_the_gradebook", "toy", submission(course, "write_the_gradebook"))
    assert course.autograde("toy", "write_the_gradebook", env=plain).returncode == 0
    assert sum(s for s, _ in course.scores("toy", "aa_honest_twin").values()) == 0
