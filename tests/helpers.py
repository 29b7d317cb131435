"""Helpers the test files share (import as ``from tests.helpers import ...``)."""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import torch
from torch import nn

from autograder import run_check
from autograder.exercises import get
from autograder.nbgrader.cells import grade_id, nbgrader_meta

#: the seeds the judge's tests draw their cases from (unrelated: a verdict must not depend on
#: the draw); ``make test-fast`` sets
#: ``COURSE_TEST_SEEDS=1`` (the first seed only)
SEEDS = (20240611, 7)[:max(1, int(os.environ.get("COURSE_TEST_SEEDS", "2")))]

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _solution_cells(assignment: str) -> list[dict]:
    """The cells of a solution notebook, read as JSON (the GPU kit runs these tests where
    nbformat is not installed), each with its source as one string."""
    nb = json.loads((SOLUTIONS / assignment / f"{assignment}.ipynb").read_text())
    return [{**cell, "source": "".join(cell["source"]) if isinstance(cell["source"], list)
             else cell["source"]} for cell in nb["cells"]]


def _python(source: str) -> str:
    """A cell's source without IPython's magics and shell escapes (``%``, ``!`` lines)."""
    return "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def solution_source(assignment: str, gid: str, *, markers: bool = True) -> str:
    """The source of the solution cell ``gid`` of ``solutions/<assignment>/<assignment>.ipynb``:
    the lesson's own answer, never a copy typed into a test. ``markers=False`` drops the
    ``### BEGIN/END SOLUTION`` lines (what a student's filled-in cell looks like)."""
    for cell in _solution_cells(assignment):
        if nbgrader_meta(cell).get("solution") and grade_id(cell) == gid:
            if markers:
                return cell["source"]
            return "\n".join(line for line in cell["source"].splitlines()
                             if line.strip() not in _MARKERS) + "\n"
    raise KeyError(f"{assignment} has no solution cell {gid!r}")


def notebook_answer(assignment: str, gid: str, name: str | None = None):
    """What the solution cell ``gid`` defines (``name``, default the exercise's), built as the
    notebook builds it: the imports, functions and classes of the code cells before it (not their
    other statements: no experiment runs), then the cell itself."""
    namespace: dict = {"__name__": f"solution_{gid}"}
    for cell in _solution_cells(assignment):
        if cell["cell_type"] != "code":
            continue
        if nbgrader_meta(cell).get("solution") and grade_id(cell) == gid:
            exec(compile(cell["source"], f"<{assignment}:{gid}>", "exec"), namespace)  # noqa: S102
            return namespace[name or get(gid).name]
        code = _python(cell["source"])
        definitions = [node for node in ast.parse(code).body if isinstance(
            node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
        exec(compile(ast.Module(definitions, type_ignores=[]), f"<{assignment}>", "exec"),
             namespace)  # noqa: S102
    raise KeyError(f"{assignment} has no solution cell {gid!r}")


def first_failure(exercise_id: str, obj, seed: int):
    """The outcome of the first family (in the exercise's order) that fails, or ``None``."""
    for family in get(exercise_id).families:
        outcome = run_check(exercise_id, family, obj, seed=seed)
        if not outcome.passed:
            return outcome
    return None


def draw_double(module: nn.Module, seed: int = 0) -> nn.Module:
    """``module`` in float64 with weights drawn from ``seed``: N(0, 1/fan_in) for weights,
    N(0, 0.25) for vectors (biases)."""
    gen = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            scale = p[0].numel() ** -0.5 if p.dim() > 1 else 0.5
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return module
