"""The judge: how a verdict is made.

- :mod:`.verdict`: :class:`~.verdict.Outcome`, :class:`~.verdict.CheckFailed`, the family names
  (standard library only);
- :mod:`.context`: the :class:`~.context.Context` a check runs in, remote functions, tolerances;
- :mod:`.exercise`: :class:`~.exercise.Exercise` and its check families (shape, values, gradient);
- :mod:`.device`: the device family (on a GPU, or simulated on the CPU);
- :mod:`.hints`: typical mistakes and hints for exceptions;
- :mod:`.subjects`: the student's work as checks see it (``Subject.run(calls)``).

Checks reach student work only through ``Subject.run(calls)``, and
``Exercise.check(family, subject, seed)`` returns an ``Outcome``. The judge may import
:mod:`autograder.wire`, torch and the reference (``scse_ref``); never kernel hosting, the nbgrader
glue, batch runs or reports (``tests/test_layout.py`` enforces it).
"""
