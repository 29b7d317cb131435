"""A small nbgrader course for the grading tests: two exercises, and submissions good and bad.

The assignment ``toy`` holds the contract exercises ``global_avg_pool`` (values, gradient) and
``excitation`` (values, device); ``other`` is a second assignment, whose notebook a student may hand
in by mistake. Building it is real: ``nbgrader generate_assignment`` through
:meth:`autograder.nbgrader.course.Course.scratch`. The two answers are the lessons' own (lesson 01's
``global_avg_pool``, lesson 02's ``Excitation``), read from ``solutions/``.
"""
from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder.nbgrader.cells import grade_id, nbgrader_meta
from autograder.nbgrader.course import Course
from tests.helpers import solution_source

LESSONS = {"global_avg_pool": "01_global_average_pooling", "excitation": "02_channel_se"}
#: the answers as a student's filled-in cells hold them (the solution markers dropped)
GAP = solution_source(LESSONS["global_avg_pool"], "global_avg_pool", markers=False)
EXCITATION = solution_source(LESSONS["excitation"], "excitation", markers=False)
POINTS = {"global_avg_pool_values": 2, "global_avg_pool_gradient": 1,
          "excitation_values": 2, "excitation_device": 1}


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        meta = {"schema_version": 3, "grade": False, "solution": False, "locked": False}
        meta.update(nbgrader)
        cell.metadata["nbgrader"] = meta
    return cell


def _solution(gid: str) -> nbformat.NotebookNode:
    """The lesson's solution cell ``gid``, markers included (nbgrader makes the stub from them)."""
    return _cell(solution_source(LESSONS[gid], gid), grade_id=gid, solution=True)


def _hidden(exercise: str, family: str, name: str) -> nbformat.NotebookNode:
    gid = f"{exercise}_{family}"
    return _cell(f"# Graded (hidden): {family} of {name} ({POINTS[gid]} points)\n"
                 f"### BEGIN HIDDEN TESTS\ncheck({exercise!r}, {family!r}, {name})\n"
                 "### END HIDDEN TESTS", grade_id=gid, grade=True, locked=True,
                 points=POINTS[gid])


def toy_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy assignment"),
        _cell("import torch\nfrom torch import nn\nfrom autograder import check",
              grade_id="setup", locked=True),
        _solution("global_avg_pool"),
        _cell('check("global_avg_pool", "basic", global_avg_pool)',
              grade_id="global_avg_pool_check", locked=True),
        _hidden("global_avg_pool", "values", "global_avg_pool"),
        _hidden("global_avg_pool", "gradient", "global_avg_pool"),
        _solution("excitation"),
        _hidden("excitation", "values", "Excitation"),
        _hidden("excitation", "device", "Excitation"),
    ]
    return nb


def other_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [_cell("import torch", grade_id="setup", locked=True),
                _cell("x = 1", grade_id="other_answer", solution=True),
                _cell("assert x == 1", grade_id="other_test", grade=True, locked=True,
                      points=1)]
    return nb


#: extra configuration -> the course generated with it, once per test process
_TEMPLATES: dict[str, Path] = {}


def make_course(root: Path, extra_config: str = "") -> Course:
    """A course at ``root / "course"`` with the assignments ``toy`` and ``other`` generated: a copy
    of one generated once per test process (``nbgrader generate_assignment`` takes seconds)."""
    template = _TEMPLATES.get(extra_config)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="toy-course-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        _generate(template, extra_config)
        _TEMPLATES[extra_config] = template
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template / "course", root / "course", symlinks=True)
    return Course(root / "course")


def _generate(root: Path, extra_config: str) -> Course:
    source = root / "_source"
    for aid, nb in (("toy", toy_notebook()), ("other", other_notebook())):
        (source / "solutions" / aid).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, source / "solutions" / aid / f"{aid}.ipynb")
    from autograder.nbgrader.release import ROOT

    (source / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    return Course.scratch(root / "course", ["toy", "other"], source=source,
                          extra_config=extra_config)


def answered(course: Course, answers: dict[str, str] | None = None, aid: str = "toy"):
    """The release notebook of ``aid`` with the solutions' answers, some replaced."""
    release = nbformat.read(course.release_notebook(aid), 4)
    solution = nbformat.read(course.root / "solutions" / aid / f"{aid}.ipynb", 4)
    texts = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    texts.update(answers or {})
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution") and grade_id(cell) in texts:
            cell.source = texts[grade_id(cell)]
    return nb


def cell_of(nb, gid: str):
    return next(c for c in nb.cells if grade_id(c) == gid)
