"""GPU correctness and speed, measured in one run: the kit for the few minutes a GPU is lent.

On the GPU machine (Python 3.12, its own CUDA build of torch, no Jupyter, no nbgrader, nothing to
install), from the repository root::

    PYTHONPATH=. python3 bench/gpu_check.py --out "$OUT"

Here, without CUDA (what CI runs, through ``tests/test_gpu_check.py``)::

    make gpu-check                                     # = .venv/bin/python bench/gpu_check.py
                                                       #   --quick --out bench/results/gpu-check

It writes two files into ``--out``: ``gpu_check.json`` (everything) and ``gpu_check.md`` (a
short report), after every part, so a run stopped by a time limit keeps what it measured. Four
parts, each in its own process (a broken CUDA context or a crash costs one part, not the run),
within ``--budget`` seconds in all:

1. ``agreement``: every implementation of the mutation suite (``tests/mutants/``: wrong and
   correct, contract exercises and lesson 03's) and every implementation the lessons' own tests
   judge (``tests/test_exercises_lessonNN.py``, recorded while those tests run), for each exercise
   with a device family, goes through the device family twice: on real CUDA, and in the CPU
   simulation (forced with ``autograder.judge.device.simulated()``). A table per exercise, and
   every disagreement with both messages and, where the implementation is wrong in an earlier
   family, that explanation (the GPU run compares values with the reference; the simulation
   checks devices, dtypes and layouts only).
2. ``correctness``: ``scse_ref.SCSE`` in every mode (fused and two-branch "add", max, mul,
   concat), 1-D / 2-D / 3-D, float32, float16, bfloat16, autocast float16 and bfloat16, float32
   with TF32, contiguous and channels_last: output and gradients (input and every parameter) on
   CUDA against float64 on the CPU, each error against its stated tolerance (:data:`TOLERANCE`).
3. ``speed``: ``bench/bench_scse.py`` on CUDA (reference fused, two-branch, seed, smp, and
   ``torch.compile`` of the two-branch form) at its four shapes and at
   ``bench_scse.LARGE_SHAPE``, the achieved bandwidth against the card's peak and against a copy,
   the target (ref at the large shape >= 70% of peak) and the profiler's kernel list.
4. ``lesson06``: lesson 06's solution notebook, its code cells read with ``json`` and executed in
   order as a script (no kernel): each cell's outcome, time and last lines of output.

``--quick`` (no CUDA needed) runs each part small on the CPU: its plumbing, the report, and the
skips, named "no CUDA". Without CUDA nothing in the report is a GPU result, and it says so.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib.util
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PARTS = ("agreement", "correctness", "speed", "lesson06")
#: each part's share of the budget; time a part leaves unused goes to the parts after it
SHARES = {"agreement": 0.35, "correctness": 0.15, "speed": 0.25, "lesson06": 0.25}
#: seconds for the whole run: well inside the GPU machine's 10-minute command limit, and short
#: enough that a rerun fits in its 15 minutes (start-up included). On this project's 2-core CPU
#: machine the full run without CUDA took 165 s; on the GPU the agreement part runs twice.
DEFAULT_BUDGET = {"full": 360.0, "quick": 600.0}
SEED = 20240611
LESSON06 = ROOT / "solutions" / "06_gpu_ready_attention" / "06_gpu_ready_attention.ipynb"
JSON_NAME, MD_NAME = "gpu_check.json", "gpu_check.md"

#: The tolerance each precision is held to, for the output and each gradient (input, every
#: parameter): the largest error relative to the tensor's scale, max |got - ref| / max |ref|,
#: against float64. float32, float16 and bfloat16 are those scse_ref's own dtype test states
#: (tests/test_scse_ref.py, test_modules_compute_in_the_dtype_they_are_given); autocast is the
#: device family's (5e-2, judge/device.py); TF32 keeps float16's 10-bit mantissa, so float16's.
#: A gradient that sums many terms can lose more than that to rounding alone (a parameter's
#: gradient sums N x positions products, and cancels): on CUDA, each tensor may also be off by
#: up to CPU_FACTOR times the error the CPU makes in the same precision on the same data.
TOLERANCE = {"float32": 1e-5, "float16": 1e-2, "bfloat16": 5e-2, "autocast-float16": 5e-2,
             "autocast-bfloat16": 5e-2, "float32-tf32": 1e-2}
CPU_FACTOR = 4.0
VARIANTS = {"add (fused)": dict(mode="add"), "add (two-branch)": dict(mode="add", fused=False),
            "max": dict(mode="max"), "mul": dict(mode="mul"), "concat": dict(mode="concat")}
CORRECTNESS_SHAPES = [(4, 32, 257), (4, 32, 17, 23), (2, 32, 5, 9, 11)]
CORRECTNESS_LARGE = (8, 64, 64, 64)          # on CUDA: long reductions (4096 positions, N = 8)
QUICK_SPEED_SHAPE = (2, 32, 16, 16)          # --quick without CUDA: the timing plumbing only


# --- small helpers -------------------------------------------------------------------------------

def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _write(path: Path, data) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def _first_line(text: str, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


def _tail(text: str, lines: int = 6, limit: int = 600) -> str:
    kept = "\n".join((text or "").rstrip().splitlines()[-lines:])
    return kept[-limit:]


def environment() -> dict:
    import torch

    env = {"date": _now(), "python": platform.python_version(), "torch": torch.__version__,
           "cuda_available": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads(),
           "machine": platform.machine()}
    if torch.cuda.is_available():
        env.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(),
                   tf32_default={"cudnn": torch.backends.cudnn.allow_tf32,
                                 "matmul": torch.backends.cuda.matmul.allow_tf32})
    try:
        import triton
        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    return env


class Part:
    """What a part has: its deadline, its results, and a save after every step."""

    def __init__(self, name: str, path: Path, limit: float, quick: bool):
        self.name, self.path, self.quick = name, path, quick
        self.deadline = time.monotonic() + limit
        self.data: dict = {"part": name, "started": _now()}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        _write(self.path, self.data)


def load_registry():
    """The mutation suite's registry (``tests/mutants/registry.py``), the one the tests use."""
    from tests.mutants import registry

    return registry


def load_bench_scse():
    key = "_scse_bench_scse"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "bench" / "bench_scse.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


# --- part 1: agreement ---------------------------------------------------------------------------

def _outcome(o) -> dict:
    return {"passed": o.passed, "mistake": o.mistake, "ran_on": o.ran_on, "message": o.message}


def harvest_lesson_tests(files: list[Path]) -> tuple[list[dict], dict]:
    """Every implementation of a lesson's own exercise (with a device family) that the lesson
    tests judge, recorded while they run under the forced simulation; and the tests' tally."""
    import pytest

    from autograder.exercises import get
    from autograder.judge import device
    from autograder.judge import exercise as exercise_module
    from autograder.judge.subjects import LocalSubject

    contract = set(load_registry().exercises())
    found: dict = {}
    current: dict = {"node": None}
    tally = {"passed": 0, "failed": 0, "skipped": 0}
    original = exercise_module.Exercise.check

    def recording(self, family, subject, seed=None):
        if isinstance(subject, LocalSubject) and self.id not in contract and \
                "device" in get(self.id).families and self.name in subject.namespace:
            obj = subject.namespace[self.name]
            entry = found.setdefault((self.id, id(obj)), {"exercise": self.id, "obj": obj,
                                                          "tests": []})
            if current["node"] and current["node"] not in entry["tests"]:
                entry["tests"].append(current["node"])
        return original(self, family, subject, seed)

    class Recorder:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(self, item):
            current["node"] = item.nodeid
            yield
            current["node"] = None

        def pytest_runtest_logreport(self, report):
            if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
                tally[report.outcome] = tally.get(report.outcome, 0) + 1

    exercise_module.Exercise.check = recording
    out = io.StringIO()
    try:
        with device.simulated(), contextlib.redirect_stdout(out):
            code = pytest.main([*map(str, files), "-q", "-p", "no:cacheprovider", "-o",
                                "addopts=", "--import-mode=importlib", f"--rootdir={ROOT}"],
                               plugins=[Recorder()])
    finally:
        exercise_module.Exercise.check = original
    tally["exit_code"] = int(code)
    tally["files"] = [str(f.relative_to(ROOT)) for f in files]
    tally["summary"] = _tail(out.getvalue(), 1)
    impls = []
    for (exercise_id, _), entry in found.items():
        obj = entry["obj"]
        name = getattr(obj, "__qualname__", type(obj).__name__)
        first = entry["tests"][0].split("::", 1)[-1] if entry["tests"] else "?"
        impls.append({"id": f"{exercise_id}/{name} [{first}]", "exercise": exercise_id,
                      "origin": "lesson test", "expected": None, "obj": obj,
                      "tests": entry["tests"][:5]})
    return impls, tally


def _mutant_impls(quick: bool) -> list[dict]:
    from autograder.exercises import get

    impls = []
    for i, m in enumerate(load_registry().all_mutants(lessons=True)):
        if "device" not in get(m.exercise).families:
            continue
        if quick and m.exercise != "kept_iou" and i % 6:
            continue
        exp = m.expected
        impls.append({"id": m.id, "exercise": m.exercise, "origin": "mutant",
                      "expected": "correct" if exp.correct else
                      f"wrong: first fails {exp.family} [{'/'.join(exp.mistakes)}]",
                      "mutant": m})
    return impls


def _earlier_failure(impl: dict) -> dict | None:
    """The first family before the device family that the implementation fails, on the CPU."""
    from autograder import run_check
    from autograder.exercises import get

    for family in get(impl["exercise"]).families:
        if family == "device":
            return None
        o = run_check(impl["exercise"], family, impl["obj"], seed=SEED)
        if not o.passed:
            return {"family": family, "mistake": o.mistake, "message": _first_line(o.message)}
    return None


def part_agreement(part: Part) -> None:
    import torch

    from autograder import run_check
    from autograder.judge import device

    cuda = torch.cuda.is_available()
    torch.set_num_threads(1)      # the probes are tiny: a thread pool only adds overhead
    impls = _mutant_impls(part.quick)
    files = sorted((ROOT / "tests").glob("test_exercises_lesson*.py"))
    if part.quick:
        files = [f for f in files if f.name == "test_exercises_lesson03.py"]
    start = time.monotonic()
    harvested, tally = harvest_lesson_tests(files)
    tally["seconds"] = round(time.monotonic() - start, 1)
    part.data["lesson_tests"] = tally
    impls += harvested
    part.data.update(cuda=cuda, seed=SEED, implementations=len(impls), rows=[])
    if not cuda:
        part.data["cuda_note"] = "no CUDA: the CUDA side is not run; only the simulation's " \
                                 "verdicts are recorded (agreement not measured)"
    for impl in impls:
        row = {k: impl[k] for k in ("id", "exercise", "origin", "expected")}
        if impl.get("tests"):
            row["tests"] = impl["tests"]
        part.data["rows"].append(row)
        if part.left() < 5:
            row["skipped"] = "time budget spent"
            continue
        try:
            if "obj" not in impl:
                impl["obj"] = impl["mutant"].build()
            started = time.perf_counter()
            with device.simulated():
                row["simulated"] = _outcome(run_check(impl["exercise"], "device", impl["obj"],
                                                      seed=SEED))
            row["simulated_s"] = round(time.perf_counter() - started, 3)
            if cuda:
                started = time.perf_counter()
                row["cuda"] = _outcome(run_check(impl["exercise"], "device", impl["obj"],
                                                 seed=SEED))
                row["cuda_s"] = round(time.perf_counter() - started, 3)
                sim, gpu = row["simulated"], row["cuda"]
                row["agree"] = (sim["passed"], sim["mistake"]) == (gpu["passed"], gpu["mistake"])
                if not row["agree"]:
                    row["earlier_failure"] = _earlier_failure(impl)
        except Exception as exc:  # noqa: BLE001 - one broken implementation, not the part
            row["error"] = f"{type(exc).__name__}: {_first_line(str(exc))}"
        if len(part.data["rows"]) % 10 == 0:
            part.save()
    part.data["summary"] = agreement_summary(part.data["rows"])
    part.save()


def agreement_summary(rows: list[dict]) -> dict:
    by: dict = {}
    for r in rows:
        s = by.setdefault(r["exercise"], dict(implementations=0, simulated_pass=0,
                                              simulated_fail=0, cuda_pass=0, cuda_fail=0,
                                              agree=0, disagree=0, not_run=0))
        s["implementations"] += 1
        if "simulated" not in r:
            s["not_run"] += 1
            continue
        s["simulated_pass" if r["simulated"]["passed"] else "simulated_fail"] += 1
        if "cuda" in r:
            s["cuda_pass" if r["cuda"]["passed"] else "cuda_fail"] += 1
            s["agree" if r["agree"] else "disagree"] += 1
    return by


# --- part 2: correctness -------------------------------------------------------------------------

def _rel_error(got, ref) -> float:
    import torch

    got, ref = got.detach().double().cpu(), ref.detach().double().cpu()
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    if not bool(torch.isfinite(got).all()):
        return math.inf
    return float((got - ref).abs().max()) / max(scale, 1e-30) if ref.numel() else 0.0


def _layout(x, layout: str):
    import torch

    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last if x.dim() == 4
                            else torch.channels_last_3d)
    return x


def _run_precision(base, x, g, precision: str, layout: str, device: str):
    """``base`` in ``precision`` on ``device``: its output and the gradients of the input and of
    every parameter (named), for the output gradient ``g``."""
    import torch

    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(precision, torch.float32)
    module = copy.deepcopy(base).to(dtype).to(device)
    xd = _layout(x.to(device=device, dtype=dtype), layout).requires_grad_()
    autocast = precision.startswith("autocast-")
    ctx = torch.autocast(device, dtype=getattr(torch, precision.split("-", 1)[1])) if autocast \
        else contextlib.nullcontext()
    saved = None
    if device == "cuda":
        saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        tf32 = precision == "float32-tf32"
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        with ctx:
            out = module(xd)
        grads = torch.autograd.grad(out, [xd, *module.parameters()],
                                    g.to(device=device, dtype=out.dtype))
    finally:
        if saved is not None:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    names = ["output", "grad x", *[f"grad {n}" for n, _ in module.named_parameters()]]
    return module, out, dict(zip(names, [out, *grads]))


def correctness_case(variant: str, shape, precision: str, layout: str, device: str) -> dict:
    """One configuration: ``scse_ref.SCSE`` on ``device`` in ``precision`` against float64 on the
    CPU, with the same weights and input (rounded to the precision first, so that only the
    computation's error counts). On CUDA the same precision also runs on the CPU, for
    :data:`CPU_FACTOR`."""
    import torch

    import scse_ref

    torch.manual_seed(SEED)
    base = scse_ref.SCSE(shape[1], reduction=4, spatial_dims=len(shape) - 2, **VARIANTS[variant])
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(precision, torch.float32)
    base = base.to(dtype).float()                  # weights representable in the precision
    x = torch.randn(shape).to(dtype).float()
    ref = copy.deepcopy(base).double()
    xr = x.double().requires_grad_()
    out_ref = ref(xr)
    g = torch.randn(out_ref.shape).to(dtype).float()
    want = dict(zip(["output", "grad x", *[f"grad {n}" for n, _ in ref.named_parameters()]],
                    [out_ref, *torch.autograd.grad(out_ref, [xr, *ref.parameters()],
                                                   g.double())]))
    module, out, got = _run_precision(base, x, g, precision, layout, device)
    errors = {k: _rel_error(got[k], want[k]) for k in want}
    tol = {k: TOLERANCE[precision] for k in want}
    cpu_errors = None
    if device != "cpu":
        try:
            _, _, on_cpu = _run_precision(base, x, g, precision, layout, "cpu")
            cpu_errors = {k: _rel_error(on_cpu[k], want[k]) for k in want}
            tol = {k: max(tol[k], CPU_FACTOR * cpu_errors[k]) for k in want}
        except Exception:  # noqa: BLE001 - a precision the CPU kernels lack: dtype tolerance
            cpu_errors = None
    ratios = {k: errors[k] / tol[k] for k in want}
    params = [k for k in want if k.startswith("grad ") and k != "grad x"]
    worst_param = max(params, key=ratios.get) if params else None
    shown = ["output", "grad x"] + ([worst_param] if worst_param else [])
    return {"variant": variant, "dims": len(shape) - 2, "shape": list(shape),
            "precision": precision, "layout": layout, "device": device,
            "output_dtype": str(out.dtype).removeprefix("torch."),
            "keeps_channels_last": bool(out.is_contiguous(memory_format=torch.channels_last))
            if layout == "channels_last" and out.dim() == 4 else None,
            "errors": {k: errors[k] for k in shown},
            "tolerances": {k: tol[k] for k in shown},
            "cpu_errors": None if cpu_errors is None else {k: cpu_errors[k] for k in shown},
            "worst_ratio": max(ratios.values()), "ok": max(ratios.values()) <= 1.0}


def part_correctness(part: Part) -> None:
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if cuda:
        precisions = list(TOLERANCE)
        shapes = [*CORRECTNESS_SHAPES, CORRECTNESS_LARGE]
        variants = list(VARIANTS)
    else:       # the plumbing, on the CPU: what CPU kernels support, small
        precisions = ["float32", "bfloat16", "autocast-bfloat16"]
        shapes = CORRECTNESS_SHAPES if not part.quick else CORRECTNESS_SHAPES[:2]
        variants = list(VARIANTS)
        part.data["cuda_note"] = "no CUDA: run on the CPU against float64 (the plumbing), not " \
                                 "a GPU result. Without a CPU baseline the precision's tolerance " \
                                 "alone applies: low-precision gradients of parameters, sums of " \
                                 "many terms, can exceed it from rounding alone"
    part.data.update(device=device, tolerance=TOLERANCE, cpu_factor=CPU_FACTOR, rows=[])
    for shape in shapes:
        for variant in variants:
            for precision in precisions:
                for layout in ("contiguous", "channels_last") if len(shape) > 3 else \
                        ("contiguous",):
                    if part.left() < 3:
                        part.data["rows"].append({"variant": variant, "shape": list(shape),
                                                  "precision": precision, "layout": layout,
                                                  "skipped": "time budget spent"})
                        continue
                    try:
                        row = correctness_case(variant, shape, precision, layout, device)
                    except Exception as exc:  # noqa: BLE001 - a config that cannot run
                        row = {"variant": variant, "shape": list(shape), "precision": precision,
                               "layout": layout, "device": device, "ok": False,
                               "error": f"{type(exc).__name__}: {_first_line(str(exc))}"}
                    part.data["rows"].append(row)
            part.save()
    rows = [r for r in part.data["rows"] if "skipped" not in r]
    part.data["summary"] = {
        "configurations": len(part.data["rows"]), "run": len(rows),
        "within_tolerance": sum(bool(r.get("ok")) for r in rows),
        "worst_by_precision": {p: max((r["worst_ratio"] for r in rows
                                       if r.get("precision") == p and "worst_ratio" in r),
                                      default=None) for p in precisions}}
    part.save()


# --- part 3: speed -------------------------------------------------------------------------------

def part_speed(part: Part) -> None:
    import torch

    import scse_ref

    bench = load_bench_scse()
    peers = bench.load_peers()
    cuda = torch.cuda.is_available()
    part.data["cuda"] = cuda
    part.data["smp"] = peers.peer_version("segmentation-models-pytorch")
    if cuda:
        name = torch.cuda.get_device_name(0)
        peak = bench.peak_bandwidth(name)
        part.data.update(device="cuda", gpu=name, peak_bytes_per_s=peak,
                         min_passes=bench.MIN_PASSES, target=bench.BANDWIDTH_TARGET)
        shapes = [bench.LARGE_SHAPE, *bench.SHAPES]          # the target's shape first
        names = bench.IMPLEMENTATIONS
        min_run_time, rounds = 0.25, 2
        device = "cuda"
    else:
        part.data.update(device="cpu", cuda_note="no CUDA: bench_scse's CPU path at its quick "
                         "shape (the plumbing); no bandwidth, no GPU result")
        shapes = [QUICK_SPEED_SHAPE] if part.quick else bench.QUICK_SHAPES
        names, min_run_time, rounds, device = \
            [n for n in bench.IMPLEMENTATIONS if n != "compiled"], 0.05, 1, "cpu"
    part.data.update(min_run_time_s=min_run_time, rounds=rounds, rows=[])
    # the profile first: it is the answer to "where does the time go" even if timing runs out
    profile_shape = bench.LARGE_SHAPE if cuda else shapes[0]
    try:
        part.data["profile"] = bench.kernel_profile(scse_ref.SCSE(profile_shape[1]),
                                                    profile_shape, device)
    except Exception as exc:  # noqa: BLE001
        part.data["profile"] = {"error": f"{type(exc).__name__}: {_first_line(str(exc))}"}
    part.save()

    def saved(rows):
        part.data["rows"] = rows
        part.save()

    rows = bench.run(device, shapes, min_run_time, rounds, torch.get_num_threads(), peers,
                     names=names, deadline=part.deadline - 20, on_row=saved,
                     compile_at=[bench.LARGE_SHAPE] if cuda else None)
    part.data["rows"] = rows
    if cuda:
        for row in rows:
            row["bandwidth"] = {n: bench.bandwidth(row, n, part.data["peak_bytes_per_s"])
                                for n in names if n in row}
        large = [r for r in rows if tuple(r["shape"]) == tuple(bench.LARGE_SHAPE)]
        bw = large[0]["bandwidth"].get("ref") if large and "bandwidth" in large[0] else None
        if bw and bw.get("of_peak") is not None:
            part.data["target_met"] = bw["of_peak"] >= bench.BANDWIDTH_TARGET
            part.data["ref_large_of_peak"] = bw["of_peak"]
    part.save()


# --- part 4: lesson 06 ---------------------------------------------------------------------------

def notebook_cells(path: Path) -> list[dict]:
    """The code cells of a notebook, read with ``json`` (no nbformat on the GPU machine)."""
    nb = json.loads(path.read_text())
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        meta = cell.get("metadata", {}).get("nbgrader", {})
        cells.append({"index": index, "grade_id": meta.get("grade_id"), "source": source})
    return cells


def part_lesson06(part: Part) -> None:
    import torch

    os.environ["SCSE_COURSE_QUICK"] = "1" if part.quick else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    part.data.update(notebook=str(LESSON06.relative_to(ROOT)), cuda=torch.cuda.is_available(),
                     quick_mode=part.quick, cells=[])
    namespace: dict = {"__name__": "__lesson06__"}
    workdir = Path(tempfile.mkdtemp(prefix="lesson06-"))
    here = os.getcwd()
    os.chdir(workdir)
    try:
        for cell in notebook_cells(LESSON06):
            row = {"index": cell["index"], "grade_id": cell["grade_id"]}
            part.data["cells"].append(row)
            if part.left() < 3:
                row["outcome"] = "skipped: time budget spent"
                continue
            lines = cell["source"].splitlines()
            magics = [n for n, line in enumerate(lines) if line.lstrip().startswith(("%", "!"))]
            if magics:      # a kernel's magics: not Python; left out and said so
                row["magics_left_out"] = [lines[n].strip() for n in magics]
                lines = ["pass" if n in magics else line for n, line in enumerate(lines)]
            out = io.StringIO()
            start = time.perf_counter()
            try:
                code = compile("\n".join(lines), f"<lesson 06, cell {cell['index']}>", "exec")
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    exec(code, namespace)  # noqa: S102 - the course's own notebook
                row["outcome"] = "ok"
            except BaseException as exc:  # noqa: BLE001 - a cell's failure is its outcome
                if isinstance(exc, KeyboardInterrupt):
                    raise
                row["outcome"] = f"{type(exc).__name__}: {_first_line(str(exc))}"
                row["traceback"] = _tail(traceback.format_exc(), 8, 1500)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            row["seconds"] = round(time.perf_counter() - start, 3)
            row["output"] = _tail(out.getvalue())
            part.save()
    finally:
        os.chdir(here)
    part.data["summary"] = {"cells": len(part.data["cells"]),
                            "ok": sum(c.get("outcome") == "ok" for c in part.data["cells"]),
                            "seconds": round(sum(c.get("seconds", 0) for c in
                                                 part.data["cells"]), 1)}
    part.save()


RUNNERS = {"agreement": part_agreement, "correctness": part_correctness, "speed": part_speed,
           "lesson06": part_lesson06}


# --- the report ----------------------------------------------------------------------------------

def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _cell(text, limit: int = 160) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")[:limit]


def markdown(report: dict) -> str:
    env = report["env"]
    gpu = env.get("gpu")
    lines = ["# GPU check", "",
             f"`bench/gpu_check.py{' --quick' if report['quick'] else ''}`, {env['date']}: "
             f"torch {env['torch']}, Python {env['python']}, "
             + (f"**{gpu}** (CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, Triton "
                f"{env.get('triton')})." if gpu else "**no CUDA on this machine**."), ""]
    if not gpu:
        lines += ["**No GPU run**: CUDA was not available, so nothing below is a GPU result. "
                  "Each part ran its CPU plumbing; what needs CUDA is marked \"no CUDA\".", ""]
    lines += ["| part | status | seconds |", "| --- | --- | ---: |"]
    for name in report["parts_run"]:
        p = report["parts"].get(name, {})
        lines.append(f"| {name} | {_cell(p.get('status', 'not run'))} | "
                     f"{p.get('seconds', 0):.0f} |")
    parts = report["parts"]
    if "agreement" in parts:
        lines += ["", *_md_agreement(parts["agreement"])]
    if "correctness" in parts:
        lines += ["", *_md_correctness(parts["correctness"])]
    if "speed" in parts:
        lines += ["", *_md_speed(parts["speed"])]
    if "lesson06" in parts:
        lines += ["", *_md_lesson06(parts["lesson06"])]
    return "\n".join(lines) + "\n"


def _md_agreement(p: dict) -> list[str]:
    out = ["## 1. Device verdicts: real CUDA against the simulation", ""]
    if p.get("cuda_note"):
        out += [p["cuda_note"] + ".", ""]
    tests = p.get("lesson_tests")
    if tests:
        out += [f"Implementations: the mutation suite's and those the lessons' tests judge "
                f"({', '.join(tests.get('files', []))}: {tests.get('passed', 0)} passed, "
                f"{tests.get('failed', 0)} failed under the forced simulation).", ""]
    summary = p.get("summary") or agreement_summary(p.get("rows", []))
    out += ["| exercise | implementations | simulated: pass / fail | CUDA: pass / fail | agree | "
            "disagree | not run |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for ex, s in summary.items():
        cuda = f"{s['cuda_pass']} / {s['cuda_fail']}" if p.get("cuda") else "no CUDA"
        out.append(f"| `{ex}` | {s['implementations']} | {s['simulated_pass']} / "
                   f"{s['simulated_fail']} | {cuda} | {s['agree'] if p.get('cuda') else '-'} | "
                   f"{s['disagree'] if p.get('cuda') else '-'} | {s['not_run']} |")
    rows = p.get("rows", [])
    bad = [r for r in rows if r.get("origin") == "mutant" and "simulated" in r and
           r["expected"] == "correct" and not r["simulated"]["passed"]]
    if bad:
        out += ["", "Correct mutants the simulation failed:", ""]
        out += [f"- `{r['id']}`: {_cell(r['simulated']['message'], 300)}" for r in bad]
    disagree = [r for r in rows if r.get("agree") is False]
    if disagree:
        out += ["", f"Disagreements ({len(disagree)}), both messages:", ""]
        for r in disagree[:40]:
            why = r.get("earlier_failure")
            note = (f" Explained: wrong before the device family (fails {why['family']} "
                    f"[{why['mistake']}]): the CUDA run compares values with the reference, the "
                    "simulation does not." if why else " Not explained by an earlier failure.")
            out.append(f"- `{r['id']}` ({r.get('expected') or r['origin']}).{note}\n"
                       f"  - CUDA: {'pass' if r['cuda']['passed'] else 'FAIL'} "
                       f"[{r['cuda']['mistake']}] {_cell(r['cuda']['message'], 400)}\n"
                       f"  - simulated: {'pass' if r['simulated']['passed'] else 'FAIL'} "
                       f"[{r['simulated']['mistake']}] {_cell(r['simulated']['message'], 400)}")
        if len(disagree) > 40:
            out.append(f"- ... {len(disagree) - 40} more in gpu_check.json")
    errors = [r for r in rows if "error" in r]
    if errors:
        out += ["", "Implementations the kit could not run:", ""]
        out += [f"- `{r['id']}`: {_cell(r['error'])}" for r in errors[:20]]
    return out


def _md_correctness(p: dict) -> list[str]:
    out = ["## 2. scse_ref on CUDA against float64 on the CPU", ""]
    if p.get("cuda_note"):
        out += [p["cuda_note"] + ".", ""]
    s = p.get("summary", {})
    out += [f"{s.get('run', 0)} of {s.get('configurations', 0)} configurations run "
            f"({p.get('device')}), {s.get('within_tolerance', 0)} within tolerance. Error = "
            "max |got - ref| / max |ref| of the output and of each gradient (input, every "
            "parameter) against float64; tolerance = the precision's (bench/gpu_check.py, "
            "TOLERANCE)" + (f", or {p.get('cpu_factor')} x the CPU's own error in the same "
                            "precision where that is larger" if p.get("device") == "cuda"
                            else "") + ".", "",
            "| precision | tolerance | worst error / tolerance |", "| --- | ---: | ---: |"]
    for precision, worst in (s.get("worst_by_precision") or {}).items():
        out.append(f"| {precision} | {TOLERANCE[precision]:g} | "
                   f"{'n/a' if worst is None else f'{worst:.2f}'} |")
    failed = [r for r in p.get("rows", []) if "skipped" not in r and not r.get("ok")]
    if failed:
        out += ["", f"Beyond tolerance or failed ({len(failed)}):", ""]
        for r in failed[:30]:
            what = r.get("error") or ", ".join(
                f"{k} {v:.2g} (tolerance {r['tolerances'][k]:.2g})" for k, v in r["errors"].items())
            out.append(f"- {r['variant']}, {tuple(r['shape'])}, {r['precision']}, {r['layout']}: "
                       f"{_cell(what, 300)}")
    return out


def _md_speed(p: dict) -> list[str]:
    out = ["## 3. Speed against the memory limit", ""]
    if p.get("cuda_note"):
        out += [p["cuda_note"] + ".", ""]
    names = ["ref", "ref-2b", "seed", "smp", "compiled"]
    out += ["Median ms per forward + backward step, float32" + (
        f"; bandwidth = {p.get('min_passes')} passes x x.nbytes / time, as a share of the "
        f"card's peak ({(p.get('peak_bytes_per_s') or 0) / 1e12:.1f} TB/s) and of a copy in "
        "the same run" if p.get("cuda") else "") + ".", "",
        "| shape | " + " | ".join(names) + (" | ref: of peak | ref: of copy |" if p.get("cuda")
                                             else " |"),
        "| --- |" + " ---: |" * (len(names) + (2 if p.get("cuda") else 0))]
    for row in p.get("rows", []):
        if "skipped" in row:
            out.append(f"| {tuple(row['shape'])} | skipped: {row['skipped']} |")
            continue
        cells = []
        for n in names:
            entry = row.get(n)
            cells.append("-" if entry is None else (f"{entry['median_s'] * 1e3:.3f}"
                                                    if "median_s" in entry else "n/a"))
        line = f"| {tuple(row['shape'])} | " + " | ".join(cells)
        if p.get("cuda"):
            bw = (row.get("bandwidth") or {}).get("ref") or {}
            line += f" | {_pct(bw.get('of_peak'))} | {_pct(bw.get('of_copy'))}"
        out.append(line + " |")
    missing = {n: row[n]["missing"] for row in p.get("rows", []) for n in names
               if isinstance(row.get(n), dict) and "missing" in row[n]}
    for n, why in missing.items():
        out.append(f"\n`{n}` not timed: {_cell(why, 200)}")
    if "target_met" in p:
        out += ["", f"Target (ref at the large shape >= {_pct(p.get('target'))} of peak): "
                f"**{'met' if p['target_met'] else 'missed'}** "
                f"({_pct(p.get('ref_large_of_peak'))})."]
    prof = p.get("profile") or {}
    if prof.get("top"):
        out += ["", f"Where one step of ref goes ({prof['device']}, {tuple(prof['shape'])}: "
                f"{prof['us_per_step']:.0f} us per step in {prof['kernels_per_step']} "
                "kernels or operators):", "", "| us per step | share | calls | kernel |",
                "| ---: | ---: | ---: | --- |"]
        out += [f"| {r['us_per_step']:.1f} | {_pct(r['share'])} | {r['calls']} | "
                f"`{_cell(r['name'], 90)}` |" for r in prof["top"][:10]]
    elif prof.get("error"):
        out += ["", f"Profile failed: {_cell(prof['error'])}"]
    return out


def _md_lesson06(p: dict) -> list[str]:
    s = p.get("summary", {})
    out = ["## 4. Lesson 06 as a script", "",
           f"`{p.get('notebook')}`, code cells run in order in one namespace "
           f"({'CUDA' if p.get('cuda') else 'no CUDA: its GPU cells take their CPU branch'}, "
           f"{'quick' if p.get('quick_mode') else 'full'} version): {s.get('ok', 0)} of "
           f"{s.get('cells', 0)} ok, {s.get('seconds', 0)} s.", "",
           "| cell | grade id | outcome | s | last output |", "| ---: | --- | --- | ---: | --- |"]
    for c in p.get("cells", []):
        last = _tail(c.get("output", ""), 1, 120)
        out.append(f"| {c['index']} | {c.get('grade_id') or ''} | {_cell(c.get('outcome'), 120)} "
                   f"| {c.get('seconds', 0):.2f} | {_cell(last, 120)} |")
    return out


# --- the run -------------------------------------------------------------------------------------

def run_parts(out: Path, parts: list[str], budget: float, quick: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    report = {"kit": "bench/gpu_check.py", "quick": quick, "budget_s": budget,
              "env": environment(), "parts_run": parts, "parts": {}}
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    for i, name in enumerate(parts):
        left = budget - (time.monotonic() - started)
        share = SHARES[name] / sum(SHARES[n] for n in parts[i:])
        limit = max(left * share, 10.0)
        path = work / f"{name}.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--part-json",
               str(path), "--limit", f"{limit:.0f}"] + (["--quick"] if quick else [])
        print(f"[gpu_check] {name}: up to {limit:.0f} s", flush=True)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                                  timeout=limit + 30)
            status = "done" if proc.returncode == 0 else f"failed (exit code {proc.returncode})"
            log = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            status = "stopped at its time limit (partial results)"
            log = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
                else (exc.stdout or "")
        data = json.loads(path.read_text()) if path.exists() else {}
        data["status"] = status
        data["seconds"] = round(time.monotonic() - t0, 1)
        data["log_tail"] = _tail(log, 25, 4000)
        report["parts"][name] = data
        report["seconds"] = round(time.monotonic() - started, 1)
        _write(out / JSON_NAME, report)
        (out / MD_NAME).write_text(markdown(report))
        print(f"[gpu_check] {name}: {status} in {data['seconds']} s", flush=True)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--quick", action="store_true",
                        help="small runs, for the CPU (CI): the plumbing, not a result")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default: {','.join(PARTS)})")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run (default: %s)" % DEFAULT_BUDGET)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--part-json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:                      # one part, in its own process
        part = Part(args.part, args.part_json, args.limit, args.quick)
        part.save()
        RUNNERS[args.part](part)
        part.data["finished"] = _now()
        part.save()
        return 0
    if args.out is None:
        parser.error("--out is required")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown parts {unknown}; known: {', '.join(PARTS)}")
    budget = args.budget or DEFAULT_BUDGET["quick" if args.quick else "full"]
    report = run_parts(args.out, parts, budget, args.quick)
    print(f"[gpu_check] wrote {args.out / JSON_NAME} and {args.out / MD_NAME} "
          f"({report['seconds']} s)")
    return 0 if all(p.get("status") == "done" for p in report["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
