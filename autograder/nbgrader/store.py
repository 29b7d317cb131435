"""What the grader keeps in a course folder, and the course's nbgrader configuration.

- :func:`load_config`: ``nbgrader_config.py`` read once per run, and :func:`course_dirs`, the
  folders it names; callers pass the loaded configuration along instead of reading the file again;
- :data:`RECORDS`, :func:`record_dir`, :func:`load_record`: the grading records,
  ``.autograder/records/<assignment>/<student>/``: ``_submission.json`` (a whole submission, written
  by ``python -m autograder grade``) and ``<notebook>.json`` (one notebook, written by
  :class:`~autograder.nbgrader.grader.GradingExecute` under plain ``nbgrader autograde``);
- :func:`atomic_write`, :func:`write_json`: every file the grader writes in a course folder is
  written to a temporary name and renamed, so that a run killed at any moment leaves either the
  old file or the new one, never half of one.

Imports no torch (the reports use it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

RECORDS = ".autograder/records"
SUBMISSION_RECORD = "_submission.json"

#: nbgrader's defaults for the folders :func:`course_dirs` reports
_DIRS = {"source_directory": "source", "release_directory": "release",
         "submitted_directory": "submitted", "autograded_directory": "autograded",
         "feedback_directory": "feedback"}


def atomic_write(path: str | Path, data: str | bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    ``mode``: permissions of the new file (for example nbgrader's read-only 0o444); the rename
    replaces a read-only old file as well.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: str | Path, data) -> Path:
    return atomic_write(path, json.dumps(data, indent=1))


def record_dir(root: str | Path, assignment: str, student: str) -> Path:
    return Path(root) / RECORDS / assignment / student


def load_record(root: str | Path, assignment: str, student: str) -> dict | None:
    """The record of one graded submission (``_submission.json``), or ``None`` when there is none
    or it cannot be read."""
    path = record_dir(root, assignment, student) / SUBMISSION_RECORD
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_config(root: str | Path):
    """The traitlets configuration of the course at ``root`` (its ``nbgrader_config.py``, if any),
    with ``CourseDirectory.root`` set to ``root``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    config = Config()
    if (root / "nbgrader_config.py").exists():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def course_dirs(config) -> dict[str, str]:
    """``{source,release,submitted,autograded,feedback}_directory -> folder name`` from the
    configuration (nbgrader's defaults where it says nothing)."""
    dirs = dict(_DIRS)
    for key in dirs:
        value = config.CourseDirectory.get(key)
        if isinstance(value, str) and value:
            dirs[key] = value
    return dirs
