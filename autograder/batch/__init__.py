"""Batch runs: ``python -m autograder grade`` over a whole class.

- :mod:`.run`: staging each submission (repairs of broken files), grading in parallel, recording
  verdicts so that a killed run resumes.

May import the nbgrader glue and the reports; the judge only through them.
"""
