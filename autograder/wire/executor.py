"""Carry out a :class:`~autograder.wire.protocol.Call` on a student's work and describe what happened.

This is the only code that touches a student's objects. It judges nothing: it builds, loads, runs,
back-propagates and reports, and every exception becomes ``Result.error`` with the stage where it
happened. It imports only torch and the protocol, so that it can run inside a sandboxed kernel.
"""
from __future__ import annotations

import contextlib
import numbers
import sys
import warnings
from typing import Any, Mapping

import torch
from torch import nn

from . import devicesim
from .protocol import Call, Result

_MAX_MESSAGE = 600


def _error(stage: str, exc: BaseException) -> dict:
    message = str(exc)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + " ..."
    return {"stage": stage, "type": type(exc).__name__, "message": message}


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values as ``x`` with the memory layout asked for."""
    if layout == "channels_last" and x.dim() in (4, 5):
        fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        return x.contiguous(memory_format=fmt)
    if layout == "strided" and x.dim() >= 2 and x.shape[-1] > 1 and x.shape[-2] > 1:
        # a non-contiguous tensor whose last two dims cannot be merged by .view
        return x.transpose(-1, -2).contiguous().transpose(-1, -2)
    return x


def _flatten_output(out) -> tuple[list[torch.Tensor] | None, Any]:
    if isinstance(out, numbers.Number) and not isinstance(out, (bool, int, float, complex)):
        out = int(out) if isinstance(out, numbers.Integral) else float(out)  # numpy scalars
    if isinstance(out, torch.Tensor):
        return [out], None
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, torch.Tensor) for o in out):
        return list(out), None
    if isinstance(out, (bool, int, float, str)) or out is None:
        return None, out
    if isinstance(out, (tuple, list)) and all(isinstance(o, (bool, int, float)) for o in out):
        return None, list(out)
    raise TypeError(f"returned a {type(out).__name__}; expected a tensor")


def plain_tensor_attributes(module: nn.Module) -> list[str]:
    """Paths of tensors a module keeps as ordinary attributes, not as parameters or buffers.

    Such tensors do not follow ``.to(device)``, ``.double()`` or ``state_dict()``.
    """
    found = []
    for prefix, sub in module.named_modules():
        for key, value in vars(sub).items():
            if key.startswith("_"):
                continue
            items = value if isinstance(value, (list, tuple)) else [value]
            if isinstance(value, dict):
                items = list(value.values())
            if any(isinstance(v, torch.Tensor) for v in items):
                found.append(f"{prefix}.{key}" if prefix else key)
    return found


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def _classes(obj) -> list[str]:
    """Qualified names of what ``obj`` is made of: a function's own name, or the classes (with
    their bases) of the object and of its sub-modules."""
    if callable(obj) and not isinstance(obj, (type, nn.Module)):
        return [_qualname(obj), _qualname(type(obj))]
    kinds = [type(obj)] if not isinstance(obj, type) else [obj]
    if isinstance(obj, nn.Module):
        kinds += [type(m) for m in obj.modules()]
    names = []
    for kind in kinds:
        for base in getattr(kind, "__mro__", (kind,)):
            name = _qualname(base)
            if name not in names:
                names.append(name)
    return names


class _Tracer:
    """Records ``module.qualname`` of every function of the reference package that runs."""

    PACKAGE = "scse_ref"

    def __init__(self, found: set[str]):
        self.found = found

    def _profile(self, frame, event, arg):
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if module == self.PACKAGE or module.startswith(self.PACKAGE + "."):
                self.found.add(f"{module}.{frame.f_code.co_qualname}")

    def __enter__(self):
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)

    def __exit__(self, *exc):
        sys.setprofile(self.previous)


def _resolve(obj, path: str):
    for attr in filter(None, path.split(".")):
        obj = getattr(obj, attr)
    return obj


def execute(namespace: Mapping[str, Any], call: Call) -> Result:
    """Run ``call`` against the objects in ``namespace``; never raises for the student's errors.

    Warnings raised by the student's code are silenced: nbgrader scores a test cell 0 when it
    writes anything to stderr, and a harmless warning must not cost points.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _execute(namespace, call)


def _execute(namespace: Mapping[str, Any], call: Call) -> Result:
    if call.name not in namespace:
        return Result(error={"stage": "lookup", "type": "NameError",
                             "message": f"{call.name} is not defined"})
    run = _Run(call)
    try:
        run.steps(namespace[call.name])
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of the student's code is reported
        run.result.error = _error(run.stage, exc)
    return run.result


class _Run:
    """One call, carried out step by step. Each step first names its stage (``init``, ``move``,
    ``load``, ``inspect``, ``lookup``, ``call``, ``output``, ``backward``); whatever a step
    raises becomes ``Result.error`` with that stage, in :func:`_execute` alone. The result keeps
    what the steps before the failure reported."""

    def __init__(self, call: Call):
        self.call = call
        self.result = Result()
        self.stage = "init"
        # the simulated device (devicesim) computes on the CPU and tracks which tensors are on it
        self.sim = devicesim.DeviceSimulation() if call.device == devicesim.NAME else None
        self.device = torch.device("cpu" if self.sim is not None else call.device)
        self.runs: list = []    # what each repetition of the call returned

    def steps(self, obj) -> None:
        """Every step the call asks for, in order."""
        call, result = self.call, self.result
        obj = self.build(obj)
        if call.introspect:
            self.inspect(obj)
        if call.args is None:  # no call: report the object itself (a value exercise), or nothing
            if not isinstance(obj, (nn.Module, type)):
                self.stage = "output"
                result.outputs, result.value = _flatten_output(obj)
            return
        inputs = self.inputs()
        before = [a.detach().clone() if isinstance(a, torch.Tensor) and a.device.type != "meta"
                  else None for a in inputs]
        self.stage = "inspect"
        params = dict(obj.named_parameters()) if isinstance(obj, nn.Module) else {}
        self.stage = "lookup"
        fn = _resolve(obj, call.path)
        outputs = self.run(fn, inputs)
        if call.then:
            self.stage = "call"
            result.then_outputs = _then(fn, call, self.device)
        self.stage = "output"
        if call.repeat > 1:
            result.deterministic = all(_same(self.runs[0], r) for r in self.runs[1:])
        result.input_changed = [i for i, (a, b) in enumerate(zip(inputs, before))
                                if b is not None and not _same([a.detach()], [b])]
        if call.grad is not None and outputs is not None:
            self.backward(outputs, inputs, params)
        self.stage = "output"
        if self.device.type != "meta":
            result.outputs = [_host(o) for o in outputs] if outputs is not None else None

    def build(self, obj):
        """Construct, cast, load the weights, move to the device (a module)."""
        call = self.call
        self.stage = "init"
        if call.init is not None:
            args, kwargs = call.init
            obj = obj(*args, **kwargs)
        if isinstance(obj, nn.Module):
            self.stage = "move"
            if call.dtype:
                obj = obj.to(getattr(torch, call.dtype))
            if call.state is not None:
                self.stage = "load"
                obj.load_state_dict(call.state, strict=True)
            if self.device.type != "cpu":
                self.stage = "move"
                obj = obj.to(self.device)
            if self.sim is not None:
                self.sim.place(obj)
        return obj

    def inspect(self, obj) -> None:
        """What the object is made of: classes, parameters, buffers, tensors kept as attributes."""
        self.stage = "inspect"
        result = self.result
        result.classes = _classes(obj)
        if isinstance(obj, nn.Module):
            result.params = {n: [list(p.shape), str(p.dtype).removeprefix("torch."),
                                 p.requires_grad] for n, p in obj.named_parameters()}
            result.buffers = {n: [list(b.shape), str(b.dtype).removeprefix("torch."), False]
                              for n, b in obj.named_buffers()}
            result.plain_tensors = plain_tensor_attributes(obj)

    def _simulated(self):
        """The simulated device's mode while the student's code runs, when the call asks for it."""
        return self.sim if self.sim is not None else contextlib.nullcontext()

    def _where(self, t: torch.Tensor) -> str:
        """The device an output is on, as the call's device names it."""
        if self.sim is not None and self.sim.on_device(t):
            return devicesim.NAME
        return str(t.device)

    def inputs(self) -> list:
        """Copies of the call's inputs on its device, in the layouts asked for (the caller's
        tensors must survive code that modifies its input)."""
        call = self.call
        self.stage = "move"
        layouts = call.layouts or ["contiguous"] * len(call.args)
        inputs = []
        for arg, layout in zip(call.args, layouts):
            if isinstance(arg, torch.Tensor):
                arg = _layout(arg.detach().to(self.device, copy=True), layout)
                if call.grad is not None and arg.is_floating_point():
                    arg = arg.detach().requires_grad_(True)
                if self.sim is not None:
                    self.sim.place(arg)
            inputs.append(arg)
        return inputs

    def run(self, fn, inputs: list) -> list[torch.Tensor] | None:
        """Call ``fn`` (``call.repeat`` times) and report the first run's outputs."""
        call, result = self.call, self.result
        self.stage = "call"
        autocast = (torch.autocast(self.device.type, dtype=getattr(torch, call.autocast))
                    if call.autocast else contextlib.nullcontext())
        traced: set[str] = set()
        tracer = _Tracer(traced) if call.trace else contextlib.nullcontext()
        # callers may be inside an autograd.Function (a RemoteFunction), where grad mode is off
        grad_mode = torch.enable_grad() if call.grad is not None else contextlib.nullcontext()
        outputs = None
        for _ in range(max(1, call.repeat)):
            self.stage = "call"
            with autocast, grad_mode, tracer, self._simulated():
                out = fn(*inputs, **call.kwargs)
            self.stage = "output"
            outputs, value = _flatten_output(out)
            self.runs.append(outputs if outputs is not None else value)
        # report the first run: later runs of code that modifies its input see another input
        outputs, result.value = (self.runs[0], None) if outputs is not None else \
            (None, self.runs[0])
        if outputs is not None:
            result.meta = [[list(o.shape), str(o.dtype).removeprefix("torch."), self._where(o)]
                           for o in outputs]
        if call.trace:
            result.traced = sorted(traced)
        return outputs

    def backward(self, outputs: list[torch.Tensor], inputs: list, params: dict) -> None:
        """Back-propagate ``call.grad``; report the gradients of the inputs and parameters."""
        self.stage = "backward"
        pairs = [(o, g.to(device=o.device, dtype=o.dtype)) for o, g in zip(outputs, self.call.grad)
                 if g is not None]
        if not any(o.requires_grad for o, _ in pairs):
            raise RuntimeError("the output does not require grad: it is not connected to the "
                               "inputs or the parameters by autograd")
        pairs = [(o, g) for o, g in pairs if o.requires_grad]
        with torch.enable_grad():
            torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        self.result.input_grads = [_host(a.grad) if isinstance(a, torch.Tensor) else None
                                   for a in inputs]
        self.result.param_grads = {n: _host(p.grad) for n, p in params.items()}


def _then(fn, call: Call, device: torch.device) -> list[list[torch.Tensor]]:
    """Outputs of ``fn`` on each further argument list of ``call.then``, in order."""
    outs = []
    for args in call.then:
        inputs = [a.detach().to(device, copy=True) if isinstance(a, torch.Tensor) else a
                  for a in args]
        with torch.no_grad():
            flat, _ = _flatten_output(fn(*inputs, **call.kwargs))
        outs.append([_host(o) for o in flat] if flat is not None and device.type != "meta"
                    else [])
    return outs


def _host(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to("cpu").clone()


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.device.type == "meta" or b.device.type == "meta":
            return a.shape == b.shape and a.dtype == b.dtype
        return (a.shape == b.shape and a.dtype == b.dtype
                and bool(torch.equal(a.detach().cpu().nan_to_num(), b.detach().cpu().nan_to_num()))
                and bool(torch.equal(a.detach().cpu().isnan(), b.detach().cpu().isnan())))
    return a == b
