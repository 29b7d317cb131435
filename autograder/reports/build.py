"""What a graded course gives back: grades, feedback for each student, a class report.

:func:`write_reports` runs at the end of ``python -m autograder grade``. It reads the scores from
nbgrader's gradebook (``gradebook.db``: the authority, never recomputed here) and everything else
(hints, notes, errors, timings) from the grading records ``.autograder/records/<assignment>/
<student>/_submission.json`` written by :mod:`autograder.batch.run`. It writes, under the course
root::

    reports/grades.csv                                 one row per student (:mod:`.grades`)
    reports/index.html                                 links to each assignment's report
    reports/<assignment>/index.html                    the class report of one assignment
    reports/<assignment>/scores_<exercise>.png         score distribution of one exercise
    reports/<assignment>/scores_total.png              ... of the assignment's total
    reports/<assignment>/mistakes.png                  the most frequent mistakes, by hint
    feedback/<student>/<assignment>/<notebook>.html    what the student reads (:mod:`.feedback`)
    reports/gradescope/<student>/<assignment>/results.json   with ``gradescope=True``

The pieces: :mod:`.model` (what there is to report, read from the gradebook and the records),
:mod:`.grades`, :mod:`.feedback`, :mod:`.class_report`, :mod:`.gradescope`, and :mod:`.render`
(the HTML templates of ``templates/``, autoescaped). This module holds what they share with the
course folder: where the records are, reading one, writing a file atomically, and the course's
folders from ``nbgrader_config.py``.

**Do not run** ``nbgrader generate_feedback`` **on this course**: it renders the autograded
notebook, hidden tests included (nbgrader issue #917), and would overwrite the feedback written
here. Every piece of text that can come from a student (a hint quoting their exception, a file
name, an error) is HTML-escaped.
"""
from __future__ import annotations

from pathlib import Path

from ..nbgrader.store import RECORDS, course_dirs, load_config, load_record

REPORTS = "reports"
__all__ = ["RECORDS", "REPORTS", "load_record", "write_reports"]


def _config_dirs(root: Path, config=None) -> dict[str, str]:
    """The course's folders, from its configuration (loaded here when not given)."""
    return course_dirs(config if config is not None else load_config(root))


def write_reports(root: Path, assignments: list[str], *, gradescope: bool = False,
                  config=None) -> Path:
    """Write grades.csv, the feedback, the class reports (and Gradescope's results.json) of
    ``assignments`` (default: every assignment of the gradebook); return ``reports/``, the folder
    of the class report (its ``index.html`` links the rest). ``config``: the course's
    configuration, when the caller has loaded it (else it is loaded once here)."""
    # the pieces import this module's helpers: imported here, when everything is loaded
    from .class_report import class_report, safe_name, write_index
    from .feedback import write_feedback
    from .grades import write_grades_csv
    from .gradescope import write_gradescope
    from .model import collect

    root = Path(root).resolve()
    folder = root / REPORTS
    if not assignments:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            assignments = sorted(a.name for a in gb.assignments)
    config = config if config is not None else load_config(root)
    data = collect(root, list(assignments), config)
    dirs = _config_dirs(root, config)
    write_grades_csv(data, folder / "grades.csv")
    write_feedback(data, dirs)
    for a in data.assignments:
        class_report(data, a, dirs, folder / safe_name(a.name))
    write_index(data, folder)
    if gradescope:
        write_gradescope(data, folder / "gradescope")
    return folder
