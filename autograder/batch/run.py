"""``python -m autograder grade``: every submission graded, in parallel, resumable.

For each submission in nbgrader's ``submitted/`` folder:

1. **Stage** it into ``.autograder/staging/`` (``submitted/`` itself is never modified): a file that
   is empty, not JSON, not a notebook, or the notebook of another assignment is replaced by the
   unanswered release notebook, so that it earns 0 and nothing else breaks; duplicated grade ids
   are reduced to their first cell; every such repair becomes a note for that student.
2. **Grade** it with nbgrader's own ``autograde`` (through :class:`nbgrader.apps.NbGraderAPI`, in a
   pool of worker processes that each grade many submissions), with
   :class:`autograder.nbgrader.grader.GradingExecute` in place of nbgrader's executor: isolated by default.
3. **Record** the verdicts and a hash of the submission in ``.autograder/records``, atomically,
   only once nbgrader has saved the scores. A submission whose record matches its hash is skipped
   (unless ``--force``), so a run that was stopped, crashed or killed loses nothing: the next run
   grades what is left.

Then the reports (:mod:`autograder.reports`) are written from nbgrader's gradebook and the records.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..kernel.limits import Limits
from ..nbgrader.grader import MODES, RECORDS
from ..nbgrader.cells import NotebookError, grade_id, nbgrader_meta, read

STAGING = ".autograder/staging"


@dataclass(frozen=True)
class Task:
    assignment: str
    student: str


@dataclass
class Options:
    mode: str = "isolated"
    sandbox: str = "bwrap"         # "none": kernels without the OS sandbox (reports say so)
    jobs: int = 0                  # 0: one per CPU core
    force: bool = False
    cell_timeout: float = Limits.cell_timeout          # CPU seconds
    exercise_timeout: float = Limits.exercise_timeout  # CPU seconds
    memory_mb: int = Limits.memory_mb
    seed: int = -1
    gradescope: bool = False
    progress: bool = True
    reports: bool = True


@dataclass
class Summary:
    graded: list[Task] = field(default_factory=list)
    skipped: list[Task] = field(default_factory=list)
    failed: list[tuple[Task, str]] = field(default_factory=list)
    seconds: float = 0.0
    report_dir: Path | None = None


# --- what there is to grade ---------------------------------------------------------------------


def course_assignments(root: Path) -> dict[str, dict]:
    """``assignment -> {notebook -> {grade id -> nbgrader metadata}}`` from the gradebook: the
    flags (grade, solution, locked) and points each nbgrader cell was released with."""
    from nbgrader.api import Gradebook

    out: dict[str, dict] = {}
    db = root / "gradebook.db"
    if not db.exists():
        return out
    with Gradebook(f"sqlite:///{db}") as gb:
        for assignment in gb.assignments:
            out[assignment.name] = {}
            for nb in assignment.notebooks:
                graded = {c.name: c.max_score for c in nb.grade_cells}
                solutions = {c.name for c in nb.solution_cells}
                out[assignment.name][nb.name] = {
                    c.name: {"grade": c.name in graded, "solution": c.name in solutions,
                             "locked": bool(c.locked), "points": graded.get(c.name)}
                    for c in nb.source_cells}
    return out


def find_tasks(root: Path, assignments: list[str] | None, known: dict[str, dict]) -> list[Task]:
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    wanted = assignments or sorted(known)
    tasks = []
    for student in sorted(p for p in submitted.iterdir() if p.is_dir()):
        for aid in wanted:
            if (student / aid).is_dir():
                tasks.append(Task(aid, student.name))
    return tasks


def submission_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def record_dir(root: Path, task: Task) -> Path:
    return root / RECORDS / task.assignment / task.student


def load_record(root: Path, task: Task) -> dict | None:
    path = record_dir(root, task) / "_submission.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


# --- staging ------------------------------------------------------------------------------------


def stage(root: Path, task: Task, notebooks: dict[str, dict], release_dir: Path) -> list[str]:
    """Copy one submission into the staging area, repairing what would break grading.

    Returns the notes for the student. ``notebooks`` maps each notebook the assignment expects to
    its nbgrader cells (see :func:`course_assignments`).
    """
    source = root / "submitted" / task.student / task.assignment
    target = root / STAGING / "submitted" / task.student / task.assignment
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    notes: list[str] = []
    stamp = source / "timestamp.txt"
    if stamp.is_file():
        shutil.copy(stamp, target / "timestamp.txt")
    present = sorted(p for p in source.glob("*.ipynb") if p.is_file())
    for name, ids in notebooks.items():
        path = source / f"{name}.ipynb"
        if not path.exists():
            others = [p for p in present if p.stem not in notebooks]
            if len(notebooks) == 1 and len(others) == 1:
                notes.append(f"{others[0].name} was graded as {name}.ipynb (the expected name)")
                path = others[0]
            else:
                notes.append(f"{name}.ipynb is missing from the submission: graded as "
                             "unanswered (0 points)")
                _stage_release(release_dir, task, name, target)
                continue
        try:
            nb = read(path)
        except NotebookError as exc:
            notes.append(f"{exc.args[0].replace(str(path), path.name)}. Graded as unanswered "
                         "(0 points); the file was kept as it is in submitted/.")
            _stage_release(release_dir, task, name, target)
            continue
        # only graded and answer cells identify a notebook: every lesson has a "setup" cell
        own = {gid for gid, meta in ids.items() if meta["grade"] or meta["solution"]}
        found = [grade_id(c) for c in nb.cells if grade_id(c)]
        if found and not set(found) & own:
            notes.append(f"{path.name} is not a notebook of {task.assignment} (none of its "
                         f"graded cells belong to it): graded as unanswered (0 points). Was "
                         "another assignment's notebook submitted?")
            _stage_release(release_dir, task, name, target)
            continue
        seen: set[str] = set()
        for cell in nb.cells:
            gid = grade_id(cell)
            if gid and gid in seen:
                cell.metadata.pop("nbgrader", None)
                notes.append(f"a second cell with grade id {gid} was found; the first one is "
                             "graded, the copy runs as an ordinary cell")
            elif gid:
                seen.add(gid)
                if _restore_flags(cell, ids.get(gid)):
                    notes.append(f"the nbgrader metadata of cell {gid} was changed; it was "
                                 "restored to what the assignment was released with")
        notes += _restore_missing(nb, release_dir / task.assignment / f"{name}.ipynb", ids)
        nbformat.write(nb, target / f"{name}.ipynb")
    return notes


def _restore_missing(nb, release_path: Path, ids: dict) -> list[str]:
    """Put every graded cell the submission lost back where the release had it.

    nbgrader's own ``add_missing_cells`` fails (KeyError) when the lost cell followed a locked
    cell that is not graded, as every hidden test cell here follows its visible test. The cell is
    taken from the release: nbgrader then restores its full source (hidden tests included) from
    the gradebook, as for any edited test cell.
    """
    present = {grade_id(c) for c in nb.cells if grade_id(c)}
    missing = [gid for gid, meta in ids.items() if meta["grade"] and gid not in present]
    if not missing:
        return []
    release = nbformat.read(release_path, 4)
    notes = []
    previous: str | None = None
    for cell in release.cells:
        gid = grade_id(cell)
        if gid in missing:
            at = next((i + 1 for i, c in enumerate(nb.cells) if previous and
                       grade_id(c) == previous), len(nb.cells))
            nb.cells.insert(at, nbformat.from_dict(json.loads(json.dumps(cell))))
            notes.append(f"test cell {gid} was missing from the submission; it was put back "
                         "and graded")
        if gid and (gid in present or gid in missing):
            previous = gid
    return notes


def _restore_flags(cell, released: dict | None) -> bool:
    """Put back the grade/solution/locked flags and points a cell was released with (nbgrader
    restores a locked cell's source but not these, and then refuses the whole notebook).
    Returns whether anything changed."""
    if released is None:
        return False
    meta = nbgrader_meta(cell)
    want = {k: released[k] for k in ("grade", "solution", "locked")}
    if released["grade"]:
        want["points"] = released["points"]
    changed = any(meta.get(k) != v for k, v in want.items()) or \
        (not released["grade"] and "points" in meta)
    if changed:
        meta.update(want)
        if not released["grade"]:
            meta.pop("points", None)
    return changed


def _stage_release(release_dir: Path, task: Task, name: str, target: Path) -> None:
    shutil.copy(release_dir / task.assignment / f"{name}.ipynb", target / f"{name}.ipynb")


# --- workers ------------------------------------------------------------------------------------

_API = None
_ROOT: Path | None = None
_KNOWN: dict = {}


def _config(root: Path, options: Options):
    from traitlets.config.loader import PyFileConfigLoader

    from ..nbgrader.grader import configure

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.submitted_directory = f"{STAGING}/submitted"
    configure(config, options.mode, sandbox=options.sandbox, cell_timeout=options.cell_timeout,
              exercise_timeout=options.exercise_timeout, memory_mb=options.memory_mb,
              seed=options.seed)
    return config


def _init_worker(root: str, options: Options, known: dict) -> None:
    global _API, _ROOT, _KNOWN
    import warnings

    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    warnings.filterwarnings("ignore")  # nbgrader's SQLAlchemy warnings would cover the progress bar
    import torch
    from nbgrader.apps import NbGraderAPI

    torch.set_num_threads(1)
    _ROOT = Path(root)
    _KNOWN = known
    os.chdir(_ROOT)
    _API = NbGraderAPI(config=_config(_ROOT, options))


def _release_dir(root: Path) -> Path:
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    name = config.CourseDirectory.get("release_directory", "release")
    return root / name


def grade_task(task: Task) -> dict:
    """Stage, autograde and record one submission (in a worker). Never raises."""
    start = time.monotonic()
    source = _ROOT / "submitted" / task.student / task.assignment
    record = {"assignment": task.assignment, "student": task.student, "status": "error",
              "notes": [], "submission_sha256": submission_hash(source)}
    try:
        record["notes"] = stage(_ROOT, task, _KNOWN[task.assignment], _release_dir(_ROOT))
        result = _API.autograde(task.assignment, task.student, force=True, create=True)
        if result["success"]:
            record["status"] = "graded"
        else:
            record["error"] = "nbgrader autograde failed: " + _root_cause(
                (result.get("log") or "") + "\n" + (result.get("error") or ""))
    except Exception as exc:  # noqa: BLE001 - one submission must never stop the batch
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["seconds"] = round(time.monotonic() - start, 3)
    notebooks = {}
    for name in _KNOWN.get(task.assignment, {}):
        path = record_dir(_ROOT, task) / f"{name}.json"
        if path.exists():
            notebooks[name] = json.loads(path.read_text())
            record["notes"] += notebooks[name].get("notes", [])
    record["notebooks"] = notebooks
    _write_json(record_dir(_ROOT, task) / "_submission.json", record)
    return record


def _root_cause(text: str) -> str:
    """The first exception line of nbgrader's log, rather than its closing "Please see the
    above traceback"."""
    import re

    for line in text.splitlines():
        line = line.strip()
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*:", line) and "Please see" not in line:
            return line[:500]
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "unknown error"


# --- the command --------------------------------------------------------------------------------


def grade(root: str | Path = ".", assignments: list[str] | None = None,
          options: Options | None = None) -> Summary:
    """Grade every submission of ``assignments`` (default: all) in the course at ``root``."""
    from tqdm import tqdm

    options = options or Options()
    if options.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {options.mode!r}")
    if options.sandbox != "none":
        from ..kernel.sandbox import find

        find()   # SandboxUnavailable, naming the cause and the fix, before any work starts
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").exists():
        raise FileNotFoundError(f"{root} is not a course directory (no nbgrader_config.py)")
    known = course_assignments(root)
    missing = [a for a in assignments or [] if a not in known]
    if missing:
        raise ValueError(f"unknown assignment(s) {missing}: the gradebook has {sorted(known)} "
                         "(run nbgrader generate_assignment first)")
    summary = Summary()
    start = time.monotonic()
    todo = []
    for task in find_tasks(root, assignments, known):
        old = load_record(root, task)
        fresh = submission_hash(root / "submitted" / task.student / task.assignment)
        if not options.force and old and old.get("status") == "graded" \
                and old.get("submission_sha256") == fresh:
            summary.skipped.append(task)
        else:
            todo.append(task)
    jobs = options.jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(todo))) if todo else 1
    if todo:
        ctx = mp.get_context("spawn")
        bar = tqdm(total=len(todo), unit="sub", disable=not options.progress,
                   desc=f"grading ({options.mode}, {jobs} job{'s' if jobs > 1 else ''})")
        with ctx.Pool(jobs, initializer=_init_worker,
                      initargs=(str(root), options, known), maxtasksperchild=50) as pool:
            try:
                for record in pool.imap_unordered(grade_task, todo):
                    task = Task(record["assignment"], record["student"])
                    if record["status"] == "graded":
                        summary.graded.append(task)
                    else:
                        summary.failed.append((task, record.get("error", "?")))
                    bar.update(1)
                    bar.set_postfix(done=len(summary.graded), failed=len(summary.failed),
                                    left=len(todo) - len(summary.graded) - len(summary.failed))
                pool.close()  # let the workers exit normally: they shut their kernels down
                pool.join()
            finally:
                bar.close()
    summary.seconds = time.monotonic() - start
    if options.reports:
        from ..reports.build import write_reports

        summary.report_dir = write_reports(root, sorted({t.assignment for t in
                                                         find_tasks(root, assignments, known)}),
                                           gradescope=options.gradescope)
    return summary
