"""Reading course notebooks: nbgrader cells, exercises and the check calls of test cells."""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from ..judge.verdict import FAMILIES


class NotebookError(ValueError):
    """A file that is not a usable notebook; the message says what is wrong and what was expected."""


def read(path: str | Path) -> "nbformat.NotebookNode":
    """Read a notebook, refusing with a clear message what is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NotebookError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse(raw, str(path))


def parse(raw: bytes, name: str) -> nbformat.NotebookNode:
    """The notebook in ``raw`` (the bytes of the file ``name``), refusing with a clear message,
    which starts with ``name``, what is not one."""
    if not raw.strip():
        raise NotebookError(f"{name}: the file is empty; expected a Jupyter notebook (.ipynb)")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{name}: not JSON ({exc}); expected a Jupyter notebook (.ipynb)") \
            from None
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        raise NotebookError(f"{name}: JSON but not a notebook (no 'cells' / 'nbformat'); "
                            "expected a Jupyter notebook (.ipynb)")
    import nbformat

    try:
        return nbformat.reads(raw.decode(), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        raise NotebookError(f"{name}: not a valid notebook ({exc})") from None


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def exercise_of(cell_id: str | None, exercise_ids) -> str | None:
    """The exercise a graded cell belongs to: the longest exercise id that is the cell's grade
    id, or that the grade id starts with followed by ``_``; ``None`` outside the convention.

    >>> ids = ["gap_head", "gap_head_params", "global_avg_pool"]
    >>> exercise_of("gap_head_params_values", ids), exercise_of("gap_head_values", ids)
    ('gap_head_params', 'gap_head')
    >>> exercise_of("other_test", ids) is None
    True
    """
    if not cell_id:
        return None
    found = [e for e in exercise_ids if cell_id == e or cell_id.startswith(e + "_")]
    return max(found, key=len) if found else None


def split_grade_id(cell_id: str, exercise_ids) -> tuple[str, str | None]:
    """``(exercise, family)`` of a graded cell id ``<exercise>_<family>`` (:func:`exercise_of`);
    a cell outside the convention is its own exercise, with no family.

    >>> split_grade_id("gap_head_params_values", ["gap_head", "gap_head_params"])
    ('gap_head_params', 'values')
    >>> split_grade_id("other_test", ["gap_head"])
    ('other_test', None)
    """
    exercise = exercise_of(cell_id, exercise_ids)
    if exercise is None:
        return cell_id, None
    return exercise, (cell_id[len(exercise) + 1:] or None)


@dataclass(frozen=True)
class CheckCall:
    """A ``check("exercise", "family", Name)`` call found in a test cell."""

    exercise: str
    family: str
    name: str


def check_calls(source: str) -> list[CheckCall]:
    """The ``check(...)`` calls of a cell's source (``check`` or ``autograder.check``), with
    literal exercise and family and a plain name as the object. Other code is ignored."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 3:
            continue
        func = node.func
        callee = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else None
        if callee != "check":
            continue
        ex, fam, obj = node.args[:3]
        if (isinstance(ex, ast.Constant) and isinstance(ex.value, str)
                and isinstance(fam, ast.Constant) and fam.value in (*FAMILIES, "basic")
                and isinstance(obj, ast.Name)):
            found.append(CheckCall(ex.value, fam.value, obj.id))
    return found


def calls_check_all(source: str) -> bool:
    """Whether a cell's source calls ``check_all(...)`` (a lesson's last cell)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "check_all")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "check_all"))
        for node in ast.walk(tree))


def exercises_in(nb) -> list[str]:
    """Exercise ids a notebook holds: solution cells whose grade_id is an exercise, else (for a
    notebook without nbgrader metadata) exercises whose name the notebook defines."""
    from ..exercises import EXERCISES

    ids = [grade_id(c) for c in nb.cells
           if nbgrader_meta(c).get("solution") and grade_id(c) in EXERCISES]
    if ids:
        return ids
    defined = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return [ex.id for ex in EXERCISES.values() if ex.name in defined]


def is_test_cell(cell) -> bool:
    """A cell that checks rather than defines: graded tests, the visible ``check`` calls and
    ``check_all``."""
    meta = nbgrader_meta(cell)
    if meta.get("grade") and not meta.get("solution"):
        return True
    return cell.cell_type == "code" and (bool(check_calls(cell.source))
                                         or calls_check_all(cell.source))
