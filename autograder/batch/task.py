"""Grading one submission: a pure task, the same on a local process and on a cluster worker.

:func:`grade_submission` takes a :class:`TaskInput` (data only: the submission's notebooks as
bytes, what the grader needs from the course as an :class:`AssignmentSpec`, the limits, the mode
and a fresh secret seed) and returns a :class:`TaskOutput` (data only: for each notebook the
autograded notebook as nbgrader would write it, the score of each graded cell, nbgrader's
comments and the verdicts; notes for the student). It reads no course folder and writes nothing
but its own temporary folder, so a worker on another machine needs only the installed course
package. It never raises: a submission it cannot grade comes back with ``status="error"``.

Steps, each what nbgrader's ``autograde`` (and this grader's staging before it) did:

1. **Repair** what would break grading, with a note for the student: a file that is empty, not
   JSON, not a notebook, the notebook of another assignment or missing is replaced by the
   unanswered release notebook (0 points); a lone notebook with another name is graded under the
   expected one; a second cell with a grade id runs as an ordinary cell; changed nbgrader flags and
   points are put back, and deleted test cells are put back where the release had them.
2. **Sanitize** as nbgrader's sanitize step does: outputs cleared (``ClearOutput``), duplicated ids
   dropped (``DeduplicateIds``), the kernelspec and every locked cell put back from nbgrader's
   stored copy (``OverwriteKernelspec``, ``OverwriteCells``: the course data here stands for the
   gradebook), the metadata validated (``CheckCellMetadata``).
3. **Grade** with :func:`autograder.nbgrader.grader.grade_notebook` (a sandboxed kernel through
   :class:`~autograder.kernel.session.KernelSession`, isolated or in-kernel), then nbgrader's
   ``IgnorePattern``, ``ClearMetadataPreprocessor`` and ``LimitOutput``, configured as the course
   configures them.
4. **Score** each graded cell with nbgrader's own ``determine_grade`` and each answer cell's
   comment as ``SaveAutoGrades`` does; the coordinator writes them into the gradebook.
"""
from __future__ import annotations

import copy
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..kernel.session import Limits
from ..nbgrader.cells import NotebookError, grade_id, nbgrader_meta, parse

#: nbgrader preprocessors the task runs itself; their sections of the course configuration travel
#: with the task (see :func:`preprocessor_config`)
_SANITIZE = ("ClearOutput", "DeduplicateIds", "CheckCellMetadata")
_AFTER_GRADING = ("IgnorePattern", "ClearMetadataPreprocessor", "LimitOutput")
_CONFIG_SECTIONS = (*_SANITIZE, *_AFTER_GRADING, "NbGraderPreprocessor", "Preprocessor")


# --- the input ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellSpec:
    """One nbgrader cell as the gradebook stores it (``generate_assignment`` put it there)."""

    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str                 # the full source, hidden tests included
    grade: bool
    solution: bool
    task: bool = False
    points: float | None = None

    def released(self) -> dict:
        """The flags (and points) the cell was released with."""
        return {"grade": self.grade, "solution": self.solution, "locked": self.locked,
                "points": self.points}


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    cells: dict[str, CellSpec]       # grade id -> cell, in the gradebook's order
    kernelspec: dict | None = None
    release: str | None = None       # the release notebook (JSON text), for repairs

    def release_notebook(self) -> nbformat.NotebookNode:
        if self.release is None:
            raise FileNotFoundError(f"the release notebook {self.name}.ipynb was not found on "
                                    "the coordinator (run nbgrader generate_assignment)")
        return nbformat.reads(self.release, as_version=4)


@dataclass(frozen=True)
class AssignmentSpec:
    """What the grader needs from the course to grade any submission of one assignment."""

    name: str
    notebooks: dict[str, NotebookSpec]
    #: sections of the course's nbgrader configuration for the preprocessors the task runs
    preprocessors: dict = field(default_factory=dict)

    def kernel_reference(self, notebook: str | None = None) -> bool:
        """Whether the given cells of ``notebook`` (default: the first) use the reference, as
        :func:`~autograder.nbgrader.grader.needs_reference` finds in a sanitized submission
        (its given cells are the gradebook's)."""
        from ..nbgrader.grader import given_cells_use_reference

        spec = self.notebooks.get(notebook) if notebook else next(iter(self.notebooks.values()),
                                                                  None)
        return spec is not None and given_cells_use_reference(
            c.source for c in spec.cells.values()
            if c.cell_type == "code" and c.locked and not c.grade)


@dataclass(frozen=True)
class TaskInput:
    assignment: str
    student: str
    #: the submission's notebooks (``*.ipynb`` at the top of its folder), file name -> bytes
    files: dict[str, bytes]
    spec: AssignmentSpec
    mode: str
    limits: Limits
    seed: int
    #: notebooks of the submission that the coordinator could not send, file name -> why
    unreadable: dict[str, str] = field(default_factory=dict)
    #: "bwrap": the kernels in the OS sandbox; "none": without it (the records say so)
    sandbox: str = "bwrap"
    #: whether this worker is likely to get another submission after this one: only then does
    #: it start a kernel ahead (one started for nothing costs a whole start-up)
    ahead: bool = True
    #: the assignment of the submission this worker is likely to get next, if another one: the
    #: kernel started ahead is made for it (a kernel made for another assignment may not fit:
    #: whether it may import the reference depends on the assignment, :meth:`kernel_reference`)
    next_spec: AssignmentSpec | None = None


# --- the output ---------------------------------------------------------------------------------


@dataclass
class NotebookResult:
    name: str
    autograded: str                      # the autograded notebook (JSON text)
    scores: dict[str, float | None]      # grade id -> nbgrader's auto_score
    comments: dict[str, str | None]      # grade id -> nbgrader's auto_comment
    report: dict                         # the verdicts (NotebookReport.to_json())


@dataclass
class TaskOutput:
    assignment: str
    student: str
    status: str                          # "graded" or "error"
    notes: list[str] = field(default_factory=list)
    notebooks: dict[str, NotebookResult] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""                     # host:pid of the process that graded it


# --- 1. repairs -----------------------------------------------------------------------------------


def stage(task: TaskInput) -> tuple[dict[str, nbformat.NotebookNode], list[str]]:
    """The notebook to grade for each notebook the assignment expects, repaired, and the notes
    for the student."""
    expected = task.spec.notebooks
    notes: list[str] = []
    staged: dict[str, nbformat.NotebookNode] = {}
    present = sorted({*task.files, *task.unreadable})
    for name, spec in expected.items():
        file = f"{name}.ipynb"
        if file not in present:
            others = [f for f in present if Path(f).stem not in expected]
            if len(expected) == 1 and len(others) == 1:
                notes.append(f"{others[0]} was graded as {file} (the expected name)")
                file = others[0]
            else:
                notes.append(f"{file} is missing from the submission: graded as unanswered "
                             "(0 points)")
                staged[name] = spec.release_notebook()
                continue
        try:
            if file in task.unreadable:
                raise NotebookError(f"{file}: {task.unreadable[file]}")
            nb = parse(task.files[file], file)
        except NotebookError as exc:
            notes.append(f"{exc.args[0]}. Graded as unanswered (0 points); the file was kept as "
                         "it is in submitted/.")
            staged[name] = spec.release_notebook()
            continue
        # only graded and answer cells identify a notebook: every lesson has a "setup" cell
        own = {gid for gid, cell in spec.cells.items() if cell.grade or cell.solution}
        found = [grade_id(c) for c in nb.cells if grade_id(c)]
        if found and not set(found) & own:
            notes.append(f"{file} is not a notebook of {task.assignment} (none of its graded "
                         "cells belong to it): graded as unanswered (0 points). Was another "
                         "assignment's notebook submitted?")
            staged[name] = spec.release_notebook()
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
                if _restore_flags(cell, spec.cells.get(gid)):
                    notes.append(f"the nbgrader metadata of cell {gid} was changed; it was "
                                 "restored to what the assignment was released with")
        notes += _restore_missing(nb, spec)
        staged[name] = nb
    return staged, notes


def _restore_missing(nb, spec: NotebookSpec) -> list[str]:
    """Put every graded cell the submission lost back where the release had it.

    nbgrader's own ``add_missing_cells`` fails (KeyError) when the lost cell followed a locked
    cell that is not graded, as every hidden test cell here follows its visible test. The cell is
    taken from the release; the sanitize step then restores its full source (hidden tests
    included) from nbgrader's stored copy, as for any edited test cell.
    """
    present = {grade_id(c) for c in nb.cells if grade_id(c)}
    missing = [gid for gid, cell in spec.cells.items() if cell.grade and gid not in present]
    if not missing:
        return []
    notes = []
    previous: str | None = None
    for cell in spec.release_notebook().cells:
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


def _restore_flags(cell, released: CellSpec | None) -> bool:
    """Put back the grade/solution/locked flags and points a cell was released with (nbgrader
    restores a locked cell's source but not these, and then refuses the whole notebook).
    Returns whether anything changed."""
    if released is None:
        return False
    meta = nbgrader_meta(cell)
    want = {k: v for k, v in released.released().items() if k != "points"}
    if released.grade:
        want["points"] = released.points
    changed = any(meta.get(k) != v for k, v in want.items()) or \
        (not released.grade and "points" in meta)
    if changed:
        meta.update(want)
        if not released.grade:
            meta.pop("points", None)
        cell.metadata["nbgrader"] = meta
    return changed


# --- 2. nbgrader's sanitize step, from the course data --------------------------------------------


def _preprocessor(name: str, spec: AssignmentSpec):
    from nbconvert import preprocessors as nbconvert_pp
    from nbgrader import preprocessors as nbgrader_pp
    from traitlets.config import Config

    cls = getattr(nbgrader_pp, name, None) or getattr(nbconvert_pp, name)
    return cls(config=Config(copy.deepcopy(spec.preprocessors)))


def _run(names, nb, resources, spec):
    for name in names:
        nb, resources = _preprocessor(name, spec)(nb, resources)
    return nb, resources


def overwrite_cells(nb, spec: NotebookSpec) -> None:
    """nbgrader's ``OverwriteKernelspec`` and ``OverwriteCells``, with the course data standing
    for the gradebook: the kernelspec, each nbgrader cell's type, locked flag and points, and the
    source of every locked cell are put back as they were released."""
    from nbgrader import utils
    from nbgrader.preprocessors import OverwriteCells

    if spec.kernelspec:
        nb.metadata["kernelspec"] = copy.deepcopy(spec.kernelspec)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is None:
            continue
        source = spec.cells.get(gid)
        if source is None:         # nbgrader: "does not exist in the database"
            del cell.metadata.nbgrader["grade_id"]
            continue
        if cell.cell_type != source.cell_type:
            OverwriteCells().update_cell_type(cell, source.cell_type)
        if utils.is_locked(cell) != source.locked:
            cell.metadata.nbgrader["locked"] = source.locked
        if utils.is_grade(cell) and source.points is not None \
                and float(cell.metadata.nbgrader["points"]) != float(source.points):
            cell.metadata.nbgrader["points"] = float(source.points)
        cell.metadata.nbgrader["checksum"] = source.checksum
        if source.locked and utils.compute_checksum(cell) != source.checksum:
            cell.source = source.source
            if utils.compute_checksum(cell) != source.checksum:
                raise RuntimeError(f"Inconsistent checksums for cell {gid}")


def sanitize(nb, spec: AssignmentSpec, notebook: NotebookSpec, resources: dict):
    nb, resources = _run(_SANITIZE[:2], nb, resources, spec)
    overwrite_cells(nb, notebook)
    nb, resources = _run(_SANITIZE[2:], nb, resources, spec)
    # nbgrader writes the sanitized notebook and reads it back before grading it
    return nbformat.reads(nbformat.writes(nb), as_version=4), resources


# --- 3-4. grading and scores --------------------------------------------------------------------


def scores_and_comments(nb) -> tuple[dict, dict]:
    """What nbgrader's ``SaveAutoGrades`` would store: the auto score of each graded cell and
    the auto comment of each answer (and task) cell."""
    from nbgrader import utils

    scores, comments = {}, {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is None:
            continue
        if utils.is_grade(cell):
            scores[gid] = utils.determine_grade(cell)[0]
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = cell.metadata.nbgrader.get("checksum") == utils.compute_checksum(cell)
            comments[gid] = "No response." if unchanged and not utils.is_task(cell) else None
    return scores, comments


_PREPARED = False


def _prepare_process() -> None:
    """Once per worker process: one torch thread (processes sharing the cores otherwise run each
    other's gradchecks past their time limits) and no library warnings on the console."""
    global _PREPARED
    if _PREPARED:
        return
    import warnings

    import torch

    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    _PREPARED = True


def grade_submission(task: TaskInput) -> TaskOutput:
    """Grade one submission (see the module's docstring). Never raises."""
    from ..nbgrader.grader import grade_notebook

    start = time.monotonic()
    out = TaskOutput(task.assignment, task.student, "error",
                     worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        _prepare_process()
        staged, out.notes = stage(task)
        names = list(staged)
        with tempfile.TemporaryDirectory(prefix="autograder-task-") as tmp:
            for i, (name, nb) in enumerate(staged.items()):
                notebook = task.spec.notebooks[name]
                resources = {"unique_key": name, "metadata": {"path": tmp},
                             "nbgrader": {"student": task.student, "assignment": task.assignment,
                                          "notebook": name}}
                nb, resources = sanitize(nb, task.spec, notebook, resources)
                path = Path(tmp) / f"{name}.ipynb"
                path.write_text(nbformat.writes(nb), encoding="utf-8")
                following = task.spec.kernel_reference(names[i + 1]) if i + 1 < len(names) \
                    else task.next_spec.kernel_reference() if task.next_spec else None
                report = grade_notebook(path, nb, mode=task.mode, limits=task.limits,
                                        seed=task.seed, sandbox=task.sandbox,
                                        ahead=task.ahead or i < len(staged) - 1,
                                        next_reference=following)
                nb, resources = _run(_AFTER_GRADING, nb, resources, task.spec)
                scores, comments = scores_and_comments(nb)
                nb, resources = _run(("CheckCellMetadata",), nb, resources, task.spec)
                out.notebooks[name] = NotebookResult(name, nbformat.writes(nb), scores, comments,
                                                     report.to_json())
                out.notes += report.notes
        out.status = "graded"
    except Exception as exc:  # noqa: BLE001 - one submission must never stop the batch
        out.error = f"{type(exc).__name__}: {exc}"
        out.notebooks = {}
    out.seconds = round(time.monotonic() - start, 3)
    return out


def preprocessor_config(config) -> dict:
    """The sections of the course configuration ``config`` that the task's nbgrader
    preprocessors read (plain data, sent with every task)."""
    return {name: copy.deepcopy(dict(config[name])) for name in _CONFIG_SECTIONS
            if name in config}
