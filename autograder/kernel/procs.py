"""A kernel's processes, read from ``/proc``: their CPU time, and which one is the kernel.

The grader starts a kernel as one process (``bwrap``, or the kernel itself without the OS
sandbox); every process the kernel starts descends from it, and with the sandbox's PID namespace
even a process that detaches stays below it (it is re-parented to the sandbox's first process).
The CPU time of that tree is what a time budget charges: unlike wall-clock time, it does not grow
when other work shares the machine.
"""
from __future__ import annotations

import os
import signal

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` as a list whose item 0 is the command name (field 2) and item ``k``
    is field ``k + 2`` (``man 5 proc``): 2 the parent's pid, 12-15 utime, stime, cutime, cstime,
    20 the start time. ``None`` when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    head, _, rest = text.rpartition(")")
    return [head.partition("(")[2], *rest.split()]


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is not None:
            out.setdefault(int(fields[2]), []).append(int(entry.name))
    return out


class ProcessTree:
    """The processes below (and including) ``root``."""

    def __init__(self, root: int):
        self.root = root
        self.pids: list[int] = [root]
        self.started: dict[int, str] = {}     # pid -> start time, to tell a reused pid apart
        self._kernel: int | None = None
        self.refresh()

    def refresh(self) -> None:
        """Find the tree's processes again (a full scan of ``/proc``: about 2 ms)."""
        children = _children()
        pids, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += children.get(pid, [])
        self.pids = pids
        for pid in pids:
            fields = _stat(pid)
            if fields is not None:
                self.started.setdefault(pid, fields[20])

    def kill(self) -> None:
        """SIGKILL every process seen in the tree that still runs (the same process: a pid
        that was reused since is left alone)."""
        for pid, started in self.started.items():
            fields = _stat(pid)
            if fields is not None and fields[20] == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def cpu_seconds(self, refresh: bool = False) -> float:
        """User + system CPU time of the tree: each process's own, and that of its children
        which have ended (reaped)."""
        if refresh:
            self.refresh()
        ticks = 0
        for pid in self.pids:
            fields = _stat(pid)
            if fields is not None:
                ticks += sum(int(x) for x in fields[12:16])
        return ticks / _TICK

    def kernel(self) -> int | None:
        """The kernel's own process: ``root`` itself when it is not ``bwrap``; else the oldest
        process below it that is not ``bwrap`` (the sandbox's first process is bwrap's own, and
        the kernel started before anything it starts)."""
        if self._kernel is not None and _stat(self._kernel) is not None:
            return self._kernel
        self.refresh()
        found = []
        for pid in self.pids:
            fields = _stat(pid)
            if fields is not None and fields[0] != "bwrap":
                found.append((int(fields[20]), pid))   # start time, in ticks since boot
        self._kernel = min(found)[1] if found else None
        return self._kernel
