"""Batch runs: ``python -m autograder grade`` over a whole class, on one machine or a Dask cluster.

- :mod:`.task`: grading one submission, a pure task: the submission's bytes and the course data in,
  the verdicts, scores and autograded notebook out; it reads no course folder;
- :mod:`.coordinator`: reads the course once and alone writes it: the gradebook (through nbgrader's
  API), the autograded notebooks, the records that make a killed run resumable;
- :mod:`.executors`: where the tasks run: local processes (``--jobs``) or Dask (``--cluster``);
- :mod:`.run`: the command, tying them together, then the reports.

May import the nbgrader glue, kernel hosting's limits and the reports; the judge only through them.
"""
