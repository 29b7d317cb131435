"""Subjects: the student's work as the checks see it, a thing that answers :class:`Call` s."""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from ..wire.executor import execute
from ..wire.protocol import Call, Result


class Subject(Protocol):
    """Anything that carries out calls on a student's work: in-process, or in a sandboxed kernel."""

    #: ``"in-kernel"`` or ``"isolated"``: where the student's code runs, for the report.
    where: str

    def run(self, calls: Sequence[Call]) -> list[Result]: ...


class LocalSubject:
    """The student's objects in this very process (the student's kernel, or a test).

    Args:
        namespace: a mapping from the names an exercise defines to the student's objects.
    """

    where = "in-kernel"

    def __init__(self, namespace: Mapping[str, Any]):
        self.namespace = namespace

    def run(self, calls: Sequence[Call]) -> list[Result]:
        return [execute(self.namespace, call) for call in calls]
