"""Forward + backward time of ``scse_ref.SCSE`` against the seed tutorial's and smp's scSE modules.

Compared, on the same input, in float32:

- ``ref``: ``scse_ref.SCSE(C)``, the default, fused ``"add"`` path;
- ``ref-2b``: ``scse_ref.SCSE(C, fused=False)``, the two-branch form ``x * g_c + x * g_s``;
- ``seed``: the seed tutorial's ``scSE_Module(C)`` (transcribed in ``tests/peers.py``);
- ``smp``: segmentation_models_pytorch's ``SCSEModule(C)``, loaded from ``.venv/peers``;
- ``compiled``: ``torch.compile`` of the two-branch form (with ``--compile``; on by default on
  CUDA, where Triton is there to compile for), the first call's compile time reported apart.

One timed step is ``torch.autograd.grad(module(x), [x, *parameters], g)``: the forward and the
backward, with gradients for the input and every parameter and no accumulation into ``.grad``.
Each step runs three times untimed first; ``torch.utils.benchmark.Timer.blocked_autorange`` then
gives the median, in rounds where the implementations take turns; the fastest round's median is
kept (the machine may be shared). The ratios ``ref/seed`` and ``ref/smp`` divide those medians
(below 1: the reference is faster). The issue's aim on the CPU: ``ref/seed <= 0.6`` and
``ref/smp <= 0.5``.

On CUDA (when ``torch.cuda.is_available()``) the same runs on the GPU, also at
:data:`LARGE_SHAPE` (an input of 128 MiB, so that the step is bound by memory traffic, not by
launches), with the peak memory that a step allocates, the achieved memory bandwidth against the
card's peak (see ``MIN_PASSES``) and against a plain copy measured in the same run, and the
profiler's list of the kernels one step of ``ref`` launches at the large shape (where the time
goes). Peak memory is not measured on the CPU: torch keeps no CPU allocator statistics, and the
tensors saved for backward are the same for all four (``x`` and gates of size (N, C) or
(N, 1, H, W)).

    python bench/bench_scse.py              # or: make bench
    python bench/bench_scse.py --quick      # one shape, short runs: proves it runs, not a result
    python bench/bench_scse.py --json bench/results/cpu.json
    python bench/bench_scse.py --devices cuda --compile      # the GPU part of bench/gpu_check.py

A benchmark prints numbers; no test asserts on them.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils import benchmark

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import scse_ref  # noqa: E402  (the checkout's scse_ref, also when run as a script)

SHAPES = [(8, 64, 64, 64), (4, 256, 32, 32), (2, 32, 128, 128), (16, 512, 14, 14)]
QUICK_SHAPES = [(4, 256, 32, 32)]
#: on CUDA: an input of 128 MiB in float32, whose passes over memory dwarf launch overheads
LARGE_SHAPE = (32, 256, 64, 64)
IMPLEMENTATIONS = ["ref", "ref-2b", "seed", "smp", "compiled"]
AIMS = {"seed": 0.6, "smp": 0.5}             # the issue's CPU aim for ref / peer
#: the GPU target (issue #16): ref's forward + backward at LARGE_SHAPE reaches this share of the
#: card's peak bandwidth, counted with MIN_PASSES
BANDWIDTH_TARGET = 0.70

#: Full-size passes over an (N, C, *spatial) tensor that any scSE forward + backward must make:
#: the forward reads x and writes the output (2); the backward reads the output's gradient and x
#: and writes x's gradient (3). Everything else (gates, means, weight gradients) is at most
#: (N, C) or (N, 1, *spatial). Implementations make more passes than this (the fused path about
#: 22, the two-branch form more); bytes = MIN_PASSES * x.nbytes is the roofline's count, the same
#: for every implementation, so "achieved bandwidth" reads as the fraction of that bound reached.
MIN_PASSES = 5

#: Peak memory bandwidth in bytes/s, by device name (first matching substring wins): vendor specs.
PEAK_BANDWIDTH = [
    ("H200", 4.8e12),               # H200 SXM and NVL: 141 GB HBM3e, 4.8 TB/s
    ("H100 NVL", 3.9e12),           # 94 GB HBM3
    ("H100 PCIe", 2.0e12),          # 80 GB HBM2e
    ("H100", 3.35e12),              # H100 SXM5 80 GB HBM3 ("NVIDIA H100 80GB HBM3")
]


def load_peers():
    """``tests/peers.py``, loaded by path (``tests`` is not a package on ``sys.path``). Where the
    interpreter is not the checkout's ``.venv`` (the GPU machine runs its own Python), the peers
    are looked for in the checkout's ``.venv/peers`` (a run there may carry smp's module file)."""
    spec = importlib.util.spec_from_file_location("scse_bench_peers", ROOT / "tests" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checkout = ROOT / ".venv" / "peers"
    if not module.PEERS_DIR.is_dir() and checkout.is_dir():
        module.PEERS_DIR = checkout
    return module


def build(name: str, channels: int, peers):
    """The module ``name`` for ``channels`` channels, or ``None`` with the reason if unavailable."""
    if name == "ref":
        return scse_ref.SCSE(channels), None
    if name == "ref-2b":
        return scse_ref.SCSE(channels, fused=False), None
    if name == "compiled":
        return torch.compile(scse_ref.SCSE(channels, fused=False)), None
    if name == "seed":
        return peers.scSE_Module(channels), None
    try:
        return peers.smp_scse_module()(channels), None
    except peers.PeerUnavailable as exc:
        return None, str(exc)


def make_step(module, shape, device):
    """One forward + backward of ``module`` on a fixed input: ``step() -> gradients``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device).requires_grad_()
    module = module.to(device)
    inputs = [x, *module.parameters()]
    grad_out = torch.randn(shape, generator=gen).to(device)

    def step():
        return torch.autograd.grad(module(x), inputs, grad_out)

    return step


def cuda_peak_bytes(step) -> int:
    """Memory one step allocates at its peak, beyond what was allocated before it."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def peak_bandwidth(device_name: str) -> float | None:
    for key, value in PEAK_BANDWIDTH:
        if key in device_name:
            return value
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(device: str, shapes, min_run_time: float, rounds: int, threads: int, peers,
        names=None, deadline: float | None = None, on_row=None, compile_at=None) -> list[dict]:
    """Time every implementation at every shape. The implementations take turns, ``rounds`` times,
    and each keeps its fastest round's median: on a shared machine a burst of other work then
    slows one round, not one implementation.

    ``names``: the implementations (default all but ``compiled``); ``deadline``: a
    ``time.monotonic()`` after which the remaining shapes are skipped (recorded as such);
    ``on_row(rows)``: called after each shape (the GPU kit saves its results there);
    ``compile_at``: the shapes at which ``compiled`` runs (default all; each costs a compile)."""
    names = names or [n for n in IMPLEMENTATIONS if n != "compiled"]
    rows = []
    for shape in shapes:
        row, steps = {"device": device, "shape": list(shape)}, {}
        if deadline is not None and time.monotonic() > deadline:
            row["skipped"] = "time budget spent"
            rows.append(row)
            continue
        if device == "cuda":
            row["copy"] = copy_bandwidth(shape, min_run_time)
        for name in names:
            torch.manual_seed(0)
            if name == "compiled" and compile_at is not None and \
                    tuple(shape) not in {tuple(c) for c in compile_at}:
                row[name] = {"missing": "compiled at " + ", ".join(str(tuple(c))
                                                                   for c in compile_at)
                             + " only (each shape costs a compile)"}
                continue
            try:
                module, why = build(name, shape[1], peers)
            except Exception as exc:  # noqa: BLE001 - one implementation that cannot be built
                module, why = None, f"{type(exc).__name__}: {exc}"
            if module is None:
                row[name] = {"missing": why}
                continue
            try:
                steps[name] = make_step(module, shape, device)
                start = time.perf_counter()
                steps[name]()                        # the first call (compiles, if compiled)
                if device == "cuda":
                    torch.cuda.synchronize()
                first = time.perf_counter() - start
                for _ in range(2):                   # warm-up
                    steps[name]()
            except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a compiler
                steps.pop(name, None)
                row[name] = {"missing": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
                continue
            row[name] = {"medians_s": [], "first_call_s": first}
            if device == "cuda":
                row[name]["peak_bytes"] = cuda_peak_bytes(steps[name])
        for _ in range(rounds):
            for name, step in steps.items():
                timer = benchmark.Timer(stmt="step()", globals={"step": step}, num_threads=threads)
                m = timer.blocked_autorange(min_run_time=min_run_time)
                row[name]["medians_s"].append(m.median)
        for name in steps:
            row[name]["median_s"] = min(row[name]["medians_s"])
        rows.append(row)
        steps.clear()
        if device == "cuda":
            torch.cuda.empty_cache()
        if on_row is not None:
            on_row(rows)
    return rows


def copy_bandwidth(shape, min_run_time: float) -> dict:
    """A plain device-to-device copy of an input of ``shape`` (``x.clone()``: one read and one
    write): the bandwidth a simple kernel reaches on this card, measured beside the steps."""
    x = torch.randn(shape, device="cuda")
    timer = benchmark.Timer(stmt="x.clone()", globals={"x": x})
    median = timer.blocked_autorange(min_run_time=min_run_time).median
    return {"median_s": median, "bytes_per_s": 2 * x.nbytes / median}


def kernel_profile(module, shape, device: str, steps: int = 5, top: int = 12) -> dict:
    """The kernels one forward + backward step of ``module`` launches, by time, from
    ``torch.profiler`` over ``steps`` steps: where the time goes."""
    from torch.profiler import ProfilerActivity, profile

    step = make_step(module, shape, device)
    for _ in range(3):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
    rows = []
    for evt in prof.key_averages():
        if device == "cuda":
            own = getattr(evt, "self_device_time_total", None)
            if own is None:                                     # torch before the rename
                own = getattr(evt, "self_cuda_time_total", 0)
        else:
            own = evt.self_cpu_time_total
        if own and own > 0:
            rows.append({"name": evt.key, "calls": evt.count // steps,
                         "us_per_step": own / steps})
    rows.sort(key=lambda r: -r["us_per_step"])
    total = sum(r["us_per_step"] for r in rows)
    for r in rows:
        r["share"] = r["us_per_step"] / total if total else 0.0
    return {"device": device, "shape": list(shape), "steps": steps,
            "kernels_per_step": sum(r["calls"] for r in rows),
            "us_per_step": total, "top": rows[:top]}


def _ms(entry) -> str:
    return "n/a" if "median_s" not in entry else f"{entry['median_s'] * 1e3:.2f}"


def _ratio(row, a: str, b: str) -> float | None:
    if "median_s" in row[a] and "median_s" in row[b]:
        return row[a]["median_s"] / row[b]["median_s"]
    return None


def _fmt(value, spec=".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _mb(entry) -> str:
    return "n/a" if "peak_bytes" not in entry else f"{entry['peak_bytes'] / 2**20:.0f}"


def bandwidth(row: dict, name: str, peak: float | None) -> dict | None:
    """Achieved bandwidth of implementation ``name`` in a CUDA row: ``MIN_PASSES * x.nbytes /
    time``, as a share of the card's peak and of the copy measured in the same run."""
    entry = row.get(name, {})
    if "median_s" not in entry:
        return None
    bw = MIN_PASSES * 4 * torch.Size(row["shape"]).numel() / entry["median_s"]
    copy = row.get("copy", {}).get("bytes_per_s")
    return {"bytes_per_s": bw, "of_peak": bw / peak if peak else None,
            "of_copy": bw / copy if copy else None}


def print_table(rows: list[dict], device: str, device_name: str) -> None:
    print(f"\nforward + backward, float32, {device} ({device_name}); median ms per step")
    timed = [r for r in rows if "skipped" not in r]
    compiled = any("compiled" in r for r in timed)
    head = (f"| {'shape (N, C, H, W)':<20} | {'ref':>7} | {'ref-2b':>7} | {'seed':>7} | {'smp':>7} "
            + (f"| {'compiled':>8} " if compiled else "")
            + f"| {'ref/seed':>8} | {'ref/smp':>7} | {'2b/seed':>7} |")
    print(head)
    print("|" + "|".join("-" * (len(cell)) for cell in head.split("|")[1:-1]) + "|")
    for row in rows:
        if "skipped" in row:
            print(f"| {str(tuple(row['shape'])):<20} | skipped: {row['skipped']}")
            continue
        print(f"| {str(tuple(row['shape'])):<20} | {_ms(row['ref']):>7} | {_ms(row['ref-2b']):>7} "
              f"| {_ms(row['seed']):>7} | {_ms(row['smp']):>7} "
              + (f"| {_ms(row.get('compiled', {})):>8} " if compiled else "")
              + f"| {_fmt(_ratio(row, 'ref', 'seed')):>8} | {_fmt(_ratio(row, 'ref', 'smp')):>7} "
              f"| {_fmt(_ratio(row, 'ref-2b', 'seed')):>7} |")
    rows = timed
    if device == "cpu":
        for peer, aim in AIMS.items():
            ratios = [_ratio(row, "ref", peer) for row in rows]
            if None in ratios:
                print(f"aim ref/{peer} <= {aim}: n/a ({peer} unavailable)")
                continue
            missed = [tuple(r["shape"]) for r, q in zip(rows, ratios) if q > aim]
            verdict = "met at every shape" if not missed else f"missed at {missed}"
            print(f"aim ref/{peer} <= {aim}: {verdict} (worst {max(ratios):.2f})")
    if device == "cuda":
        peak = peak_bandwidth(device_name)
        print(f"\nachieved bandwidth = {MIN_PASSES} x x.nbytes / median time; peak "
              f"{_fmt(peak and peak / 1e12)} TB/s; a copy (x.clone()) in the same run; peak "
              "memory a step allocates, MB")
        for row in rows:
            copy = row.get("copy", {}).get("bytes_per_s")
            cells = [f"copy {_fmt(copy and copy / 1e9, '.0f')} GB/s"]
            for name in IMPLEMENTATIONS:
                entry = row.get(name)
                if entry is None:
                    continue
                bw = bandwidth(row, name, peak)
                if bw is None:
                    cells.append(f"{name} n/a")
                    continue
                share = "n/a" if peak is None else f"{100 * bw['of_peak']:.0f}%"
                cells.append(f"{name} {bw['bytes_per_s'] / 1e9:.0f} GB/s ({share}), "
                             f"{_mb(entry)} MB")
            print(f"  {str(tuple(row['shape'])):<20} " + "; ".join(cells))
        large = [r for r in rows if tuple(r["shape"]) == LARGE_SHAPE]
        if large and peak:
            bw = bandwidth(large[0], "ref", peak)
            if bw is not None:
                met = "met" if bw["of_peak"] >= BANDWIDTH_TARGET else "missed"
                print(f"target: ref at {LARGE_SHAPE} reaches >= {BANDWIDTH_TARGET:.0%} of peak: "
                      f"{met} ({bw['of_peak']:.0%})")


def print_profile(profile: dict) -> None:
    print(f"\nwhere the time of one step of ref goes, {profile['device']}, "
          f"{tuple(profile['shape'])}: {profile['kernels_per_step']} kernels or operators, "
          f"{profile['us_per_step']:.0f} us per step (profiler, {profile['steps']} steps)")
    for r in profile["top"]:
        print(f"  {r['us_per_step']:9.1f} us  {100 * r['share']:5.1f}%  x{r['calls']:<3} "
              f"{r['name'][:90]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {QUICK_SHAPES} and short runs (a smoke test, not a result)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads (default: torch.get_num_threads())")
    parser.add_argument("--min-run-time", type=float, default=None,
                        help="seconds per blocked_autorange (default 1, 0.05 with --quick)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of turns; the fastest median is kept (default 3, 1 --quick)")
    parser.add_argument("--devices", default="cpu,cuda",
                        help="where to run, of cpu and cuda (default both; cuda only if present)")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of the two-branch form on the CPU "
                             "(always on CUDA; compiling takes tens of seconds per shape)")
    parser.add_argument("--profile", action="store_true",
                        help="print the profiler's kernel list of one step of ref at the "
                             "largest shape (always on CUDA)")
    args = parser.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    min_run_time = args.min_run_time or (0.05 if args.quick else 1.0)
    rounds = args.rounds or (1 if args.quick else 3)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    torch.set_num_threads(args.threads)
    peers = load_peers()

    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "smp": peers.peer_version("segmentation-models-pytorch"),
        "quick": args.quick,
        "min_run_time_s": min_run_time,
        "rounds": rounds,
    }
    print(f"scse_ref benchmark, {env['date']}")
    print(f"torch {env['torch']}, python {env['python']}, CPU {env['cpu']}, "
          f"torch threads {env['threads']}, smp {env['smp']}")
    print(f"blocked_autorange {min_run_time} s x {rounds} rounds per implementation and shape; "
          "the fastest round's median is shown")

    results = {"env": env, "rows": []}
    base = [n for n in IMPLEMENTATIONS if n != "compiled"]
    if "cpu" in devices:
        rows = run("cpu", shapes, min_run_time, rounds, args.threads, peers,
                   names=base + (["compiled"] if args.compile else []))
        results["rows"] += rows
        print_table(rows, "cpu", env["cpu"])
        if args.profile:
            results["profile_cpu"] = kernel_profile(scse_ref.SCSE(shapes[-1][1]), shapes[-1],
                                                    "cpu")
            print_profile(results["profile_cpu"])
    if "cuda" in devices and torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        env["gpu"] = name
        env["cuda"] = torch.version.cuda
        gpu_shapes = shapes if args.quick else [*shapes, LARGE_SHAPE]
        rows = run("cuda", gpu_shapes, min_run_time, rounds, args.threads, peers,
                   names=IMPLEMENTATIONS)
        results["rows"] += rows
        print_table(rows, "cuda", name)
        results["profile_cuda"] = kernel_profile(scse_ref.SCSE(gpu_shapes[-1][1]),
                                                 gpu_shapes[-1], "cuda")
        print_profile(results["profile_cuda"])
    elif "cuda" in devices:
        print("\nCUDA: not available (no GPU run; achieved bandwidth n/a)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
