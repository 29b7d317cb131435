"""What a check concludes: a verdict (:class:`Outcome`), the failure that carries a hint
(:class:`CheckFailed`) and the names of the check families.

This module imports nothing but the standard library, so that code which only reads verdicts or
notebook metadata (the nbgrader glue, the reports) never loads torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: the graded check families, in the order they run
FAMILIES = ("shape", "values", "gradient", "device")


class CheckFailed(AssertionError):
    """A check failed. The message is the hint shown to the student: the probable mistake and
    what to look at, never the test's code or its input values. ``mistake`` is a short label of
    the mistake recognised (for reports), or ``None``."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.mistake = mistake


@dataclass
class Outcome:
    """The verdict of one check family on one exercise."""

    exercise: str
    family: str
    passed: bool
    message: str
    #: where the device family ran: "gpu", "simulated" (on the CPU), or None for other families
    ran_on: str | None = None
    #: a short label of the mistake recognised (for the class report), or None
    mistake: str | None = None
    details: dict = field(default_factory=dict)
