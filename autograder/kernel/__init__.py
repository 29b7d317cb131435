"""Kernel hosting: the grading kernel and how the grader drives it.

- :mod:`.entry`: the kernel's entry point (``python -m autograder.kernel.entry``): giving up
  root, limits, preload, the isolated mode;
- :mod:`.policy`: the audit hook installed in an isolated kernel (standard library only: the kernel
  loads it by path);
- :mod:`.sandbox`: the OS sandbox every grading kernel runs in (bubblewrap: namespaces, the
  filesystem it sees, an unprivileged user), and the message where it cannot be made;
- :mod:`.limits`: :class:`~.limits.Limits` (every default of the time and memory limits) and how a
  run or a call ends (:class:`~.limits.Status`, :class:`~.limits.Failure`);
- :mod:`.procs`: a kernel's processes read from ``/proc`` (their CPU time, the kernel's pid);
- :mod:`.session`: :class:`~.session.KernelSession` (start, execute with CPU-time limits, restart
  and replay) and :class:`~.session.KernelSubject` (the judge's subject backed by a kernel).

May import :mod:`autograder.wire` and the judge's verdict types; never the nbgrader glue, batch
runs or reports.
"""
