"""Mutants: wrong and correct implementations of the contract exercises, as notebook-cell source.

Each module here (``gap``, ``excitation``, ``channel_se``, ``spatial_se``, ``scse``) is data only:
``EXERCISE`` (the grade_id), ``DEFINES`` (the name the cell defines), ``PREAMBLE`` (what the
notebook provides before the cell) and ``MUTANTS``, a list of dicts. ``registry.py`` collects them;
``tests/test_mutation.py`` asserts that the grader kills every wrong one with the matching hint and
passes every correct one; ``bench/mutation_report.py`` prints the kill and hint rates.

A mutant dict has ``name``, ``source`` (the cell's code) and either ``correct=True`` and a
``style``, or ``bug`` (the bug class: shape, value, gradient or device), ``family`` (the first
family that must fail), ``mistake`` (the expected ``Outcome.mistake`` label, or a tuple of accepted
labels), ``hint`` (a phrase the hint must contain, case-insensitive) and ``what`` (the student's
mistake). A wrong mutant the grader is known to miss also has ``gap``: why it is missed.
"""
