"""Making the student release (``notebooks/``) from the instructor source (``solutions/``).

``python -m autograder release`` runs ``nbgrader generate_assignment`` on every assignment in a
scratch copy of the course, so that nbgrader's gradebook and logs never land in the repository,
and copies the generated notebooks into ``notebooks/``. A test regenerates them the same way and
compares with what is committed.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .._env import tool_env

ROOT = Path(__file__).resolve().parents[2]


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook, in course order."""
    src = root / "solutions"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


_GENERATE = """
import sys
from traitlets.config.loader import PyFileConfigLoader
from nbgrader.apps import NbGraderAPI
config = PyFileConfigLoader("nbgrader_config.py", path=".").load_config()
config.CourseDirectory.root = "."
api = NbGraderAPI(config=config)
bad = []
for aid in sys.argv[1:]:
    result = api.generate_assignment(aid, force=True)
    if not result["success"]:
        bad.append(aid)
        print(result["error"], result.get("log", ""), file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def generate_in(course: Path, ids: list[str]) -> None:
    """``nbgrader generate_assignment`` for every id, in the course folder ``course``, from one
    process (each ``nbgrader`` command costs 2.5 s to start, 8-10 s on a busy machine)."""
    proc = subprocess.run([sys.executable, "-c", _GENERATE, *ids], cwd=course,
                          capture_output=True, text=True, env=tool_env())
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{proc.stderr[-4000:]}")


def generate(out: Path, ids: list[str] | None = None, root: Path = ROOT) -> Path:
    """Run ``nbgrader generate_assignment`` for ``ids`` (default: all) and put the release
    notebooks under ``out/<assignment>/``. Returns ``out``."""
    ids = ids or assignments(root)
    with tempfile.TemporaryDirectory(prefix="scse-release-") as tmp:
        course = Path(tmp)
        shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
        for aid in ids:
            shutil.copytree(root / "solutions" / aid, course / "solutions" / aid,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        generate_in(course, ids)
        out.mkdir(parents=True, exist_ok=True)
        for aid in ids:
            target = out / aid
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / "notebooks" / aid, target)
    return out


def main(ids: list[str] | None = None) -> int:
    out = generate(ROOT / "notebooks", ids)
    for aid in ids or assignments():
        for nb in sorted((out / aid).glob("*.ipynb")):
            print(f"released {nb.relative_to(ROOT)}")
    return 0
