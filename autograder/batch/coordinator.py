"""The coordinator: the one process that reads the course folder and the only one that writes it.

It reads the course once per run (``nbgrader_config.py``, nbgrader's gradebook: every cell as
``generate_assignment`` stored it, the release notebooks), turns each submission folder into a
:class:`~autograder.batch.task.TaskInput` (its notebooks' bytes, a fresh secret seed) for an
executor, and writes what comes back, one submission at a time:

1. the **gradebook**, through nbgrader's API as nbgrader's ``autograde`` does (the student, the
   submission with its timestamp, each grade's auto score, each answer's auto comment, late
   penalties), with the gradebook kept open for the whole run; the results that arrive together
   share one commit (an fsync: most of the cost of a write);
2. the **autograded notebooks**, where nbgrader puts them (``autograded/<student>/<assignment>/``,
   with the submission's other files and the source folder's files, nbgrader's permissions), so
   that formgrader keeps working;
3. the **record** (``.autograder/records/<assignment>/<student>/_submission.json``: the verdicts,
   notes, a hash of the submission): written last, after the commit, so a submission counts as
   graded only once everything else is saved; a run killed at any moment loses nothing, and the
   next run grades what has no record;
4. a line in ``.autograder/graded.jsonl``, the journal of every result written (who graded it,
   how long it took, how long the writing took).

Workers never see the course folder, so two of them can never write the same gradebook rows at
once (two workers grading one student's submissions of two assignments used to both insert the
student: ``UNIQUE constraint failed: student.id``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..nbgrader.store import (SUBMISSION_RECORD, atomic_write, course_dirs, load_record,
                              record_dir, write_json)
from .task import (AssignmentSpec, CellSpec, NotebookSpec, TaskInput, TaskOutput,
                   preprocessor_config)

JOURNAL = ".autograder/graded.jsonl"
#: results whose gradebook rows share one commit, at most
GROUP = 64
#: a notebook larger than this is not sent to a worker: it is graded as unanswered, with a note
MAX_NOTEBOOK_BYTES = 32 * 2 ** 20


@dataclass(frozen=True)
class Task:
    assignment: str
    student: str


@dataclass
class Submission:
    """One submission folder as read by the coordinator."""

    sha256: str                    # of every file in the folder (names and contents)
    notebooks: dict[str, bytes]    # the notebooks at the top of the folder, by file name
    unreadable: dict[str, str]     # notebooks that are not sent to a worker, with why


@dataclass
class Written:
    """One result, recorded."""

    task: Task
    status: str            # "graded" or "error", as recorded
    error: str | None
    seconds: float         # what writing it cost the coordinator (its share of the commit too)


@dataclass
class _Rows:
    """A submission's rows in the gradebook: grades and comments by (notebook, cell name)."""

    submission: object
    notebooks: list
    grades: dict
    comments: dict


@dataclass
class _Pending:
    """A result whose gradebook rows wait for the next commit."""

    out: TaskOutput
    sha256: str
    notes: list[str]
    status: str
    error: str | None
    seconds: float = 0.0


def read_submission(folder: Path, keep: bool = True) -> Submission:
    """Hash every file of ``folder`` and, with ``keep``, keep the bytes of its notebooks (up to
    :data:`MAX_NOTEBOOK_BYTES` each)."""
    digest = hashlib.sha256()
    notebooks, unreadable = {}, {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        top_notebook = name.endswith(".ipynb") and "/" not in name
        digest.update(str(path.relative_to(folder)).encode())
        try:
            size = path.stat().st_size
            with path.open("rb") as fh:
                if keep and top_notebook and size <= MAX_NOTEBOOK_BYTES:
                    data = fh.read()
                    digest.update(data)
                    notebooks[name] = data
                    continue
                for chunk in iter(lambda: fh.read(2 ** 20), b""):
                    digest.update(chunk)
            if keep and top_notebook:
                unreadable[name] = (f"the file is {size:,} bytes, more than the "
                                    f"{MAX_NOTEBOOK_BYTES // 2 ** 20} MiB a notebook may be")
        except OSError as exc:
            if top_notebook:
                unreadable[name] = f"cannot be read ({exc.strerror})"
    return Submission(digest.hexdigest(), notebooks, unreadable)


class Coordinator:
    """Reads the course at ``root`` (configuration ``config``, loaded once) and writes results.

    Use as a context manager: the gradebook stays open until it exits.
    """

    def __init__(self, root: Path, config):
        from nbgrader.api import Gradebook
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.preprocessors import AssignLatePenalties

        self.root = Path(root).resolve()
        self.config = config
        self.dirs = course_dirs(config)
        self.coursedir = CourseDirectory(config=config)
        self.coursedir.root = str(self.root)
        self.gradebook = Gradebook(self.coursedir.db_url, self.coursedir.course_id)
        self.late = AssignLatePenalties(config=config)
        self.late.init_plugin()
        self._assignment_ids: dict[str, str] = {}
        self._cell_names: dict[str, dict] = {}
        self._pending: list[_Pending] = []
        self.specs = self._read_specs()

    def __enter__(self) -> "Coordinator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is left, and close the gradebook."""
        try:
            self.commit()
        finally:
            self.gradebook.close()

    # --- reading the course -------------------------------------------------------------------------
    def _read_specs(self) -> dict[str, AssignmentSpec]:
        """Every assignment of the gradebook, with the cells nbgrader stored for each notebook."""
        pre = preprocessor_config(self.config)
        release = self.root / self.dirs["release_directory"]
        specs = {}
        for assignment in self.gradebook.assignments:
            notebooks = {}
            for nb in assignment.notebooks:
                points = {c.name: float(c.max_score) for c in nb.grade_cells}
                solutions = {c.name for c in nb.solution_cells}
                tasks = {c.name for c in nb.task_cells}
                cells = {c.name: CellSpec(c.name, c.cell_type, bool(c.locked), c.checksum,
                                          c.source, c.name in points, c.name in solutions,
                                          c.name in tasks, points.get(c.name))
                         for c in nb.source_cells}
                path = release / assignment.name / f"{nb.name}.ipynb"
                notebooks[nb.name] = NotebookSpec(
                    nb.name, cells, json.loads(nb.kernelspec) if nb.kernelspec else None,
                    path.read_text(encoding="utf-8") if path.is_file() else None)
            specs[assignment.name] = AssignmentSpec(assignment.name, notebooks, pre)
        return specs

    def submitted(self, task: Task) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.submitted_directory, task.student,
                                               task.assignment))

    def find_tasks(self, assignments: list[str] | None) -> list[Task]:
        """Every submission folder of ``assignments`` (default: all of the gradebook)."""
        tasks = []
        for aid in assignments or sorted(self.specs):
            pattern = self.coursedir.format_path(self.coursedir.submitted_directory, "*", aid)
            regexp = re.compile(self.coursedir.format_path(
                self.coursedir.submitted_directory, "(?P<student_id>[^/]+)", re.escape(aid),
                escape=True) + "$")
            for folder in sorted(Path(self.root).glob(os.path.relpath(pattern, self.root))):
                match = regexp.match(str(folder))
                if folder.is_dir() and match:
                    tasks.append(Task(aid, match.group("student_id")))
        return sorted(tasks, key=lambda t: (t.student, t.assignment))

    def read(self, task: Task, keep: bool = True) -> Submission:
        return read_submission(self.submitted(task), keep)

    def is_graded(self, task: Task, submission: Submission) -> bool:
        """Whether the submission has a record of being graded, made from these very files."""
        old = load_record(self.root, task.assignment, task.student)
        return bool(old) and old.get("status") == "graded" and \
            old.get("submission_sha256") == submission.sha256

    def task_input(self, task: Task, submission: Submission, *, mode: str, limits,
                   seed: int, sandbox: str = "bwrap") -> TaskInput:
        return TaskInput(task.assignment, task.student, submission.notebooks,
                         self.specs[task.assignment], mode, limits, seed, submission.unreadable,
                         sandbox=sandbox)

    # --- writing ------------------------------------------------------------------------------------
    def add(self, out: TaskOutput, sha256: str) -> list[Written]:
        """Save one result: its autograded notebooks now, its gradebook rows in the open
        transaction. Returns what this call committed (see :meth:`commit`): results are committed
        :data:`GROUP` at a time, or when the caller says no other result is waiting. Never raises
        for a result it cannot save: its record then says why, and the next run grades the
        submission again."""
        start = time.perf_counter()
        task = Task(out.assignment, out.student)
        pending = _Pending(out, sha256, list(out.notes), out.status, out.error)
        try:
            if out.status == "graded":
                self._write_autograded(out, task)
        except Exception as exc:  # noqa: BLE001 - one result must never stop the batch
            self._fail([pending], exc)
        try:
            self._write_gradebook(pending, task)
        except Exception as exc:  # noqa: BLE001 - the transaction is lost, not the batch
            self.gradebook.db.rollback()
            failed, self._pending = [*self._pending, pending], []
            self._fail(failed, exc)
            return [self._record(p, 0.0) for p in failed]
        pending.seconds = time.perf_counter() - start
        self._pending.append(pending)
        return self.commit() if len(self._pending) >= GROUP else []

    def commit(self) -> list[Written]:
        """Commit the gradebook rows of the results added since the last commit, then write
        their records (a result counts as graded only once its scores are committed)."""
        if not self._pending:
            return []
        start = time.perf_counter()
        pending, self._pending = self._pending, []
        try:
            self.gradebook.db.commit()
        except Exception as exc:  # noqa: BLE001 - recorded for each result, regraded next run
            self.gradebook.db.rollback()
            self._fail(pending, exc)
        share = (time.perf_counter() - start) / len(pending)
        return [self._record(p, share) for p in pending]

    @staticmethod
    def _fail(pending: list[_Pending], exc: Exception) -> None:
        for p in pending:
            if p.status == "graded":
                p.status = "error"
                p.error = (f"the result could not be saved ({type(exc).__name__}: {exc}); the "
                           "next run grades this submission again")

    def _record(self, p: _Pending, commit_share: float) -> Written:
        start = time.perf_counter()
        out = p.out
        record = {"assignment": out.assignment, "student": out.student, "status": p.status,
                  "notes": p.notes, "submission_sha256": p.sha256, "seconds": out.seconds,
                  "worker": out.worker,
                  "notebooks": {name: nb.report for name, nb in out.notebooks.items()}}
        if p.error:
            record["error"] = p.error
        write_json(record_dir(self.root, out.assignment, out.student) / SUBMISSION_RECORD,
                   record)
        seconds = p.seconds + commit_share + time.perf_counter() - start
        journal = self.root / JOURNAL
        journal.parent.mkdir(parents=True, exist_ok=True)
        with journal.open("a") as fh:
            fh.write(json.dumps({"assignment": out.assignment, "student": out.student,
                                 "status": p.status, "worker": out.worker,
                                 "seconds": out.seconds, "write_seconds": round(seconds, 4),
                                 "at": round(time.time(), 3)}) + "\n")
        return Written(Task(out.assignment, out.student), p.status, p.error, seconds)

    def _timestamp(self, task: Task, notes: list[str]):
        try:
            return self.coursedir.get_existing_timestamp(str(self.submitted(task)))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - nbgrader exits on a bad stamp
            notes.append(f"timestamp.txt could not be read ({exc}): the submission has no "
                         "time, so no late penalty applies")
            return None

    def _write_gradebook(self, pending: _Pending, task: Task) -> None:
        """What nbgrader's ``autograde`` writes (``init_assignment``, ``SaveAutoGrades``,
        ``AssignLatePenalties``): the student, the submission with its timestamp, every grade's
        auto score and every answer's auto comment, the late penalties. Not committed here: a
        commit (an fsync of the gradebook) is most of the cost, and is shared by the results
        that arrive together."""
        from nbgrader.api import Student, SubmittedAssignment
        from nbgrader.utils import parse_utc

        gb = self.gradebook
        out = pending.out
        stamp = self._timestamp(task, pending.notes)
        student = gb.db.get(Student, task.student)
        if student is None:
            student = Student(id=task.student)
            gb.db.add(student)
        sub = gb.db.query(SubmittedAssignment) \
            .filter(SubmittedAssignment.assignment_id == self._assignment_id(task.assignment),
                    SubmittedAssignment.student_id == task.student).one_or_none()
        rows = self._new_submission(task, student) if sub is None else self._rows(sub)
        sub = rows.submission
        if stamp:
            sub.timestamp = parse_utc(stamp)
        if pending.status != "graded":
            return
        for (notebook, cell), grade in rows.grades.items():
            result = out.notebooks.get(notebook)
            if result is not None and cell in result.scores:
                grade.auto_score = result.scores[cell]
                grade.needs_manual_grade = (grade.manual_score is not None
                                            or grade.auto_score is None)
        for (notebook, cell), comment in rows.comments.items():
            result = out.notebooks.get(notebook)
            if result is not None and cell in result.comments:
                comment.auto_comment = result.comments[cell]
        late = sub.total_seconds_late
        for nb in rows.notebooks:
            if nb.late_submission_penalty is not None:
                nb.late_submission_penalty = None
            if late > 0:
                gb.db.flush()
                gb.db.expire(nb, ["score"])     # the score of the grades just written
                penalty = self.late.plugin_inst.late_submission_penalty(
                    task.student, nb.score, late)
                if penalty is not None:
                    nb.late_submission_penalty = self.late._check_late_penalty(nb, penalty)

    def _assignment_id(self, name: str) -> str:
        if name not in self._assignment_ids:
            self._assignment_ids[name] = self.gradebook.find_assignment(name).id
        return self._assignment_ids[name]

    def _cells(self, assignment: str) -> dict:
        """``cell id -> (notebook name, cell name)`` of every cell of an assignment's notebooks."""
        if assignment not in self._cell_names:
            found = {}
            for notebook in self.gradebook.find_assignment(assignment).notebooks:
                for cell in (*notebook.grade_cells, *notebook.solution_cells,
                             *notebook.task_cells):
                    found[cell.id] = (notebook.name, cell.name)
            self._cell_names[assignment] = found
        return self._cell_names[assignment]

    def _rows(self, sub) -> _Rows:
        """The rows of an existing submission, in two queries."""
        from nbgrader.api import Comment, Grade, SubmittedNotebook

        gb = self.gradebook
        cells = self._cells(sub.assignment.name)
        notebooks = gb.db.query(SubmittedNotebook) \
            .filter(SubmittedNotebook.assignment_id == sub.id).all()
        ids = [nb.id for nb in notebooks]
        grades = gb.db.query(Grade).filter(Grade.notebook_id.in_(ids)).all()
        comments = gb.db.query(Comment).filter(Comment.notebook_id.in_(ids)).all()
        return _Rows(sub, notebooks, {cells[g.cell_id]: g for g in grades if g.cell_id in cells},
                     {cells[c.cell_id]: c for c in comments if c.cell_id in cells})

    def _new_submission(self, task: Task, student) -> _Rows:
        """The rows of a new submission, as nbgrader's ``add_submission`` makes them (one per
        notebook, and a grade and a comment for each of its cells), not yet committed."""
        from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook

        gb = self.gradebook
        assignment = gb.find_assignment(task.assignment)
        grades, comments, notebooks = {}, {}, []
        with gb.db.no_autoflush:         # built whole, then added, as nbgrader does
            sub = SubmittedAssignment(assignment=assignment, student=student)
            for notebook in assignment.notebooks:
                nb = SubmittedNotebook(notebook=notebook, assignment=sub)
                notebooks.append(nb)
                for cell in notebook.grade_cells:
                    grades[(notebook.name, cell.name)] = Grade(cell_id=cell.id, notebook=nb)
                for cell in notebook.solution_cells:
                    comments[(notebook.name, cell.name)] = Comment(cell_id=cell.id, notebook=nb)
                for cell in notebook.task_cells:
                    comments[(notebook.name, cell.name)] = Comment(cell_id=cell.id, notebook=nb)
                    grades[(notebook.name, cell.name)] = Grade(cell_id=cell.id, notebook=nb)
            gb.db.add(sub)
        return _Rows(sub, notebooks, grades, comments)

    def _permissions(self) -> int:
        value = self.config.Autograde.get("permissions")
        if value is None:
            value = 664 if self.coursedir.groupshared else 444
        return int(str(value), 8)

    def _write_autograded(self, out: TaskOutput, task: Task) -> None:
        """The autograded folder as nbgrader's ``autograde`` leaves it."""
        from nbgrader.utils import find_all_files

        dest = Path(self.coursedir.format_path(self.coursedir.autograded_directory, task.student,
                                               task.assignment))
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        ignore = list(self.coursedir.ignore) + ["*.ipynb"]
        source = Path(self.coursedir.format_path(self.coursedir.source_directory, ".",
                                                 task.assignment))
        exclude = {str(source / x) for x in
                   (self.config.Autograde.get("exclude_overwriting") or {}).get(task.assignment,
                                                                                [])}
        for folder, skip in ((self.submitted(task), set()), (source, exclude)):
            for name in find_all_files(str(folder), ignore) if folder.is_dir() else []:
                if name in skip:
                    continue
                target = dest / os.path.relpath(name, folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    target.unlink()
                shutil.copy(name, target)
        mode = self._permissions()
        for name, result in out.notebooks.items():
            atomic_write(dest / f"{name}.ipynb", result.autograded, mode=mode)
        for path in dest.rglob("*"):
            if path.is_file():
                os.chmod(path, mode)

