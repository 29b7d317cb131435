"""Environment for the Jupyter and nbgrader processes the grader starts."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def tool_env(**extra: str) -> dict[str, str]:
    """``os.environ`` with this interpreter's ``bin/`` first on ``PATH``.

    nbgrader runs the ``alembic`` executable and Jupyter finds kernels on ``PATH``; when the
    course is used as ``.venv/bin/python -m autograder`` without activating the environment,
    those must still come from the same environment.
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    if env.get("PATH", "").split(os.pathsep)[0] != bindir:
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env
