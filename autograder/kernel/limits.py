"""The limits of a grading kernel, and how a run or a call can end (standard library only).

Every default lives here: the command line (``python -m autograder grade``), its ``Options``, the
nbgrader preprocessor's settings and :class:`~autograder.kernel.session.KernelSession` all read
:class:`Limits`.

Time limits are CPU time of the kernel's processes, which other work on the machine does not
inflate; a wall-clock bound of ``wall_factor`` times the CPU limit stops what uses no CPU
(sleeping, waiting on a lock or a socket).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Limits:
    """Resource and time limits of a grading kernel."""

    memory_mb: int = 3072           # address space of the kernel process
    cpu_seconds: int = 900          # RLIMIT_CPU of each kernel process, over its whole life
    processes: int = 64             # RLIMIT_NPROC: processes and threads of the kernel's user
    cell_timeout: float = 60.0      # CPU seconds per cell of the notebook
    exercise_timeout: float = 30.0  # CPU seconds for all checks of one exercise
    wall_factor: float = 3.0        # wall-clock bound: this many times a CPU limit
    startup_timeout: float = 60.0   # wall-clock seconds for a kernel to answer after its start

    def wall(self, cpu_seconds: float) -> float:
        """The wall-clock bound that goes with a CPU limit of ``cpu_seconds``."""
        return cpu_seconds * self.wall_factor


class Status(StrEnum):
    """How running code in the kernel ended."""

    OK = "ok"
    ERROR = "error"        # it raised
    TIMEOUT = "timeout"    # past its CPU limit or its wall-clock bound; interrupted
    DIED = "died"          # the kernel died (and was restarted)


class Failure(StrEnum):
    """Why a grader's call into the kernel has no result (``Result.error["type"]``)."""

    TIMEOUT = "TimeoutError"
    KERNEL_DIED = "KernelDied"
    CALL_FAILED = "GraderCallFailed"
