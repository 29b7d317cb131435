"""A simulated GPU on the CPU that runs every operation, data-dependent ones included.

The device family's first stand-in for a GPU is the ``meta`` device: tensors there have shapes and
dtypes but no data, so a tensor created on the CPU inside ``forward``, a ``.cpu()``, ``.item()`` or
``.numpy()`` and an output left on the CPU all fail or land on the wrong device. But operations
whose output shape depends on the data (``nonzero``, boolean-mask indexing ``x[mask]``,
``masked_select``, ``unique``, ``bincount``) cannot run there at all, so correct code that uses
them, and runs on any GPU, would fail. For such code the device family runs this simulation:

- the work runs on the CPU, with real data, under a :class:`~torch.overrides.TorchFunctionMode`;
- the module's parameters and buffers and the inputs are *device tensors*; so is every tensor an
  operation computes from a device tensor, and every tensor created with the device's name;
- to the code, a device tensor looks like a meta tensor (``x.device`` is ``meta``, ``x.is_meta``
  is true), so that ``device=x.device``, ``x.device.type`` and ``x.to(x.device)`` make device
  tensors, while a factory without ``device=`` (``torch.zeros(n)``) or with ``device="cpu"`` makes
  a CPU tensor, as on a GPU;
- what fails on a GPU, or costs a copy to the host there, raises :class:`SimulatedDeviceError`: an
  operation mixing a device tensor with a CPU tensor that is not 0-dim (CPU scalars and CPU index
  tensors are allowed, as on CUDA), ``.cpu()`` / ``.to("cpu")``, ``.item()``, ``.tolist()``,
  ``.numpy()``, ``bool()`` / ``int()`` / ``float()`` of a device tensor, ``torch.equal``, and a
  CPU tensor filled from a device tensor;
- :meth:`DeviceSimulation.on_device` tells whether the output is a device tensor.

It imports only torch and the standard library: a grading kernel loads it with the executor.
"""
from __future__ import annotations

import weakref

import torch
from torch.overrides import TorchFunctionMode

#: the device name a :class:`~autograder.wire.protocol.Call` uses to ask for this simulation,
#: and the device reported for an output that is a device tensor
NAME = "simulated"

#: what the simulated device is called in the code under test
_LOOKS_LIKE = torch.device("meta")


class SimulatedDeviceError(RuntimeError):
    """What fails (or copies to the host) on a GPU, found on the CPU by the simulation."""


def _name(func) -> str:
    owner = getattr(func, "__self__", None)
    if owner is not None and type(owner).__name__ == "getset_descriptor":
        return f"Tensor.{owner.__name__}"
    name = getattr(func, "__name__", None) or repr(func)
    qual = getattr(func, "__qualname__", "") or ""
    return f"Tensor.{name}" if qual.startswith(("TensorBase.", "Tensor.")) else f"torch.{name}"


def _property(func) -> str | None:
    """The name of a tensor property being read or written (``device``, ``data``), else None."""
    owner = getattr(func, "__self__", None)
    if owner is not None and type(owner).__name__ == "getset_descriptor":
        return owner.__name__
    return None


def _tensors(obj, found: list, depth: int = 0) -> list:
    if isinstance(obj, torch.Tensor):
        found.append(obj)
    elif isinstance(obj, (list, tuple)) and depth < 3:
        for item in obj:
            _tensors(item, found, depth + 1)
    elif isinstance(obj, dict) and depth < 3:
        for item in obj.values():
            _tensors(item, found, depth + 1)
    return found


def _device_of(spec) -> torch.device | None:
    if isinstance(spec, torch.device):
        return spec
    if isinstance(spec, str):
        try:
            return torch.device(spec)
        except RuntimeError:
            return None
    if isinstance(spec, int) and not isinstance(spec, bool):
        return torch.device("cuda", spec)
    return None


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ("," if t.dim() == 1 else "") + ")"


#: methods that hand a device tensor's values to Python: a synchronisation and a copy on a GPU
_HOST_READS = {
    "Tensor.item": ".item()", "Tensor.__bool__": "bool() of a tensor (an if or while on it)",
    "Tensor.__int__": "int() of a tensor", "Tensor.__float__": "float() of a tensor",
    "Tensor.__index__": "a tensor used as a Python index", "Tensor.__complex__": "complex()",
    "Tensor.numpy": ".numpy()", "Tensor.__array__": "numpy.asarray()",
    "torch.equal": "torch.equal", "torch.is_nonzero": "torch.is_nonzero",
}
#: methods that copy a device tensor to the CPU
_HOST_COPIES = {"Tensor.cpu": ".cpu()", "Tensor.tolist": ".tolist()"}
#: calls that may mix devices legitimately: indexing with CPU index tensors; copies between devices
_INDEXING = {"Tensor.__getitem__", "Tensor.__setitem__"}


class DeviceSimulation(TorchFunctionMode):
    """The simulation, as a torch function mode: ``with sim: out = fn(*inputs)``.

    Mark the module's tensors and the inputs with :meth:`place` before the call.
    """

    def __init__(self):
        super().__init__()
        self._tagged: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    # --- device tensors -----------------------------------------------------------------------
    def place(self, obj):
        """Mark a tensor, or every parameter and buffer of a module, as on the device."""
        if isinstance(obj, torch.nn.Module):
            for t in [*obj.parameters(), *obj.buffers()]:
                self.place(t)
        elif isinstance(obj, torch.Tensor):
            self._tagged[id(obj)] = obj
        return obj

    def on_device(self, t) -> bool:
        return isinstance(t, torch.Tensor) and self._tagged.get(id(t)) is t

    def _tag_all(self, out):
        for t in _tensors(out, []):
            self.place(t)
        return out

    # --- the mode -----------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        prop = _property(func)
        if prop is not None:
            return self._property(func, prop, args, kwargs)
        name = _name(func)
        if name == "Tensor.to":
            return self._to(func, args, kwargs)
        subject = args[0] if args else None
        if name in _HOST_READS and self._any_on_device(args):
            raise SimulatedDeviceError(
                f"{_HOST_READS[name]} moves data from the simulated device to the host: on a "
                "GPU that is a synchronisation and a copy")
        if name in _HOST_COPIES and self.on_device(subject):
            raise SimulatedDeviceError(
                f"{_HOST_COPIES[name]} copies data out of the simulated device to the CPU")
        if name in ("torch.tensor", "torch.as_tensor", "Tensor.new_tensor") and \
                self._any_on_device(args[1:] if name == "Tensor.new_tensor" else args[:1]):
            raise SimulatedDeviceError(
                f"{name} of device tensors moves data from the simulated device to the host")
        device = self._device_argument(kwargs)
        if name in _INDEXING:
            self._check_indexing(name, args)
        elif name == "Tensor.copy_":
            if not self.on_device(subject) and self.on_device(args[1] if len(args) > 1 else None):
                raise SimulatedDeviceError(
                    "a CPU tensor filled from the simulated device: copies data out of the "
                    "simulated device to the CPU (create it with device=x.device)")
        else:
            self._check_mixing(name, args, kwargs)
        out = func(*args, **kwargs)
        if device is not None:
            if device == "sim":
                self._tag_all(out)
            return out
        if name == "Tensor.__setitem__":
            return out
        if self._any_on_device(args) or self._any_on_device(kwargs):
            self._tag_all(out)
        return out

    def _any_on_device(self, obj) -> bool:
        return any(self.on_device(t) for t in _tensors(obj, []))

    def _device_argument(self, kwargs: dict) -> str | None:
        """``"sim"`` or ``"other"`` for a ``device=`` argument (rewritten to the CPU when it names
        the simulated device), ``None`` when there is none."""
        if kwargs.get("device") is None:
            return None
        dev = _device_of(kwargs["device"])
        if dev is not None and dev.type == _LOOKS_LIKE.type:
            kwargs["device"] = torch.device("cpu")
            return "sim"
        return "other"

    def _property(self, func, prop: str, args, kwargs):
        subject = args[0] if args else None
        if prop == "device" and self.on_device(subject):
            return _LOOKS_LIKE
        if prop == "is_meta" and self.on_device(subject):
            return True
        out = func(*args, **kwargs)
        if prop == "data" and len(args) > 1:           # param.data = t: the param follows t
            if self.on_device(args[1]):
                self.place(subject)
            return out
        if self.on_device(subject) and isinstance(out, torch.Tensor):   # .data, .grad, .T, .mT
            self.place(out)
        return out

    def _to(self, func, args, kwargs):
        """``t.to(device)``, ``t.to(other)``, ``t.to(dtype)``: device tensors stay on the device
        unless sent to the CPU (a copy to the host)."""
        subject = args[0]
        rest = list(args[1:])
        target = None                                   # None: no change of device
        for i, a in enumerate(rest):
            if isinstance(a, torch.Tensor):
                target = "sim" if self.on_device(a) else "cpu"
            elif not isinstance(a, torch.dtype) and _device_of(a) is not None:
                dev = _device_of(a)
                target = "sim" if dev.type == _LOOKS_LIKE.type else dev.type
                if target == "sim":
                    rest[i] = torch.device("cpu")
        if kwargs.get("device") is not None:
            dev = _device_of(kwargs["device"])
            target = "sim" if dev is not None and dev.type == _LOOKS_LIKE.type else \
                (dev.type if dev is not None else None)
            if target == "sim":
                kwargs["device"] = torch.device("cpu")
        if target == "cpu" and self.on_device(subject):
            raise SimulatedDeviceError(
                ".to('cpu') copies data out of the simulated device to the CPU")
        out = func(subject, *rest, **kwargs)
        if target == "sim" or (target is None and self.on_device(subject)):
            self.place(out)
        return out

    def _check_indexing(self, name: str, args) -> None:
        """``x[index]`` and ``x[index] = value``: index tensors may be on the CPU (as on CUDA);
        a CPU tensor indexed by a device tensor, or filled from one, is not."""
        subject = args[0] if args else None
        index = args[1] if len(args) > 1 else None
        if not self.on_device(subject):
            if any(self.on_device(t) and t.dim() > 0 for t in _tensors(index, [])):
                raise SimulatedDeviceError(
                    f"Expected all tensors to be on the same device, but found at least two "
                    f"devices, simulated and cpu: a CPU tensor of shape {_shape(subject)} indexed "
                    "with a device tensor")
            if name == "Tensor.__setitem__" and len(args) > 2 and self.on_device(args[2]):
                raise SimulatedDeviceError(
                    "a CPU tensor filled from the simulated device: copies data out of the "
                    "simulated device to the CPU (create it with device=x.device)")

    def _check_mixing(self, name: str, args, kwargs) -> None:
        tensors = _tensors(args, []) + _tensors(kwargs, [])
        on = [t for t in tensors if self.on_device(t)]
        if not on:
            return
        off = [t for t in tensors if not self.on_device(t) and t.dim() > 0
               and t.device.type == "cpu"]
        if off:
            raise SimulatedDeviceError(
                f"Expected all tensors to be on the same device, but found at least two devices, "
                f"simulated and cpu: {name} got a CPU tensor of shape {_shape(off[0])} (created "
                "without device=x.device, or kept outside the module's parameters and buffers)")
