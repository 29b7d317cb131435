"""Reports: what a graded course gives back (grades.csv, per-student feedback, the class report,
Gradescope results), read from nbgrader's gradebook and the grading records.

- :mod:`.build`: :func:`~.build.write_reports`, which writes them all, and what the pieces share
  with the course folder (the records, atomic writes, the course's folders);
- :mod:`.model`: the data model, :func:`~.model.collect` from the gradebook and the records;
- :mod:`.grades`: ``grades.csv``;
- :mod:`.feedback`: the feedback page of each notebook of each submission;
- :mod:`.class_report`: the class report, its plots and the mistakes grouped by hint;
- :mod:`.gradescope`: Gradescope's ``results.json``;
- :mod:`.render` and ``templates/``: the HTML, from Jinja2 templates with autoescaping.

Imports no torch and nothing of kernel hosting.
"""
