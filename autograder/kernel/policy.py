"""The audit hook (PEP 578) installed in a grading kernel before any student code runs.

It refuses what a notebook answer never needs:

- opening files outside the sandbox folder and the Python installation, and writing anywhere but
  the sandbox folder (the course's solutions and nbgrader's gradebook are out of reach);
- listing, renaming, removing or linking files outside the sandbox; changing directory out of it;
- starting processes (subprocess, os.system, exec, spawn, fork), sending signals;
- network access (connecting, binding, sending to an address, name look-ups);
- ctypes calls (raw memory and foreign functions), changing resource limits;
- importing the grader's own modules (autograder, nbgrader) and sqlite3.

An audit hook cannot be removed once installed. What it does not stop is listed in the README's
threat model: the student's code can still do anything to its own process, which is why no verdict
is computed there.

This module runs inside the kernel and imports nothing from the grader.
"""
from __future__ import annotations

import os
import sys

# ctypes itself may be imported (torch imports parts of it lazily); every use of it is refused
# through its audit events (ctypes.dlopen, ctypes.dlsym, ctypes.addressof, ...)
BLOCKED_MODULES = ("autograder", "nbgrader", "sqlite3", "_sqlite3")

_BLOCKED_EVENT_PREFIXES = (
    "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "socket.bind",
    "socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "socket.sethostname",
    "ctypes.", "resource.setrlimit", "resource.prlimit", "sqlite3.", "urllib.Request",
    "http.client.", "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.",
    "webbrowser.open", "os.symlink", "os.link", "os.chroot", "os.setuid", "os.setgid",
)

# events whose first argument is a path, and whether they modify it
_PATH_EVENTS = {
    "os.listdir": False, "os.scandir": False, "os.chdir": False, "glob.glob": False,
    "os.rename": True, "os.remove": True, "os.rmdir": True, "os.mkdir": True,
    "os.truncate": True, "os.utime": True, "os.chmod": True, "os.chown": True,
    "shutil.copyfile": True, "shutil.copytree": True, "shutil.rmtree": True,
    "shutil.move": True, "shutil.chown": True, "os.removexattr": True, "os.setxattr": True,
}


class SandboxViolation(PermissionError):
    """What the sandbox refused; the message names the operation."""


def install(sandbox: str, read_only: list[str], blocked: tuple[str, ...] = ()) -> None:
    """Install the hook. ``sandbox``: the only folder code may write to; ``read_only``: folders
    it may also read (the Python installation, the packages a lesson provides); ``blocked``:
    more top-level modules that may not be imported."""
    blocked_modules = BLOCKED_MODULES + tuple(blocked)
    real = os.path.realpath
    home = real(sandbox)
    readable = tuple(real(p) for p in read_only if p) + (home,)
    own_proc = f"/proc/{os.getpid()}"
    devices = ("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero")
    startswith = str.startswith
    isinstance_ = isinstance

    def inside(path, roots) -> bool:
        p = real(path)
        return any(p == r or startswith(p, r.rstrip("/") + "/") for r in roots)

    def refuse(what: str):
        raise SandboxViolation(f"not allowed while grading: {what}")

    def hook(event: str, args) -> None:
        if startswith(event, _BLOCKED_EVENT_PREFIXES):
            refuse(event)
        if event == "import":
            name = args[0] if args else ""
            if isinstance_(name, str) and name.split(".")[0] in blocked_modules:
                refuse(f"import {name}")
            return
        if event == "open":
            path, mode = args[0], args[1] if len(args) > 1 else "r"
            if isinstance_(path, int):  # an already open descriptor
                return
            if isinstance_(path, bytes):
                path = os.fsdecode(path)
            if not isinstance_(path, str):
                path = os.fspath(path)
            if path in devices:
                return
            writing = isinstance_(mode, str) and any(c in mode for c in "wax+")
            flags = args[2] if len(args) > 2 else 0
            if isinstance_(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                writing = True
            if writing and not inside(path, (home,)):
                refuse(f"writing {path}")
            if not inside(path, readable + (own_proc,)):
                refuse(f"reading {path}")
            return
        if event in _PATH_EVENTS:
            if not args:
                return
            path = args[0]
            if isinstance_(path, int) or path is None:
                return
            path = os.fsdecode(path) if isinstance_(path, bytes) else os.fspath(path)
            roots = (home,) if _PATH_EVENTS[event] else readable + (own_proc,)
            if not inside(path, roots):
                refuse(f"{event} {path}")

    sys.addaudithook(hook)
