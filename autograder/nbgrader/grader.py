"""Grading one submitted notebook, in one of two modes.

``isolated`` (the default of ``python -m autograder grade``): the student's cells run in a
sandboxed kernel (:mod:`autograder.kernel.sandbox`, :mod:`autograder.kernel.policy`); test
cells never run there. Their check calls are read from the cell source that nbgrader restored
from its gradebook, and every check runs in this process against a
:class:`~autograder.kernel.session.KernelSubject`, which asks the kernel for outputs as data.
The verdict is written into the test cell as its output, so nbgrader's own ``SaveAutoGrades``
puts the score into the gradebook.

``in-kernel``: nbgrader's usual way, every cell (test cells too) runs in the student's kernel,
with the same kernel handling: time limits, restarts after a crash, capped output.

In both modes the kernel runs in the OS sandbox unless ``sandbox="none"`` (then every report
says so), and time limits are CPU time of the kernel's processes, with a wall-clock bound for
what sleeps (:class:`~autograder.kernel.limits.Limits`). Before an exercise loses points to a
timeout, the check that ran out is run once more with a fresh budget (the record and the
feedback say so); if it runs out again, the exercise's remaining test cells fail at once with the
timeout message, so a broken exercise costs its time limit twice, not once per test.

:class:`GradingExecute` is the nbgrader preprocessor that replaces nbgrader's ``Execute`` (see
:func:`configure`), so plain ``nbgrader autograde`` grades the same way.
"""
from __future__ import annotations

import ast
import atexit
import queue
import secrets
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from .cells import CheckCall, check_calls, exercise_of, grade_id, nbgrader_meta
from .store import record_dir, write_json
from ..kernel import sandbox as os_sandbox
from ..kernel.session import Failure, KernelSession, KernelSubject, Limits, Status

MODES = ("isolated", "in-kernel")

# names that reach the reference (or any module) without naming it
_INDIRECT = ("__import__", "importlib", "__globals__", "__builtins__", "sys.modules", "__loader__")


@dataclass
class CellVerdict:
    grade_id: str
    exercise: str | None
    family: str | None
    passed: bool
    message: str
    mistake: str | None = None
    ran_on: str | None = None
    seconds: float = 0.0
    #: set when the verdict came from a second run after a timeout
    note: str | None = None


#: the note of every notebook graded with ``--sandbox none``
NOT_OS_ISOLATED = ("This notebook was graded without the OS sandbox (--sandbox none): its code "
                   "ran as the grading user, held back only by the kernel's audit hook, so this "
                   "grading was not OS-isolated.")


@dataclass
class NotebookReport:
    notebook: str
    mode: str
    seed: int
    #: how the kernel was confined: ``"bubblewrap 0.11.0 (...)"`` or ``"none"``
    sandbox: str = ""
    cells: list[CellVerdict] = field(default_factory=list)
    flagged: dict[str, str] = field(default_factory=dict)
    #: constructs in the student's own cells that an answer never needs, for the instructor to
    #: look at (they change no score by themselves)
    suspicious: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    kernel_restarts: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def _exercise_of(cell_id: str | None, calls: list[CheckCall]) -> str | None:
    from ..exercises import EXERCISES

    if calls:
        return calls[0].exercise
    return exercise_of(cell_id, EXERCISES)


def _family_of(cell_id: str | None, calls: list[CheckCall]) -> str | None:
    if calls:
        return calls[0].family
    return cell_id.rsplit("_", 1)[-1] if cell_id and "_" in cell_id else None


def _stream(text: str, name: str = "stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _error(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"\x1b[31m{ename}\x1b[0m: {evalue}"])


# what a notebook answer never needs: tampering with IPython, the interpreter or the grader
_SUSPICIOUS_NAMES = {
    "input_transformers_post", "input_transformers_cleanup", "ast_transformers",
    "set_custom_exc", "showtraceback", "_showtraceback", "__globals__", "__builtins__",
    "__import__", "importlib", "_getframe", "get_objects", "get_referrers", "settrace",
    "setprofile", "addaudithook", "_exit", "fork", "subprocess", "socket", "ctypes", "sqlite3",
    "__autograder_call__", "_autograder_kernel", "builtins", "getppid", "kill",
}
_SUSPICIOUS_TEXT = ("gradebook", "solutions/", "autograded/", "__autograder")


def suspicious_constructs(nb) -> list[str]:
    """Constructs of :data:`_SUSPICIOUS_NAMES` in the student's own cells (not locked)."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or nbgrader_meta(cell).get("locked"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in _SUSPICIOUS_NAMES:
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and node.attr in _SUSPICIOUS_NAMES:
                names.add(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in getattr(node, "names", []):
                    top = (getattr(node, "module", None) or alias.name).split(".")[0]
                    if top in _SUSPICIOUS_NAMES or alias.name.split(".")[0] in _SUSPICIOUS_NAMES:
                        names.add(top if top in _SUSPICIOUS_NAMES else alias.name)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(t for t in _SUSPICIOUS_TEXT if t in node.value)
        if names:
            label = grade_id(cell) or f"cell {index + 1}"
            found.append(f"{label}: uses {', '.join(sorted(names))}")
    return found


def static_reference_use(source: str) -> str | None:
    """Why a solution cell's source reaches the reference, or ``None``: it names ``scse_ref``,
    or reaches modules indirectly (``__import__``, ``importlib``, ``sys.modules``,
    ``__globals__``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if getattr(node, "module",
                                                                               None) else [])
            if any(n and n.split(".")[0] == "scse_ref" for n in names):
                return "imports scse_ref, the course's reference implementation"
        if isinstance(node, ast.Name) and node.id in ("scse_ref", "__import__", "__builtins__"):
            return f"uses {node.id}"
        if isinstance(node, ast.Attribute) and node.attr in ("__globals__", "modules",
                                                             "__builtins__", "__loader__") \
                and not (node.attr == "modules" and not (isinstance(node.value, ast.Name)
                                                         and node.value.id == "sys")):
            return f"reaches other modules through .{node.attr}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "scse_ref" in node.value:
            return "names scse_ref in a string"
        if isinstance(node, ast.Name) and node.id == "importlib":
            return "uses importlib"
    return None


class NotebookGrader:
    """Grades the cells of one notebook with one kernel session."""

    def __init__(self, session: KernelSession, *, mode: str, limits: Limits,
                 seed: int | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.session = session
        self.mode = mode
        self.limits = limits
        self.seed = secrets.randbits(62) if seed is None else seed
        self.subject = KernelSubject(session) if mode == "isolated" else None
        self.timed_out: set[str] = set()
        self.ended: dict[str, str] = {}    # exercise -> why its remaining checks fail at once
        self.budgeted: set[str] = set()
        self.flag_checked: set[str] = set()
        self.rerun: set[str] = set()       # exercises that were given a second budget
        self.count = 0

    def grade(self, nb, name: str = "") -> NotebookReport:
        start = time.monotonic()
        report = NotebookReport(notebook=name, mode=self.mode, seed=self.seed,
                                sandbox=os_sandbox.describe(self.session.os_sandbox))
        if self.session.os_sandbox == "none":
            report.notes.append(NOT_OS_ISOLATED)
        self.solutions = {grade_id(c): c.source for c in nb.cells
                          if nbgrader_meta(c).get("solution") and grade_id(c)}
        report.suspicious = suspicious_constructs(nb)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = nbgrader_meta(cell)
            cid = meta.get("grade_id")
            graded = bool(meta.get("grade")) and not meta.get("solution")
            calls = check_calls(cell.source)
            self.count += 1
            cell.execution_count = self.count
            if self.mode == "isolated" and calls and not graded and not meta.get("solution") \
                    and all(cc.family == "basic" for cc in calls):
                # a visible check repeats what the graded cells judge: it does not run (in the
                # kernel, autograder.check skips it the same way while nbgrader grades)
                cell.outputs = [_stream(f"(the visible check of {calls[0].exercise}: not run "
                                        "while nbgrader grades this notebook; the graded checks "
                                        "do the judging)\n")]
            elif calls and self.mode == "isolated":
                self._judge(cell, cid, calls, graded, report)
            else:
                self._run(cell, cid, calls, graded, index, report)
        report.kernel_restarts = self.session.restarts
        report.seconds = time.monotonic() - start
        return report

    # --- student code (and, in-kernel, test cells) -------------------------------------------
    def _limit_text(self, cpu: float) -> str:
        return (f"{cpu:g} s of CPU time (or {self.limits.wall(cpu):g} s of wall-clock time "
                "for code that sleeps or waits)")

    def _rerun_note(self, exercise: str, finished: bool) -> str:
        budget = self._limit_text(self.limits.exercise_timeout)
        then = ("it finished the second time, and its verdict counts" if finished else
                "it ran past the limit again, so it earns no points for the checks left")
        return (f"{exercise}: a check ran past its time limit ({budget}); before taking any "
                f"point it was run again with a fresh budget: {then}")

    def _run(self, cell, cid, calls, graded, index, report) -> None:
        exercise = _exercise_of(cid, calls) if graded or calls else None
        family = _family_of(cid, calls) if graded or calls else None
        if exercise in self.ended:
            kind = Failure.TIMEOUT if exercise in self.timed_out else Failure.KERNEL_DIED
            cell.outputs = [_error(str(kind), f"skipped: {self.ended[exercise]}")]
            if graded:
                report.cells.append(CellVerdict(cid, exercise, family, False,
                                                cell.outputs[0]["evalue"], "timeout"))
            return
        test = bool(graded or calls)
        cpu = self.limits.exercise_timeout if test else self.limits.cell_timeout
        run = self.session.execute(cell.source, self.limits.wall(cpu), cpu=cpu, record=not test)
        note = None
        if run.status == Status.TIMEOUT and exercise and exercise not in self.rerun:
            # the kernel was interrupted (or restarted with the cells before): a second try
            self.rerun.add(exercise)
            run = self.session.execute(cell.source, self.limits.wall(cpu), cpu=cpu,
                                       record=False)
            note = self._rerun_note(exercise, run.status != Status.TIMEOUT)
            report.notes.append(note)
        cell.outputs = run.outputs
        if run.status == Status.TIMEOUT:
            message = (f"the cell did not finish within {self._limit_text(cpu)} and was "
                       "stopped: an infinite loop, a blocking call, or a very slow computation")
            cell.outputs.append(_error("CellTimeoutError", message))
            if exercise:
                self.timed_out.add(exercise)
                self.ended[exercise] = (f"a check of {exercise} did not finish within "
                                        f"{self._limit_text(cpu)}, twice: an infinite loop, a "
                                        "blocking call, or a very slow computation")
        elif run.status == Status.DIED:
            message = ("the kernel died while running this cell (os._exit, a crash in native "
                       "code, or memory exhaustion); it was restarted with the cells before it")
            cell.outputs.append(_error(str(Failure.KERNEL_DIED), message))
            if exercise:
                self.ended[exercise] = (f"a check of {exercise} killed the kernel (os._exit, a "
                                        "crash in native code, or memory exhaustion)")
        if run.status != Status.OK and not graded:
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            what = cell.outputs[-1].get("ename", run.ename) if cell.outputs else run.ename
            detail = cell.outputs[-1].get("evalue", run.evalue) if cell.outputs else run.evalue
            report.errors.append(f"{what}: {str(detail)[:300]} (cell {index + 1}, "
                                 f"{cid or first!r})")
        if graded:
            failed = [o for o in cell.outputs if o.get("output_type") == "error"
                      or (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            message = failed[-1].get("evalue", "wrote to stderr") if failed else "passed"
            report.cells.append(CellVerdict(cid, exercise, family, not failed, str(message),
                                            "timeout" if exercise in self.timed_out else None,
                                            seconds=run.seconds, note=note))

    # --- test cells, judged here --------------------------------------------------------------
    def _judge(self, cell, cid, calls, graded, report) -> None:
        from ..exercises import EXERCISES

        outputs, verdicts = [], []
        for cc in calls:
            exercise = EXERCISES.get(cc.exercise)
            began = time.monotonic()
            note = None
            if exercise is None:
                passed, message, mistake, ran_on = False, f"unknown exercise {cc.exercise!r}", \
                    "grader", None
            elif cc.exercise in self.ended:
                passed, message, mistake, ran_on = False, self.ended[cc.exercise], \
                    "timeout" if cc.exercise in self.timed_out else "crash", None
            else:
                if cc.exercise not in self.budgeted:
                    self.budgeted.add(cc.exercise)
                    self.subject.budget(self.limits.exercise_timeout)
                reason = self._reference_use(exercise, report)
                if cc.exercise in self.ended:
                    passed, message, mistake, ran_on = False, self.ended[cc.exercise], \
                        "timeout" if cc.exercise in self.timed_out else "crash", None
                elif reason:
                    passed, message, mistake, ran_on = False, (
                        f"{exercise.name} is not your own code: it {reason}. The answer must "
                        "not use the course's reference implementation; this exercise earns no "
                        "points."), "reference-used", None
                else:
                    outcome, note = self._with_rerun(
                        exercise, report, lambda: exercise.check(cc.family, self.subject,
                                                                 self.seed))
                    passed, message, mistake, ran_on = (outcome.passed, outcome.message,
                                                        outcome.mistake, outcome.ran_on)
                    if self.subject.fatal is not None:   # this check ended the exercise
                        self._end(exercise, self.subject.fatal)
                        passed, message = False, self.ended[cc.exercise]
                        mistake = "timeout" if cc.exercise in self.timed_out else "crash"
            outputs.append(_stream(f"\u2713 {message}\n") if passed
                           else _error("CheckFailed", message))
            verdicts.append(CellVerdict(cid or "", cc.exercise, cc.family, passed, message,
                                        mistake, ran_on, time.monotonic() - began, note))
        cell.outputs = outputs
        if graded:
            failed = [v for v in verdicts if not v.passed]
            report.cells.append(failed[0] if failed else verdicts[0])

    def _with_rerun(self, exercise, report, run):
        """``run()`` (checks against the kernel); if it ran out of the exercise's time budget,
        and the exercise has not had its second chance yet, run it once more with a fresh
        budget. Returns ``(what run returned, the note for the feedback or None)``."""
        result = run()
        if not self.subject.timed_out or exercise.id in self.rerun:
            return result, None
        self.rerun.add(exercise.id)
        self.subject.budget(self.limits.exercise_timeout)
        result = run()
        note = self._rerun_note(exercise.id, not self.subject.timed_out)
        report.notes.append(note)
        return result, note

    def _end(self, exercise, fatal) -> None:
        """Remember that ``exercise`` timed out or killed its kernel: its later checks fail at
        once with the same message instead of paying the time limit (or a restart) again."""
        if fatal.error["type"] == Failure.TIMEOUT:
            self.timed_out.add(exercise.id)
            again = ", twice" if exercise.id in self.rerun else ""
            self.ended[exercise.id] = (
                f"{exercise.name} ran past the time limit of "
                f"{self._limit_text(self.limits.exercise_timeout)} in a check{again}: an "
                "infinite loop, a blocking call, or a very slow computation")
        else:
            self.ended[exercise.id] = (
                f"running {exercise.name} killed the kernel (os._exit, a crash in native code, "
                "or memory exhaustion); its checks cannot run")

    def _reference_use(self, exercise, report) -> str | None:
        """Why the answer to ``exercise`` is the reference, or ``None`` (checked once)."""
        if exercise.id in report.flagged:
            return report.flagged[exercise.id]
        if exercise.id in self.flag_checked:
            return None
        self.flag_checked.add(exercise.id)
        reason = None
        source = self.solutions.get(exercise.id)
        if source is not None:
            reason = static_reference_use(source)
        if reason is None:
            reason = self._runtime_reference_use(exercise, report)
        if reason:
            report.flagged[exercise.id] = reason
        return reason

    def _runtime_reference_use(self, exercise, report) -> str | None:
        """Ask the kernel which classes the answer is made of and which reference functions run
        when it is called (defence in depth behind the static scan)."""
        import torch

        from ..judge.context import Context
        from ..wire.protocol import Call

        case = (list(exercise.value_cases) or list(exercise.shape_cases) or [None])[0]
        refs = exercise.reference_qualnames()
        if case is None or not refs:
            return None
        calls = [Call(name=exercise.name, init=case.init, args=None, introspect=True)]
        if case.inputs:
            ctx = Context(self.subject, exercise.name, self.seed)
            calls.append(exercise.probe(ctx, case, torch.float32).call(trace=True))
        results, _ = self._with_rerun(exercise, report, lambda: self.subject.run(calls))
        for res in results:
            if self.subject.fatal is not None:
                self._end(exercise, self.subject.fatal)
                return None
            if not res.ok:
                continue
            hits = [c for c in (res.classes or []) + (res.traced or [])
                    if c in refs or any(c.startswith(r + ".") for r in refs)]
            if hits:
                return f"is or runs the reference ({hits[0]})"
        return None


# --- kernels started ahead ---------------------------------------------------------------------


class _Spare:
    """One kernel started in the background while the current submission is graded.

    Spares are started by one thread that lives as long as the process: a sandboxed kernel is
    tied to the thread that started it (bwrap's ``--die-with-parent`` is the parent-death
    signal, which fires when that *thread* ends), so a thread per start would kill each spare
    as soon as it was ready.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.key = None
        self.pending: Future | None = None

    def _launcher(self) -> None:
        while True:
            (isolated, limits, reference, sandbox), future = self.requests.get()
            try:
                future.set_result(KernelSession(isolated=isolated, limits=limits,
                                                reference=reference, sandbox=sandbox).start())
            except BaseException as exc:  # noqa: BLE001 - reported on take()
                future.set_exception(exc)

    def _start(self, key) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._launcher, daemon=True,
                                           name="autograder-kernel-launcher")
            self.thread.start()
        self.key, self.pending = key, Future()
        self.requests.put((key, self.pending))

    def _collect(self) -> KernelSession | None:
        """The spare started last (waiting for it), or None if its start failed."""
        pending, self.pending = self.pending, None
        if pending is None:
            return None
        try:
            return pending.result()
        except BaseException:  # noqa: BLE001 - a failed spare is replaced by a fresh start
            return None

    def take(self, isolated: bool, limits: Limits, files: list[Path],
             reference: bool = True, sandbox: str = "bwrap",
             ahead: bool = True, next_reference: bool | None = None) -> KernelSession:
        """The spare kernel started for this key (or a fresh one), with ``files`` copied in;
        ``ahead``: start the next spare now (another notebook is expected), for a notebook that
        may import the reference if ``next_reference`` (``None``: as this one)."""
        key = (isolated, limits, reference, sandbox)
        with self.lock:
            wanted = self.key == key
            session = self._collect()
            if session is not None and not (wanted and session.alive()):
                session.shutdown()
                session = None
            if session is None:
                session = KernelSession(isolated=isolated, limits=limits, reference=reference,
                                        sandbox=sandbox).start()
            if ahead:
                self._start(key if next_reference is None else
                            (isolated, limits, next_reference, sandbox))
        for f in files:
            shutil.copy(f, session.sandbox / Path(f).name)
        return session

    def close(self) -> None:
        with self.lock:
            session = self._collect()
            if session is not None:
                session.shutdown()


SPARE = _Spare()
atexit.register(SPARE.close)


def needs_reference(nb) -> bool:
    """Whether the notebook's given cells (locked, not tests) use the reference package, directly
    or through a course module that imports it. Only then may an isolated kernel import it."""
    return given_cells_use_reference(
        cell.source for cell in nb.cells if cell.cell_type == "code"
        and nbgrader_meta(cell).get("locked") and not nbgrader_meta(cell).get("grade"))


def given_cells_use_reference(sources) -> bool:
    """Whether any of these given cells' sources imports the reference package, directly or
    through a course module that imports it."""
    import importlib.util

    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.split(".")[0] == "scse_ref":
                    return True
                if name.split(".")[0] == "coursekit":
                    spec = importlib.util.find_spec(name)
                    origin = getattr(spec, "origin", None)
                    if origin and "scse_ref" in Path(origin).read_text():
                        return True
    return False


def grade_file(path: Path, nb, *, mode: str, limits: Limits, seed: int | None = None,
               ahead: bool = True, sandbox: str = "bwrap",
               next_reference: bool | None = None) -> NotebookReport:
    """Grade notebook ``nb`` (read from ``path``) in a fresh kernel; fills in its outputs.
    ``ahead``: start the kernel of the next notebook while this one is graded (a kernel started
    ahead for nothing costs a whole start-up); ``next_reference``: whether that notebook's given
    cells use the reference (:func:`needs_reference`; ``None``: as this one's). ``sandbox``:
    ``"bwrap"`` (the OS sandbox; :class:`~autograder.kernel.sandbox.SandboxUnavailable` when it
    cannot be made) or ``"none"``."""
    files = [path] if path.exists() else []
    reference = mode != "isolated" or needs_reference(nb)
    if next_reference is not None:
        next_reference = mode != "isolated" or next_reference
    session = SPARE.take(mode == "isolated", limits, files, reference, sandbox, ahead=ahead,
                         next_reference=next_reference)
    try:
        return NotebookGrader(session, mode=mode, limits=limits, seed=seed).grade(nb, path.stem)
    finally:
        session.shutdown()


def grade_notebook(path: Path, nb, *, mode: str, limits: Limits, seed: int | None = None,
                   sandbox: str = "bwrap", ahead: bool = True,
                   next_reference: bool | None = None) -> NotebookReport:
    """Grade notebook ``nb`` (its file is ``path``) as nbgrader's ``Execute`` step would run it:
    fills in its outputs and returns the verdicts. What plain ``nbgrader autograde``
    (:class:`GradingExecute`) and ``python -m autograder grade`` (its task,
    :mod:`autograder.batch.task`) both run."""
    report = grade_file(path, nb, mode=mode, limits=limits, seed=seed, sandbox=sandbox,
                        ahead=ahead, next_reference=next_reference)
    report.notes += _restored_cells(nb)
    return report


class GradingExecute(NbGraderPreprocessor):
    """nbgrader's ``Execute``, replaced: grade with :class:`NotebookGrader` in the chosen mode
    and save a report of the verdicts next to the gradebook
    (``.autograder/records/<assignment>/<student>/<notebook>.json``).

    Used by plain ``nbgrader autograde`` through ``nbgrader_config.py`` (see :func:`configure`);
    ``python -m autograder grade`` runs :func:`grade_notebook` in its own task instead and writes
    the gradebook and the records itself."""

    mode = Unicode("isolated", help="'isolated' or 'in-kernel'").tag(config=True)
    sandbox = Unicode("bwrap", help="'bwrap': every kernel in the OS sandbox (bubblewrap); "
                      "'none': without it (every report then says so)").tag(config=True)
    cell_timeout = Float(Limits.cell_timeout, help="CPU seconds per student cell").tag(
        config=True)
    exercise_timeout = Float(Limits.exercise_timeout, help="CPU seconds for all checks of one "
                             "exercise").tag(config=True)
    memory_mb = Integer(Limits.memory_mb, help="address space limit of the kernel, in "
                        "MiB").tag(config=True)
    seed = Integer(-1, help="seed of the checks (-1: fresh for each submission)").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        path = folder / f"{resources['unique_key']}.ipynb"
        limits = Limits(memory_mb=self.memory_mb, cell_timeout=self.cell_timeout,
                        exercise_timeout=self.exercise_timeout)
        report = grade_notebook(path, nb, mode=self.mode, limits=limits,
                                seed=None if self.seed < 0 else self.seed, sandbox=self.sandbox)
        root = Path(info["db_url"].removeprefix("sqlite:///")).resolve().parent
        write_json(record_dir(root, info["assignment"], info["student"]) /
                   f"{info['notebook']}.json", report.to_json())
        resources["autograder_report"] = report
        return nb, resources


def _restored_cells(nb) -> list[str]:
    marker = "was missing from the submission"
    return [f"test cell {grade_id(c)} was missing from the submission and was restored from "
            "the gradebook" for c in nb.cells if marker in c.source]


def configure(c, mode: str = "isolated", sandbox: str = "bwrap", **options) -> None:
    """Make nbgrader's ``autograde`` grade through :class:`GradingExecute` (in nbgrader_config.py:
    ``from autograder.nbgrader.grader import configure; configure(c)``). ``sandbox``: see
    :class:`GradingExecute`; ``options``: its other settings (``cell_timeout``, ...)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if sandbox not in os_sandbox.SANDBOXES:
        raise ValueError(f"sandbox must be one of {os_sandbox.SANDBOXES}, got {sandbox!r}")
    c.Autograde.autograde_preprocessors = [
        GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata]
    c.GradingExecute.mode = mode
    c.GradingExecute.sandbox = sandbox
    for key, value in options.items():
        setattr(c.GradingExecute, key, value)
    # a deleted test cell is put back and graded, instead of "needs manual grading"
    c.OverwriteCells.add_missing_cells = True
