"""Entry point of a grading kernel: ``python -m autograder.kernel.entry -f CONNECTION_FILE ...``.

Before the IPython kernel starts, it gives up root where it was started as root inside the OS
sandbox (``--user UID:GID``: a root grader's kernel switches to ids of its own, and loses every
capability with it), sets the process's resource limits, moves into the sandbox folder and loads
what every lesson needs (torch, numpy, matplotlib, coursekit, and scse_ref when the notebook's
given cells use it), so that student code starts in seconds. In ``--isolated`` mode it also:

- loads the call executor (``autograder/wire/executor.py``, ``protocol.py``) under a private package
  name, without the grader's other modules, and exposes it as ``__autograder_call__``;
- makes ``scse_ref`` unimportable when the notebook's given cells do not use it
  (``--no-reference``): a student cannot hand in the reference where the lesson does not give it;
- replaces ``autograder`` by a stub whose ``check`` explains that checks run in the grader (so a
  lesson's ``from autograder import check`` still works), and drops the repository from
  ``sys.path``;
- installs the audit hook of :mod:`autograder.kernel.policy` as the kernel's last start-up step,
  after IPython's own initialisation and before any student code.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

AUTOGRADER_DIR = Path(__file__).resolve().parent.parent
PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional", "matplotlib", "matplotlib.pyplot",
           "safetensors.torch", "coursekit", "coursekit.data", "coursekit.plots")
REFERENCE = "scse_ref"


def _limit(kind: int, value: int | None) -> None:
    if value is None:
        return
    soft, hard = resource.getrlimit(kind)
    new_hard = value if hard == resource.RLIM_INFINITY else min(hard, value)
    resource.setrlimit(kind, (min(value, new_hard), new_hard))


def _warm_up() -> None:
    """Run the code paths the checks use once, so that torch's lazy imports and first-call
    set-up happen now, before the sandbox policy is installed (and not during a timed check)."""
    import torch
    from torch import nn

    class Block(nn.Module):  # the operations of the course's blocks, without the reference
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.conv = nn.Conv2d(8, 1, kernel_size=1)

        def forward(self, x):
            gate = torch.sigmoid(self.fc(torch.relu(x.mean(dim=(2, 3)))))[..., None, None]
            return torch.maximum(x * gate, x * torch.sigmoid(self.conv(x))).softmax(dim=1)

    x = torch.randn(2, 8, 4, 5, requires_grad=True)
    Block()(x).sum().backward()
    Block()(x.contiguous(memory_format=torch.channels_last)).sum().backward()
    for dtype in (torch.float64, torch.bfloat16, torch.float16):
        Block().to(dtype)(x.detach().to(dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        Block()(x)
    Block().to("meta")(torch.empty(2, 8, 4, 5, device="meta"))
    double = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: (t * t).sum(1), (double,), fast_mode=True)


def _parse(argv: list[str]):
    p = argparse.ArgumentParser()
    p.add_argument("-f", dest="connection_file", required=True)
    p.add_argument("--sandbox", required=True, help="working folder, the only writable one")
    p.add_argument("--memory-mb", type=int, default=None, help="address space limit")
    p.add_argument("--cpu-seconds", type=int, default=None, help="CPU time limit of the kernel")
    p.add_argument("--processes", type=int, default=None, help="process limit (non-root)")
    p.add_argument("--user", default=None, help="UID:GID to switch to before anything else "
                   "(a kernel started as root inside the OS sandbox)")
    p.add_argument("--isolated", action="store_true")
    p.add_argument("--no-reference", action="store_true", help="make scse_ref unimportable "
                   "(for notebooks whose given cells do not use it)")
    return p.parse_args(argv)


def _stub_autograder():
    import types

    stub = types.ModuleType("autograder")
    stub.__doc__ = "In isolated grading, checks run in the grader process, not in this kernel."

    def check(*args, **kwargs):
        raise RuntimeError("checks run in the grader during isolated grading, not in the kernel")

    def check_all(*args, **kwargs):
        print("(check_all: not run while nbgrader grades this notebook; the graded checks do "
              "the judging)")

    stub.check = check
    stub.check_all = check_all
    stub.__path__ = []  # a package with nothing more in it
    return stub


def _load_kernel_side():
    """The executor, the protocol and the policy under the private package
    ``_autograder_kernel``: only these files, none of the grader's checks."""
    import importlib
    import types

    pkg = types.ModuleType("_autograder_kernel")
    pkg.__path__ = [str(AUTOGRADER_DIR)]
    sys.modules["_autograder_kernel"] = pkg
    protocol = importlib.import_module("_autograder_kernel.wire.protocol")
    executor = importlib.import_module("_autograder_kernel.wire.executor")
    policy = importlib.import_module("_autograder_kernel.kernel.policy")
    return protocol, executor, policy


def _make_entry(protocol, executor):
    """``__autograder_call__(text, blob_b64)``: run one encoded call on the kernel's namespace
    and publish the encoded result as display data."""
    import base64

    from IPython import get_ipython
    from IPython.display import publish_display_data

    def call(text: str, blob: str, limit: int) -> None:
        message = protocol.decode(text, base64.b64decode(blob))
        result = executor.execute(get_ipython().user_ns, message)
        out_text, out_blob = protocol.encode(result)
        if len(out_blob) > limit:
            result = protocol.Result(error={"stage": "output", "type": "ValueError",
                                            "message": f"the outputs take {len(out_blob)} bytes, "
                                                       f"over the limit of {limit}"})
            out_text, out_blob = protocol.encode(result)
        publish_display_data({"application/x-autograder-result": {
            "json": out_text, "blob": base64.b64encode(out_blob).decode()}})

    return call


def _read_only_roots() -> list[str]:
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *site.getsitepackages(), sysconfig.get_paths()["stdlib"],
             sysconfig.get_paths()["platstdlib"]}
    for name in ("scse_ref", "coursekit"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            roots.add(str(Path(module.__file__).parent))
    roots.update({"/sys/devices/system/cpu", "/etc/localtime", "/usr/share/zoneinfo",
                  "/usr/share/fonts", "/etc/fonts", "/usr/lib", "/lib"})
    return sorted(roots)


def _switch_user(spec: str) -> None:
    """Become ``UID:GID`` for good: real, effective and saved ids, no supplementary groups. From
    root to another uid the kernel clears every capability; it is checked here."""
    uid, gid = (int(x) for x in spec.split(":"))
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise SystemExit(f"could not switch to {spec}")
    with open("/proc/self/status") as status:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in status if ":" in line)}
    if int(caps.get("CapEff", "0"), 16) or int(caps.get("CapPrm", "0"), 16):
        raise SystemExit("capabilities left after switching user")


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.user:
        _switch_user(args.user)
    sandbox = os.path.realpath(args.sandbox)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_AS, None if args.memory_mb is None else args.memory_mb * 2 ** 20)
    _limit(resource.RLIMIT_CPU, args.cpu_seconds)
    _limit(resource.RLIMIT_FSIZE, 256 * 2 ** 20)
    if os.geteuid() != 0:
        _limit(resource.RLIMIT_NPROC, args.processes)
    os.makedirs(os.path.join(sandbox, "tmp"), exist_ok=True)
    os.environ.update({"HOME": sandbox, "TMPDIR": os.path.join(sandbox, "tmp"),
                       "MPLCONFIGDIR": os.path.join(sandbox, "tmp"), "MPLBACKEND": "Agg",
                       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "PYTHONDONTWRITEBYTECODE": "1"})
    os.chdir(sandbox)
    sys.dont_write_bytecode = True
    for name in PRELOAD + (() if args.no_reference else (REFERENCE,)):
        __import__(name)
    import torch

    torch.set_num_threads(1)
    _warm_up()
    kernel_argv = ["-f", args.connection_file, "--HistoryManager.hist_file=:memory:",
                   "--IPKernelApp.log_level=ERROR", "--Application.log_level=ERROR"]
    if args.isolated:
        protocol, executor, policy = _load_kernel_side()
        for name in [m for m in sys.modules if m == "autograder" or m.startswith("autograder.")]:
            del sys.modules[name]
        sys.modules["autograder"] = _stub_autograder()
        repo = str(AUTOGRADER_DIR.parent)
        sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != repo]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(kernel_argv)
    if args.isolated:
        import builtins

        builtins.__autograder_call__ = _make_entry(protocol, executor)
        policy.install(sandbox, _read_only_roots(),
                       blocked=(REFERENCE,) if args.no_reference else ())
    app.start()


if __name__ == "__main__":
    main()
