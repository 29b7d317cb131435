"""A kernel that runs one submission's code, as the grader drives it.

:class:`KernelSession` starts a grading kernel (:mod:`autograder.kernel.entry`) with resource
limits in a folder of its own, inside the OS sandbox (:mod:`autograder.kernel.sandbox`) unless
told ``sandbox="none"``; it executes cells with a CPU-time limit and a wall-clock bound (see
:class:`~autograder.kernel.limits.Limits`), survives a kernel that dies (restarts it and replays
the cells that ran before) and caps what a cell may print.

:class:`KernelSubject` is the isolated subject of the checks: it sends each
:class:`~autograder.wire.protocol.Call` to the kernel as data and reads the result back as data
(JSON + safetensors, size-limited), with a CPU-time budget per exercise.
"""
from __future__ import annotations

import base64
import os
import queue
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec

from .._env import tool_env
from ..wire.protocol import Call, Result, decode, encode
from . import sandbox as os_sandbox
from .limits import Failure, Limits, Status
from .procs import ProcessTree

__all__ = ["KernelSession", "KernelSubject", "Execution", "Limits", "Status", "Failure"]

RESULT_MIME = "application/x-autograder-result"
MAX_CELL_TEXT = 200_000          # characters of output kept per cell
MAX_RESULT_BYTES = 64 * 2 ** 20  # encoded outputs of one call


@dataclass
class Execution:
    """What happened when code ran."""

    status: Status
    outputs: list = field(default_factory=list)
    ename: str = ""
    evalue: str = ""
    results: list = field(default_factory=list)   # payloads of RESULT_MIME display data
    seconds: float = 0.0       # wall-clock time
    cpu: float = 0.0           # CPU time of the kernel's processes
    limit: str = ""            # on a timeout, which limit stopped it: "cpu" or "wall"


#: a Unix socket's path holds at most 107 bytes (``sun_path``); the kernel's IPC sockets are
#: ``<session folder>/ipc/kernel-<n>``, the session folder ``autograder-sandbox-`` and the 8
#: characters tempfile draws
SOCKET_PATH_MAX = 107
_AFTER_PARENT = len("/autograder-sandbox-") + 8 + len("/ipc/kernel-123456")


def session_parent() -> str | None:
    """The folder for kernel session folders: the temporary folder (``None``: tempfile's
    choice), or ``/tmp`` where the temporary folder's path is too long for the kernel's sockets
    (a deep ``$TMPDIR`` would otherwise fail every kernel start with "File name too long")."""
    if len(os.fsencode(tempfile.gettempdir())) + _AFTER_PARENT <= SOCKET_PATH_MAX:
        return None
    return "/tmp"


class KernelSession:
    """One grading kernel in its own sandbox folder.

    Args:
        isolated: start the kernel with the isolated policy (audit hook, stubbed grader).
        limits: resource and time limits.
        files: files to copy into the sandbox folder (the submission).
        reference: whether the reference package (scse_ref) may be imported (an isolated kernel
            gets it only when the notebook's given cells use it).
        sandbox: ``"bwrap"`` (the OS sandbox, :mod:`autograder.kernel.sandbox`) or ``"none"``
            (the kernel runs as the grading user; only the audit hook of an isolated kernel).
    """

    def __init__(self, *, isolated: bool, limits: Limits | None = None,
                 files: list[Path] = (), reference: bool = True, sandbox: str = "bwrap"):
        if sandbox not in os_sandbox.SANDBOXES:
            raise ValueError(f"sandbox must be one of {os_sandbox.SANDBOXES}, got {sandbox!r}")
        self.isolated = isolated
        self.reference = reference
        self.limits = limits or Limits()
        self.os_sandbox = sandbox
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-sandbox-", dir=session_parent()))
        self.sandbox = self.folder / "work"          # the kernel's folder, its only writable one
        self.sandbox.mkdir()
        (self.folder / "ipc").mkdir()
        for f in files:
            shutil.copy(f, self.sandbox / Path(f).name)
        # a root grader's kernel switches to ids of its own; otherwise a user namespace maps it
        self.ids = os_sandbox.kernel_ids() if sandbox == "bwrap" else None
        self.km: KernelManager | None = None
        self.client = None
        self.tree: ProcessTree | None = None
        self.history: list[str] = []     # cells that ran without killing the kernel
        self.restarts = 0
        self.restart_seconds = 0.0       # time spent restarting and replaying

    # --- life cycle ---------------------------------------------------------------------------
    def _command(self) -> tuple[list[str], dict[str, str]]:
        """The kernel's command line and environment."""
        argv = [sys.executable, "-m", "autograder.kernel.entry", "-f", "{connection_file}",
                "--sandbox", str(self.sandbox), "--memory-mb", str(self.limits.memory_mb),
                "--cpu-seconds", str(self.limits.cpu_seconds),
                "--processes", str(self.limits.processes)]
        if self.isolated:
            argv.append("--isolated")
        if not self.reference:
            argv.append("--no-reference")
        threads = dict(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1",
                       JUPYTER_PLATFORM_DIRS="1")
        if self.os_sandbox == "none":
            return argv, tool_env(**threads)
        bwrap = os_sandbox.find()
        if self.ids is not None:
            argv += ["--user", f"{self.ids[0]}:{self.ids[1]}"]
        connection = self.folder / "kernel.json"
        layout = os_sandbox.Layout.for_kernel(
            writable=[str(self.sandbox), str(self.folder / "ipc")], files=[str(connection)],
            reference=self.reference, hide=[str(Path.home()), os.getcwd()])
        wrapped = [bwrap.path, *os_sandbox.arguments(layout, ids=self.ids,
                                                     chdir=str(self.sandbox)), "--", *argv]
        return wrapped, {**os_sandbox.kernel_env(str(self.sandbox)), **threads}

    def start(self) -> "KernelSession":
        km = KernelManager(transport="ipc", ip=str(self.folder / "ipc" / "kernel"),
                           connection_file=str(self.folder / "kernel.json"))
        argv, env = self._command()
        km._kernel_spec = KernelSpec(argv=argv, display_name="grading kernel",
                                     language="python")
        km.write_connection_file()
        os_sandbox.give_to(self.ids, self.sandbox, self.folder / "ipc",
                           self.folder / "kernel.json")
        # the kernel's own stdout/stderr (bwrap's errors, native code's output) go to a file of
        # this session, not to the grader's terminal
        with open(self.folder / "kernel.log", "ab") as log:
            km.start_kernel(cwd=str(self.sandbox), env=env, stdout=log, stderr=log)
        self.km = km
        self._connect()
        return self

    def _connect(self) -> None:
        import zmq

        self.tree = ProcessTree(self.km.provisioner.process.pid)
        client = self.km.client()
        client.start_channels()
        # a message larger than this drops the connection instead of filling the grader's memory
        client.iopub_channel.socket.setsockopt(zmq.MAXMSGSIZE, MAX_RESULT_BYTES * 2)
        try:
            client.wait_for_ready(timeout=self.limits.startup_timeout)
        except RuntimeError as exc:
            client.stop_channels()
            raise RuntimeError(f"the grading kernel did not start: {exc}; its output:\n"
                               f"{self._log_tail()}") from exc
        self.client = client
        self.tree.refresh()     # the kernel's own process exists now

    def _log_tail(self, size: int = 3000) -> str:
        try:
            return (self.folder / "kernel.log").read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(none)"

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def restart(self, replay: bool = True) -> None:
        """A fresh kernel with the state of the cells that ran before (replayed silently)."""
        self.restarts += 1
        began = time.monotonic()
        if self.client is not None:
            self.client.stop_channels()
        with open(self.folder / "kernel.log", "ab") as log:
            self.km.restart_kernel(now=True, stdout=log, stderr=log)
        self._connect()
        if replay:
            for code in list(self.history):
                ran = self.execute(code, self.limits.wall(self.limits.cell_timeout),
                                   cpu=self.limits.cell_timeout, record=False)
                if ran.status in (Status.DIED, Status.TIMEOUT):
                    self.history.remove(code)
        self.restart_seconds += time.monotonic() - began

    def shutdown(self) -> None:
        try:
            if self.client is not None:
                self.client.stop_channels()
            if self.km is not None and self.km.is_alive():
                self.km.shutdown_kernel(now=True)
        finally:
            self._kill_leftovers()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        """Without the OS sandbox, a process the kernel started may have outlived it: kill what
        is left of the processes seen in its tree (with the sandbox, its PID namespace already
        did; a process that detached unseen is out of reach without it)."""
        if self.tree is not None and self.os_sandbox == "none":
            self.tree.kill()

    def interrupt(self) -> None:
        """SIGINT to the kernel's own process (through bwrap, which would otherwise take it)."""
        if self.os_sandbox == "none":
            self.km.interrupt_kernel()
            return
        pid = self.tree.kernel() if self.tree is not None else None
        if pid is not None:
            os.kill(pid, signal.SIGINT)

    def __enter__(self) -> "KernelSession":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # --- running code -------------------------------------------------------------------------
    def cpu_seconds(self, refresh: bool = False) -> float:
        """CPU time used so far by the kernel's processes (since its last restart)."""
        return self.tree.cpu_seconds(refresh) if self.tree is not None else 0.0

    def execute(self, code: str, timeout: float, *, cpu: float | None = None,
                record: bool = True, silent: bool = False) -> Execution:
        """Run ``code``; collect its outputs as nbformat outputs.

        ``timeout`` bounds the wall-clock time, ``cpu`` the CPU time of the kernel's processes
        (``None``: no CPU limit). Past either, the kernel is interrupted (and restarted if it
        does not stop); if it dies it is restarted. ``record`` keeps the code for replay after
        a restart."""
        start = time.monotonic()
        if not self.alive():
            self.restart()
        cpu_start = self.cpu_seconds()
        msg_id = self.client.execute(code, silent=silent, store_history=not silent,
                                     allow_stdin=False)
        run = self._collect(msg_id, start + timeout,
                            None if cpu is None else (cpu_start, cpu))
        run.seconds = time.monotonic() - start
        run.cpu = max(0.0, self.cpu_seconds() - cpu_start)
        if run.status == Status.TIMEOUT:
            self._stop_runaway(msg_id)
        elif run.status == Status.DIED:
            self.restart()
        elif record:
            self.history.append(code)
        return run

    def _collect(self, msg_id: str, deadline: float,
                 cpu: tuple[float, float] | None) -> Execution:
        run = Execution(status=Status.OK)
        text = 0
        check_every = 0.25
        next_check = time.monotonic() + check_every
        while True:
            now = time.monotonic()
            if now >= deadline:
                run.status, run.limit = Status.TIMEOUT, "wall"
                return run
            if cpu is not None and now >= next_check:
                next_check = now + check_every
                if self.cpu_seconds(refresh=True) - cpu[0] > cpu[1]:
                    run.status, run.limit = Status.TIMEOUT, "cpu"
                    return run
            try:
                msg = self.client.get_iopub_msg(timeout=min(deadline - now, check_every))
            except queue.Empty:
                if not self.alive():
                    run.status = Status.DIED
                    return run
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "stream":
                if text < MAX_CELL_TEXT:
                    piece = content["text"][:MAX_CELL_TEXT - text]
                    text += len(piece)
                    _append_stream(run.outputs, content["name"], piece)
            elif kind in ("display_data", "execute_result"):
                data = content.get("data", {})
                if RESULT_MIME in data:
                    run.results.append(data[RESULT_MIME])
                elif kind == "execute_result":
                    run.outputs.append(nbformat.v4.new_output(
                        "execute_result", data=data, metadata=content.get("metadata", {}),
                        execution_count=content.get("execution_count")))
                else:
                    run.outputs.append(nbformat.v4.new_output(
                        "display_data", data=data, metadata=content.get("metadata", {})))
            elif kind == "error":
                run.status = Status.ERROR
                run.ename, run.evalue = content["ename"], content["evalue"]
                run.outputs.append(nbformat.v4.new_output(
                    "error", ename=content["ename"], evalue=content["evalue"],
                    traceback=[t[:5000] for t in content.get("traceback", [])[-20:]]))
            elif kind == "clear_output":
                run.outputs.clear()
        self._read_reply(msg_id, run)
        return run

    def _read_reply(self, msg_id: str, run: Execution) -> None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                reply = self.client.get_shell_msg(timeout=1.0)
            except queue.Empty:
                if not self.alive():
                    return
                continue
            if reply["parent_header"].get("msg_id") != msg_id:
                continue
            content = reply["content"]
            if content.get("status") == "error" and run.status == Status.OK:
                run.status = Status.ERROR
                run.ename, run.evalue = content.get("ename", ""), content.get("evalue", "")
            return

    def _stop_runaway(self, msg_id: str) -> None:
        """Interrupt a cell past its time; restart the kernel if it does not come back."""
        try:
            self.interrupt()
        except Exception:  # noqa: BLE001 - a dead kernel is handled below
            pass
        grace = time.monotonic() + 5.0
        while time.monotonic() < grace:
            try:
                msg = self.client.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                self._drain_shell()
                return
        self.restart()

    def _drain_shell(self) -> None:
        while True:
            try:
                self.client.get_shell_msg(timeout=0.2)
            except queue.Empty:
                return


def _append_stream(outputs: list, name: str, text: str) -> None:
    if outputs and outputs[-1].get("output_type") == "stream" and outputs[-1]["name"] == name:
        outputs[-1]["text"] += text
    else:
        outputs.append(nbformat.v4.new_output("stream", name=name, text=text))


class KernelSubject:
    """The checks' subject for isolated grading: calls go to the kernel as data.

    A time budget is given per exercise (:meth:`budget`): CPU seconds of the kernel's processes
    for all its calls, and a wall-clock bound of ``Limits.wall_factor`` times that on the time
    spent waiting for the kernel (the grader's own work between calls is not counted, nor is
    restarting a dead kernel). Once either is spent the remaining calls of that exercise fail at
    once with a ``TimeoutError``, so a broken exercise costs its time limit once, not once per
    check.
    """

    where = "isolated"

    def __init__(self, session: KernelSession):
        self.session = session
        self.wall_left = float("inf")
        self.cpu_left = float("inf")
        self.cpu_budget = float("inf")
        #: the error that ended the current exercise (a timeout, a dead kernel), or None
        self.fatal: Result | None = None

    @property
    def timed_out(self) -> bool:
        return self.fatal is not None and self.fatal.error["type"] == Failure.TIMEOUT

    def budget(self, cpu_seconds: float) -> None:
        """Start a new exercise with ``cpu_seconds`` of CPU time for all its calls."""
        self.cpu_budget = self.cpu_left = cpu_seconds
        self.wall_left = self.session.limits.wall(cpu_seconds)
        self.fatal = None
        if self.session.tree is not None:
            self.session.tree.refresh()

    def run(self, calls) -> list[Result]:
        return [self._one(call) for call in calls]

    def _fail(self, kind: Failure, message: str) -> Result:
        return Result(error={"stage": "call", "type": str(kind), "message": message})

    def _timeout(self, limit: str) -> Result:
        wall = self.session.limits.wall(self.cpu_budget)
        spent = (f"{self.cpu_budget:g} s of CPU time" if limit == "cpu" else
                 f"{wall:g} s of wall-clock time while using less than {self.cpu_budget:g} s "
                 "of CPU time (sleeping or waiting)")
        return self._fail(Failure.TIMEOUT, f"did not finish within the time limit ({spent}): "
                          "an infinite loop, a blocking call, or a very slow computation")

    def _one(self, call: Call) -> Result:
        if self.fatal is not None:   # one timeout or crash per exercise, not one per check
            return self.fatal
        if self.wall_left <= 0 or self.cpu_left <= 0:
            self.fatal = self._timeout("cpu" if self.cpu_left <= 0 else "wall")
            return self.fatal
        text, blob = encode(call)
        code = (f"__autograder_call__({text!r}, {base64.b64encode(blob).decode()!r}, "
                f"{MAX_RESULT_BYTES})")
        restarts = self.session.restart_seconds
        run = self.session.execute(code, self.wall_left, cpu=self.cpu_left, record=False,
                                   silent=True)
        self.cpu_left -= run.cpu
        # restarting a kernel is the grader's time, not the exercise's
        self.wall_left -= max(0.0, run.seconds - (self.session.restart_seconds - restarts))
        if run.status == Status.TIMEOUT:
            self.fatal = self._timeout(run.limit)
            return self.fatal
        if run.status == Status.DIED:
            self.fatal = self._fail(Failure.KERNEL_DIED, "the kernel died while running this "
                                    "call (os._exit, a crash in native code, or memory "
                                    "exhaustion)")
            return self.fatal
        if len(run.results) != 1:
            detail = f"{run.ename}: {run.evalue}" if run.ename else "no result"
            return self._fail(Failure.CALL_FAILED, f"the grader's call did not come back "
                              f"({detail}); was __autograder_call__ replaced?")
        payload = run.results[0]
        try:
            blob = base64.b64decode(payload["blob"], validate=True)
            result = decode(payload["json"], blob, max_bytes=MAX_RESULT_BYTES)
        except Exception as exc:  # noqa: BLE001 - malformed data is the student's failure
            return self._fail(Failure.CALL_FAILED, f"the result could not be read: {exc}")
        if not isinstance(result, Result):
            return self._fail(Failure.CALL_FAILED, "the kernel answered with something other "
                              "than a result")
        return result
