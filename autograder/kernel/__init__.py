"""Kernel hosting: the grading kernel and how the grader drives it.

- :mod:`.entry`: the kernel's entry point (``python -m autograder.kernel.entry``): limits, preload,
  the isolated mode;
- :mod:`.policy`: the audit hook installed in an isolated kernel (standard library only: the kernel
  loads it by path);
- :mod:`.session`: :class:`~.session.KernelSession` (start, execute with time limits, restart and
  replay) and :class:`~.session.KernelSubject` (the judge's subject backed by a kernel).

May import :mod:`autograder.wire` and the judge's verdict types; never the nbgrader glue, batch
runs or reports.
"""
