"""A kernel that runs one submission's code, as the grader drives it.

:class:`KernelSession` starts a grading kernel (:mod:`autograder.kernel.entry`) with resource
limits in a folder of its own, executes cells with a time limit, survives a kernel that dies
(restarts it and replays the cells that ran before) and caps what a cell may print.

:class:`KernelSubject` is the isolated subject of the checks: it sends each
:class:`~autograder.wire.protocol.Call` to the kernel as data and reads the result back as data
(JSON + safetensors, size-limited), with a time budget per exercise.
"""
from __future__ import annotations

import base64
import queue
import shutil
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

RESULT_MIME = "application/x-autograder-result"
MAX_CELL_TEXT = 200_000          # characters of output kept per cell
MAX_RESULT_BYTES = 64 * 2 ** 20  # encoded outputs of one call


@dataclass
class Limits:
    """Resource limits of a grading kernel."""

    memory_mb: int = 3072          # address space of the kernel process
    cpu_seconds: int = 900         # CPU time of the kernel process over its whole life
    processes: int = 64            # processes of the kernel's user (ignored for root)
    cell_timeout: float = 60.0     # wall-clock seconds per cell of the notebook
    exercise_timeout: float = 30.0  # wall-clock seconds for all checks of one exercise
    startup_timeout: float = 60.0


@dataclass
class Execution:
    """What happened when code ran: ``status`` is ok, error, timeout or died."""

    status: str
    outputs: list = field(default_factory=list)
    ename: str = ""
    evalue: str = ""
    results: list = field(default_factory=list)   # payloads of RESULT_MIME display data
    seconds: float = 0.0


class KernelSession:
    """One grading kernel in its own sandbox folder.

    Args:
        isolated: start the kernel with the sandbox policy (audit hook, stubbed grader).
        limits: resource and time limits.
        files: files to copy into the sandbox folder (the submission).
        reference: whether the reference package (scse_ref) may be imported in an isolated
            kernel (only when the notebook's given cells use it).
    """

    def __init__(self, *, isolated: bool, limits: Limits | None = None,
                 files: list[Path] = (), reference: bool = True):
        self.isolated = isolated
        self.reference = reference
        self.limits = limits or Limits()
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-sandbox-"))
        self.sandbox = self.folder / "work"
        self.sandbox.mkdir()
        for f in files:
            shutil.copy(f, self.sandbox / Path(f).name)
        self.km: KernelManager | None = None
        self.client = None
        self.history: list[str] = []     # cells that ran without killing the kernel
        self.restarts = 0
        self.restart_seconds = 0.0       # time spent restarting and replaying

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> "KernelSession":
        argv = [sys.executable, "-m", "autograder.kernel.entry", "-f", "{connection_file}",
                "--sandbox", str(self.sandbox), "--memory-mb", str(self.limits.memory_mb),
                "--cpu-seconds", str(self.limits.cpu_seconds),
                "--processes", str(self.limits.processes)]
        if self.isolated:
            argv.append("--isolated")
            if not self.reference:
                argv.append("--no-reference")
        km = KernelManager(transport="ipc", ip=str(self.folder / "ipc"),
                           connection_file=str(self.folder / "kernel.json"))
        km._kernel_spec = KernelSpec(argv=argv, display_name="grading kernel",
                                     language="python")
        env = tool_env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1",
                       JUPYTER_PLATFORM_DIRS="1")
        km.start_kernel(cwd=str(self.sandbox), env=env)
        self.km = km
        self._connect()
        return self

    def _connect(self) -> None:
        import zmq

        client = self.km.client()
        client.start_channels()
        # a message larger than this drops the connection instead of filling the grader's memory
        client.iopub_channel.socket.setsockopt(zmq.MAXMSGSIZE, MAX_RESULT_BYTES * 2)
        client.wait_for_ready(timeout=self.limits.startup_timeout)
        self.client = client

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def restart(self, replay: bool = True) -> None:
        """A fresh kernel with the state of the cells that ran before (replayed silently)."""
        self.restarts += 1
        began = time.monotonic()
        if self.client is not None:
            self.client.stop_channels()
        self.km.restart_kernel(now=True)
        self._connect()
        if replay:
            for code in list(self.history):
                ran = self.execute(code, self.limits.cell_timeout, record=False)
                if ran.status in ("died", "timeout"):
                    self.history.remove(code)
        self.restart_seconds += time.monotonic() - began

    def shutdown(self) -> None:
        try:
            if self.client is not None:
                self.client.stop_channels()
            if self.km is not None and self.km.is_alive():
                self.km.shutdown_kernel(now=True)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "KernelSession":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # --- running code -------------------------------------------------------------------------
    def execute(self, code: str, timeout: float, *, record: bool = True,
                silent: bool = False) -> Execution:
        """Run ``code``; collect its outputs as nbformat outputs. On a timeout the kernel is
        interrupted (and restarted if it does not stop); if it dies it is restarted. ``record``
        keeps the code for replay after a restart."""
        start = time.monotonic()
        if not self.alive():
            self.restart()
        msg_id = self.client.execute(code, silent=silent, store_history=not silent,
                                     allow_stdin=False)
        run = self._collect(msg_id, start + timeout)
        run.seconds = time.monotonic() - start
        if run.status == "timeout":
            self._stop_runaway(msg_id)
        elif run.status == "died":
            self.restart()
        elif record:
            self.history.append(code)
        return run

    def _collect(self, msg_id: str, deadline: float) -> Execution:
        run = Execution(status="ok")
        text = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                run.status = "timeout"
                return run
            try:
                msg = self.client.get_iopub_msg(timeout=min(remaining, 0.5))
            except queue.Empty:
                if not self.alive():
                    run.status = "died"
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
                run.status = "error"
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
            if content.get("status") == "error" and run.status == "ok":
                run.status = "error"
                run.ename, run.evalue = content.get("ename", ""), content.get("evalue", "")
            return

    def _stop_runaway(self, msg_id: str) -> None:
        """Interrupt a cell past its time; restart the kernel if it does not come back."""
        try:
            self.km.interrupt_kernel()
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

    A time budget is given per exercise (:meth:`budget`); once it is spent the remaining calls
    of that exercise fail at once with a ``TimeoutError``, so a broken exercise costs its time
    limit once, not once per check.
    """

    where = "isolated"

    def __init__(self, session: KernelSession):
        self.session = session
        self.deadline = float("inf")
        #: the error that ended the current exercise (a timeout, a dead kernel), or None
        self.fatal: Result | None = None

    @property
    def timed_out(self) -> bool:
        return self.fatal is not None and self.fatal.error["type"] == "TimeoutError"

    def budget(self, seconds: float) -> None:
        """Start a new exercise with ``seconds`` of wall-clock time for all its calls."""
        self.deadline = time.monotonic() + seconds
        self.fatal = None

    def run(self, calls) -> list[Result]:
        return [self._one(call) for call in calls]

    def _fail(self, kind: str, message: str) -> Result:
        return Result(error={"stage": "call", "type": kind, "message": message})

    def _one(self, call: Call) -> Result:
        if self.fatal is not None:   # one timeout or crash per exercise, not one per check
            return self.fatal
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.fatal = self._fail("TimeoutError", "the time limit of this exercise is spent")
            return self.fatal
        text, blob = encode(call)
        code = (f"__autograder_call__({text!r}, {base64.b64encode(blob).decode()!r}, "
                f"{MAX_RESULT_BYTES})")
        restarts = self.session.restart_seconds
        run = self.session.execute(code, min(remaining, self.session.limits.exercise_timeout),
                                   record=False, silent=True)
        # restarting a kernel is the grader's time, not the exercise's
        self.deadline += self.session.restart_seconds - restarts
        if run.status == "timeout":
            self.fatal = self._fail("TimeoutError", "did not finish within the time limit: an "
                                    "infinite loop, a blocking call, or a very slow computation")
            return self.fatal
        if run.status == "died":
            self.fatal = self._fail("KernelDied", "the kernel died while running this call "
                                    "(os._exit, a crash in native code, or memory exhaustion)")
            return self.fatal
        if len(run.results) != 1:
            detail = f"{run.ename}: {run.evalue}" if run.ename else "no result"
            return self._fail("GraderCallFailed", f"the grader's call did not come back "
                              f"({detail}); was __autograder_call__ replaced?")
        payload = run.results[0]
        try:
            blob = base64.b64decode(payload["blob"], validate=True)
            result = decode(payload["json"], blob, max_bytes=MAX_RESULT_BYTES)
        except Exception as exc:  # noqa: BLE001 - malformed data is the student's failure
            return self._fail("GraderCallFailed", f"the result could not be read: {exc}")
        if not isinstance(result, Result):
            return self._fail("GraderCallFailed", "the kernel answered with something other "
                              "than a result")
        return result
