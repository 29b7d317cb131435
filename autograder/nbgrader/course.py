"""An nbgrader course directory: make one, put submissions in, run nbgrader, read the gradebook.

Used by the tests (a scratch course built from this repository), the demo and the grading
pipeline. Everything goes through nbgrader's own commands and its own gradebook, so formgrader and
``nbgrader export`` keep working on the result.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .._env import tool_env
from .release import ROOT, assignments, generate_in


class Course:
    """The nbgrader course directory at ``root`` (it holds ``nbgrader_config.py``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    @classmethod
    def scratch(cls, path: str | Path, ids: list[str] | None = None, *,
                source: Path = ROOT, extra_config: str = "") -> "Course":
        """A new course at ``path`` with the assignments ``ids`` (default all) of ``source``
        copied in and generated (so that nbgrader's gradebook knows their cells)."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        config = (source / "nbgrader_config.py").read_text()
        (root / "nbgrader_config.py").write_text(config + extra_config)
        ids = ids or assignments(source)
        for aid in ids:
            shutil.copytree(source / "solutions" / aid, root / "solutions" / aid,
                            dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        generate_in(root, ids)
        return cls(root)

    # --- running nbgrader -------------------------------------------------------------------------
    def nbgrader(self, *args: str, check: bool = False, timeout: float | None = None,
                 env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` in the course directory with this environment's tools."""
        # one thread per kernel: measured on 2 cores with nbgrader 0.9.6, two autograde processes
        # with torch's default threads ran 2.3 times slower than one, and gradcheck cells ran past
        # their time limits (correct submissions lost points while every process exited 0)
        threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.root,
                              capture_output=True, text=True, timeout=timeout,
                              env=tool_env(**{**threads, **(env or {})}))
        if check and proc.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def autograde(self, assignment: str, student: str | None = None, *, force: bool = True,
                  env: dict | None = None, timeout: float | None = None):
        args = ["autograde", assignment]
        if student:
            args += ["--student", student]
        if force:
            args.append("--force")
        return self.nbgrader(*args, env=env, timeout=timeout)

    # --- files --------------------------------------------------------------------------------------
    def release_notebook(self, assignment: str, name: str | None = None) -> Path:
        folder = self.root / "notebooks" / assignment
        return folder / f"{name or assignment}.ipynb"

    def submit(self, student: str, assignment: str, content, name: str | None = None) -> Path:
        """Put a submission in ``submitted/<student>/<assignment>/<name>.ipynb``.

        ``content`` is a notebook node, a path to copy, or raw bytes / text (for broken files).
        """
        folder = self.root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name or assignment}.ipynb"
        if isinstance(content, nbformat.NotebookNode):
            nbformat.write(content, target)
        elif isinstance(content, Path):
            shutil.copy(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        return target

    # --- the gradebook ----------------------------------------------------------------------------
    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(f"sqlite:///{self.root / 'gradebook.db'}")

    def scores(self, assignment: str, student: str) -> dict[str, tuple[float | None, float]]:
        """``grade_id -> (score, max score)`` of one submission; score ``None`` where nbgrader
        recorded none (needs manual grading)."""
        from nbgrader.api import MissingEntry

        out = {}
        with self.gradebook() as gb:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                return {}
            for nb in sub.notebooks:
                for grade in nb.grades:
                    out[grade.name] = (grade.score if not grade.needs_manual_grade else None,
                                       grade.max_score)
        return out
