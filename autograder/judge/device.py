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

Operations whose output shape depends on the data (``nonzero``, boolean-mask indexing,
``masked_select``, ``unique``, ``bincount``, ``repeat_interleave``) cannot run on the meta device,
and correct code that uses them runs on any GPU. When the meta run fails for that reason (and only
then: :func:`meta_cannot_run`), the same call runs on the simulated device of
:mod:`autograder.wire.devicesim` instead: on the CPU with real data, where tensors created without
``device=``, host transfers, mixed devices and an output off the device are found as on meta.

:func:`gpu_available` is the one place that decides whether the family runs on a GPU;
:func:`simulated` forces the simulation on a machine with a GPU (``bench/gpu_check.py`` compares the
two verdicts).
"""
from __future__ import annotations

import contextlib
import re

import torch

from .verdict import CheckFailed
from .context import Context, close, max_error
from .hints import dtype_mismatch, shape_mismatch
from ..wire import devicesim
from ..wire.protocol import Call

SIMULATED_STEPS = "meta-device run, float64/bfloat16/float16 dtypes, channels_last and strided " \
                  "inputs, attribute scan"

#: What the meta device raises for an operation it cannot run because its result depends on the
#: data, or because it has no meta implementation at all (measured with torch 2.13): nonzero and
#: what uses it (boolean-mask indexing, argwhere, torch.where(cond)) say the first; masked_select,
#: unique, bincount, equal say the second; repeat_interleave the third. Host transfers (.item(),
#: .cpu(), .tolist(), .numpy()) raise other messages, and stay failures.
_META_CANNOT_RUN = re.compile(
    r"data-independent implementation does not exist"
    r"|attempted to run this operator with Meta tensors"
    r"|meta tensor without output_size")

_forced: list[bool] = []


def gpu_available() -> bool:
    """Whether the device family runs on a GPU: CUDA is present and :func:`simulated` is not in
    force. Everything that asks where the family runs asks this function."""
    if _forced:
        return False
    return torch.cuda.is_available()


@contextlib.contextmanager
def simulated():
    """Run the device family as on a machine without a GPU (the simulation), even with CUDA."""
    _forced.append(True)
    try:
        yield
    finally:
        _forced.pop()


def meta_cannot_run(error: dict | None) -> bool:
    """Whether a meta-device run failed only because the meta device cannot run an operation of
    the code (its result depends on the data), not because of a device mistake."""
    return bool(error) and error.get("stage") == "call" and \
        error.get("type") in ("NotImplementedError", "RuntimeError") and \
        bool(_META_CANNOT_RUN.search(error.get("message", "")))


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
    stand_ins = {_meta(ex, ctx, case) for case in cases}
    meta_run = "meta-device run"
    if devicesim.NAME in stand_ins:
        meta_run += " (with data on a simulated device where the meta device cannot run a " \
                    "data-dependent operation)"
    if gpu_available():
        _on_gpu(ex, ctx, cases[0])
        steps = "on the GPU: outputs and gradients against the CPU reference, autocast " \
                f"(float16, bfloat16), and a {meta_run}"
        where = "gpu"
    else:
        steps = "simulated on the CPU (no GPU here): " + \
            SIMULATED_STEPS.replace("meta-device run", meta_run)
        where = "simulated"
    for case in cases:
        _dtypes(ex, ctx, case, "cuda" if where == "gpu" else "cpu")
        _layouts(ex, ctx, case, "cuda" if where == "gpu" else "cpu")
    return f"device: {steps}; all passed", where


def _run(ex, ctx: Context, call: Call, what: str):
    return _tensor_result(ex, ctx.run([call])[0], what)


def _tensor_result(ex, res, what: str):
    """``res`` if it holds a tensor output; the failed check otherwise."""
    if not res.ok:
        raise ex.error_failure(res.error, what, "device")
    if res.meta is None:
        raise CheckFailed(f"{ex.name} returned {type(res.value).__name__} ({what}); expected a "
                          "tensor", "not-a-tensor")
    return res


def _meta(ex, ctx: Context, case) -> str:
    """Run a case on the meta device, or on the simulated device when the meta device cannot run
    it; the output must be on that device and have the reference's shape. Returns the device."""
    probe = ex.probe(ctx, case, torch.float32)
    what = f"running {case.describe(ex.name)} on the meta device (a stand-in for a GPU)"
    res = ctx.run([probe.call(state=None, device="meta")])[0]
    stand_in = "meta"
    if meta_cannot_run(res.error):
        # a data-dependent operation: run it with data, on the simulated device
        what = (f"running {case.describe(ex.name)} on a simulated GPU (on the CPU, with data: "
                "the meta device cannot run its data-dependent operations)")
        stand_in = devicesim.NAME
        res = ctx.run([probe.call(device=devicesim.NAME)])[0]
    res = _tensor_result(ex, res, what)
    with torch.no_grad():
        want = ex_out_shape(ex, probe)
    shape, dtype, device = res.meta[0]
    if device != stand_in:
        raise CheckFailed(
            f"{ex.name}'s output is on {device} although its input was on another device "
            f"({what}): a .cpu() call, or the output built from a CPU tensor (torch.tensor, "
            "torch.zeros without device=x.device). On a GPU this costs a copy and breaks the "
            "next layer.", "device")
    if tuple(shape) != want:
        raise shape_mismatch(what, tuple(shape), want, mistake="device")
    return stand_in


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


def _on_gpu(ex, ctx: Context, case, device: str = "cuda",
            autocast_dtypes: tuple[str, ...] = ("float16", "bfloat16")) -> None:
    """Outputs and gradients on CUDA against the CPU reference, then autocast.

    Gradients are compared only for an exercise with a gradient family whose reference output
    needs them (``kept_iou`` counts positions: its output has none, and asking for a backward
    would fail correct code). ``device`` is ``"cuda"``; the tests run the same logic with the CPU
    standing in for it."""
    probe = ex.probe(ctx, case, torch.float32, grad=True)
    expected = ex.oracle(probe)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    with_grad = "gradient" in ex.families and any(e.requires_grad for e in expected)
    grad_out = want_grads = None
    if with_grad:
        grad_out = [ctx.randn(*e.shape, dtype=torch.float32) for e in expected]
        leaves = [t for t in probe.inputs if t.requires_grad] + list(probe.params.values())
        want_grads = torch.autograd.grad([e for e in expected if e.requires_grad], leaves,
                                         [g for g, e in zip(grad_out, expected)
                                          if e.requires_grad], allow_unused=True)
    what = f"{case.describe(ex.name)} on the GPU"
    res = _run(ex, ctx, probe.call(device=device, grad=grad_out), what)
    if res.meta[0][2].split(":")[0] != device:
        raise CheckFailed(f"{ex.name}'s output is on {res.meta[0][2]} for a GPU input ({what}): "
                          "a .cpu() call or a CPU tensor in forward.", "device")
    if not close(res.out, expected[0].detach(), torch.float32):
        err, _, _ = max_error(res.out, expected[0].detach())
        raise CheckFailed(f"the GPU output differs from the CPU reference ({what}, max abs error "
                          f"{err:.3g})", "device")
    if with_grad:
        got = [g for g, t in zip(res.input_grads or [], probe.inputs) if t.requires_grad]
        got += [(res.param_grads or {}).get(k) for k in probe.params]
        for g, w in zip(got, want_grads):
            if w is None:
                continue
            if g is None or not close(g, w, torch.float32):
                raise CheckFailed(f"gradients on the GPU differ from the CPU reference ({what})",
                                  "device")
    for dtype in autocast_dtypes:
        what = f"{case.describe(ex.name)} under torch.autocast('{device}', {dtype})"
        res = _run(ex, ctx, probe.call(device=device, autocast=dtype), what)
        out = res.out.float()
        ref = expected[0].detach().float()
        if not bool(torch.isfinite(out).all()) or not torch.allclose(out, ref, rtol=5e-2,
                                                                      atol=5e-2):
            err, _, _ = max_error(out, ref)
            raise CheckFailed(f"under autocast the output is far from the float32 reference "
                              f"({what}, max abs error {err:.3g}): a step that overflows in "
                              f"{dtype}, or a cast that fights autocast.", "autocast")
