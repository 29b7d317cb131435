"""The wire: what a check may ask of a student's work, and the code that carries it out.

- :mod:`.protocol`: :class:`~.protocol.Call` and :class:`~.protocol.Result`, encoded as JSON plus
  safetensors (never pickle);
- :mod:`.executor`: the only code that touches a student's objects; it runs a call and reports
  what happened, judging nothing;
- :mod:`.devicesim`: the simulated GPU the executor runs a call on when it asks for the
  ``"simulated"`` device (data-dependent operations the meta device cannot run).

A grading kernel loads these files by path, without the rest of the grader. They may import
only the standard library, torch and safetensors (``tests/test_layout.py`` enforces it).
"""
