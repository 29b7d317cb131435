"""The nbgrader glue: course notebooks as nbgrader sees them.

- :mod:`.cells`: reading notebooks, nbgrader cell metadata and the ``check(...)`` calls of test
  cells (no torch: parsing a notebook never loads it);
- :mod:`.grader`: grading one notebook with a kernel, isolated or in-kernel, and the
  ``GradingExecute`` preprocessor that plain ``nbgrader autograde`` uses;
- :mod:`.release`: ``notebooks/`` generated from ``solutions/`` by ``nbgrader generate_assignment``;
- :mod:`.course`: an nbgrader course directory (scratch courses for tests and the demo).
- :mod:`.store`: what the grader keeps in a course folder (records, atomic writes) and the
  course's configuration, read once per run.

The name says what it glues to; inside, ``nbgrader`` still means the real package (imports are
absolute).
"""
