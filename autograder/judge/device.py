"""The device family: is the student's work correct on a GPU?

With CUDA present, the work runs there for real: outputs and gradients on the GPU against the
reference on the CPU, and under autocast. Without CUDA, the same bug classes are found on the CPU
(measured with torch 2.13.0 on 13 small buggy modules and 7 correct ones: together these caught
all 13 GPU bugs with no false alarm on legal code; the device mutants of ``tests/mutants/`` keep
it so):

- a run on the ``meta`` device: tensors created on the CPU inside ``forward`` (``torch.ones(...)``
  without ``device=``), ``.cpu()`` / ``.numpy()`` / ``.item()`` round trips and an output left on
  the CPU all fail or land on the wrong device;
- a dtype sweep (float64, bfloat16, float16): hard-coded dtypes give outputs of another dtype,
  or fail;
- channels_last and strided (non-contiguous) inputs: ``.view`` on them fails, and index
  arithmetic that assumes contiguity gives wrong numbers;
- a scan for tensors kept as plain attributes rather than parameters or buffers (they do not
  follow ``module.to(device)``).

Hard-coded ``.cuda()`` / ``device="cuda"`` fails on a CPU-only machine in any of these runs. The
verdict says whether it ran on a GPU or was simulated.
"""
from __future__ import annotations

import torch

from .verdict import CheckFailed
from .context import Context, close, max_error
from .hints import dtype_mismatch, shape_mismatch
from ..wire.protocol import Call

SIMULATED_STEPS = "meta-device run, float64/bfloat16/float16 dtypes, channels_last and strided " \
                  "inputs, attribute scan"


def gpu_available() -> bool:
    return torch.cuda.is_available()


def device_cases(ex) -> list:
    """The cases the device family runs: the device case, then every value case, so that a bug in
    one path only (one mode of scSE, the gate method) is run on the device too. Runs on the meta
    device and in other dtypes cost milliseconds."""
    cases = [ex.device_case or ex.value_cases[0]]
    for case in ex.value_cases:
        if case not in cases:
            cases.append(case)
    return cases


def run_device_family(ex, ctx: Context):
    cases = device_cases(ex)
    if ex.kind == "module":
        # first: a tensor kept as a plain attribute is named exactly, where a run only fails
        _attributes(ex, ctx, cases[0])
    # the meta device runs in both cases: on a GPU, .item() in forward only costs a
    # synchronisation and would pass; on meta it fails
    for case in cases:
        _meta(ex, ctx, case)
    if gpu_available():
        _on_gpu(ex, ctx, cases[0])
        steps = "on the GPU: outputs and gradients against the CPU reference, autocast " \
                "(float16, bfloat16), and a meta-device run"
        where = "gpu"
    else:
        steps = f"simulated on the CPU (no GPU here): {SIMULATED_STEPS}"
        where = "simulated"
    for case in cases:
        _dtypes(ex, ctx, case, "cuda" if where == "gpu" else "cpu")
        _layouts(ex, ctx, case, "cuda" if where == "gpu" else "cpu")
    return f"device: {steps}; all passed", where


def _run(ex, ctx: Context, call: Call, what: str):
    res = ctx.run([call])[0]
    if not res.ok:
        raise ex.error_failure(res.error, what, "device")
    if res.meta is None:
        raise CheckFailed(f"{ex.name} returned {type(res.value).__name__} ({what}); expected a "
                          "tensor", "not-a-tensor")
    return res


def _meta(ex, ctx: Context, case) -> None:
    probe = ex.probe(ctx, case, torch.float32)
    what = f"running {case.describe(ex.name)} on the meta device (a stand-in for a GPU)"
    res = _run(ex, ctx, probe.call(state=None, device="meta"), what)
    with torch.no_grad():
        want = ex_out_shape(ex, probe)
    shape, dtype, device = res.meta[0]
    if device != "meta":
        raise CheckFailed(
            f"{ex.name}'s output is on {device} although its input was on another device "
            f"({what}): a .cpu() call, or the output built from a CPU tensor (torch.tensor, "
            "torch.zeros without device=x.device). On a GPU this costs a copy and breaks the "
            "next layer.", "device")
    if tuple(shape) != want:
        raise shape_mismatch(what, tuple(shape), want, mistake="device")


def ex_out_shape(ex, probe) -> tuple:
    out = ex.oracle(probe)
    out = out[0] if isinstance(out, (tuple, list)) else out
    return tuple(out.shape)


def _dtypes(ex, ctx: Context, case, device: str) -> None:
    for dtype in (torch.float64, torch.bfloat16, torch.float16):
        probe = ex.probe(ctx, case, dtype)
        name = str(dtype).removeprefix("torch.")
        what = f"{case.describe(ex.name)} in {name} on {device}"
        res = _run(ex, ctx, probe.call(state=None, device=device), what)
        out_dtype = res.meta[0][1]
        if out_dtype != name:
            raise dtype_mismatch(what, out_dtype, name)
        out = res.out
        if out.is_floating_point() and not bool(torch.isfinite(out.float()).all()):
            raise CheckFailed(f"non-finite values (inf or nan) in {name} ({what}): an overflow "
                              f"(exp of a large number, a constant too large for {name}) or a "
                              "division by zero.", "dtype")


def _layouts(ex, ctx: Context, case, device: str) -> None:
    """channels_last and strided inputs must give what a contiguous input gives."""
    if not case.inputs or len(case.inputs[0]) < 3:
        return
    probe = ex.probe(ctx, case, torch.float32)
    base = _run(ex, ctx, probe.call(device=device), f"{case.describe(ex.name)} on {device}")
    for layout in ("channels_last", "strided"):
        if layout == "channels_last" and len(case.inputs[0]) not in (4, 5):
            continue
        layouts = [layout] + ["contiguous"] * (len(probe.inputs) - 1)
        what = f"{case.describe(ex.name)} with a {layout.replace('_', ' ')} input"
        res = _run(ex, ctx, probe.call(device=device, layouts=layouts), what)
        if res.out.shape != base.out.shape or not close(res.out, base.out, torch.float32):
            err = max_error(res.out, base.out)[0] if res.out.shape == base.out.shape else \
                float("nan")
            raise CheckFailed(
                f"a {layout.replace('_', ' ')} input gives other values than the same input "
                f"stored contiguously ({what}; max abs difference {err:.3g}): the code assumes a "
                "contiguous NCHW tensor (index arithmetic, .view on a permuted tensor, "
                ".data_ptr / .storage tricks). Use shape-based torch operations.", "layout")


def _attributes(ex, ctx: Context, case) -> None:
    res = ctx.run([Call(name=ex.name, init=case.init, args=None, introspect=True)])[0]
    if not res.ok:
        raise ex.error_failure(res.error, mistake="device")
    if res.plain_tensors:
        names = ", ".join(f"self.{p}" for p in res.plain_tensors)
        raise CheckFailed(
            f"{ex.name} keeps tensors as plain attributes ({names}): they do not move with "
            "model.to(device), .cuda() or .double(), and are not saved in state_dict. Register "
            "them with self.register_buffer(name, tensor) (or nn.Parameter if they are learned).",
            "plain-tensor")


def _on_gpu(ex, ctx: Context, case) -> None:
    """Outputs and gradients on CUDA against the CPU reference, then autocast."""
    probe = ex.probe(ctx, case, torch.float32, grad=True)
    expected = ex.oracle(probe)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    grad_out = [ctx.randn(*e.shape, dtype=torch.float32) for e in expected]
    leaves = [t for t in probe.inputs if t.requires_grad] + list(probe.params.values())
    want_grads = torch.autograd.grad(expected, leaves, grad_out, allow_unused=True)
    what = f"{case.describe(ex.name)} on the GPU"
    res = _run(ex, ctx, probe.call(device="cuda", grad=grad_out), what)
    if res.meta[0][2].split(":")[0] != "cuda":
        raise CheckFailed(f"{ex.name}'s output is on {res.meta[0][2]} for a GPU input ({what}): "
                          "a .cpu() call or a CPU tensor in forward.", "device")
    if not close(res.out, expected[0].detach(), torch.float32):
        err, _, _ = max_error(res.out, expected[0].detach())
        raise CheckFailed(f"the GPU output differs from the CPU reference ({what}, max abs error "
                          f"{err:.3g})", "device")
    got = [g for g, t in zip(res.input_grads or [], probe.inputs) if t.requires_grad]
    got += [(res.param_grads or {}).get(k) for k in probe.params]
    for g, w in zip(got, want_grads):
        if w is None:
            continue
        if g is None or not close(g, w, torch.float32):
            raise CheckFailed(f"gradients on the GPU differ from the CPU reference ({what})",
                              "device")
    for dtype in ("float16", "bfloat16"):
        what = f"{case.describe(ex.name)} under torch.autocast('cuda', {dtype})"
        res = _run(ex, ctx, probe.call(device="cuda", autocast=dtype), what)
        out = res.out.float()
        ref = expected[0].detach().float()
        if not bool(torch.isfinite(out).all()) or not torch.allclose(out, ref, rtol=5e-2,
                                                                      atol=5e-2):
            err, _, _ = max_error(out, ref)
            raise CheckFailed(f"under autocast the output is far from the float32 reference "
                              f"({what}, max abs error {err:.3g}): a step that overflows in "
                              f"{dtype}, or a cast that fights autocast.", "autocast")
