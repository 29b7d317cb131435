"""What a check may ask of a student's work, and what it gets back.

Checks never hold a student's object. They send :class:`Call` requests ("build this with these
arguments, load these weights, run this method on these inputs, back-propagate this gradient") and
read :class:`Result` answers. The same checks therefore run in two places: in the student's own
kernel (visible tests, nbgrader's in-kernel autograde, ``python -m autograder check``), where a
:class:`~autograder.judge.subjects.LocalSubject` executes the calls directly, and in a grader process that
never executes student code, which sends the calls to a sandboxed kernel.

Both types hold only tensors, numbers, strings and containers of them, so that they can be encoded
without pickle (see :func:`encode` / :func:`decode`: JSON plus safetensors).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

#: How an input tensor is laid out in memory when the student's code receives it.
LAYOUTS = ("contiguous", "channels_last", "strided")


@dataclass
class Call:
    """One request to the student's work.

    Attributes:
        name: the name the exercise defines in the notebook (``"Excitation"``).
        init: ``(args, kwargs)`` to construct ``name`` with, or ``None`` to use it as it is
            (a function, or a value).
        state: weights to load with ``load_state_dict(strict=True)`` after any dtype cast.
        path: attribute path of what to call on the built object: ``""`` (the object itself),
            ``"gate"``, ``"excitation"``, ``"cse.gate"``.
        args: positional inputs; ``None`` means "do not call, return the object's value".
        kwargs: keyword inputs (scalars only).
        dtype: cast a module's parameters to this dtype (``"float64"``) before loading weights.
        device: run on ``"cpu"``, ``"meta"``, ``"cuda"``, or ``"simulated"``: on the CPU, with
            data, under :mod:`.devicesim`'s stand-in for a GPU (for code the meta device cannot
            run).
        layouts: one entry of :data:`LAYOUTS` per tensor input (default contiguous).
        grad: gradients of the outputs: if given, back-propagate them and return the gradients
            of every floating input and every parameter.
        autocast: an autocast dtype (``"bfloat16"``) to run the call under, on its device.
        introspect: also report parameters, buffers and tensors kept as plain attributes.
        repeat: run the call this many times and report whether every output was identical.
        trace: report which functions of the reference package (scse_ref) ran during the call.
        then: further argument lists, run in order on the SAME built object after ``args``:
            state kept between calls (a cached gate) shows in their outputs.
    """

    name: str
    init: tuple[list, dict] | None = None
    state: dict[str, torch.Tensor] | None = None
    path: str = ""
    args: list | None = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    dtype: str | None = None
    device: str = "cpu"
    layouts: list[str] | None = None
    grad: list[torch.Tensor] | None = None
    autocast: str | None = None
    introspect: bool = False
    repeat: int = 1
    trace: bool = False
    then: list[list] | None = None


@dataclass
class Result:
    """The answer to a :class:`Call`.

    Attributes:
        error: ``None``, or ``{"stage", "type", "message"}`` where stage is one of ``lookup``,
            ``init``, ``move``, ``load``, ``inspect``, ``call``, ``output``, ``backward``.
        outputs: the output tensors (on the CPU), flattened from a tensor, tuple or list.
        value: the output when it is not a tensor: a number, a bool, a string, a list of numbers.
        meta: ``[shape, dtype, device]`` of each output as produced (before moving to the CPU).
        input_grads: gradient of each input (``None`` where it got none).
        param_grads: gradient of each named parameter (``None`` where it got none).
        params / buffers: ``name -> [shape, dtype, requires_grad]`` of the built module.
        plain_tensors: attribute paths of tensors kept outside parameters and buffers.
        classes: qualified names of the built object's class and its modules' classes (with MRO).
        input_changed: indices of inputs that the call modified in place.
        deterministic: with ``repeat > 1``, whether every repetition gave identical outputs.
        traced: with ``trace``, ``module.qualname`` of the reference functions that ran.
        then_outputs: with ``then``, the output tensors of each further call.
    """

    error: dict | None = None
    outputs: list[torch.Tensor] | None = None
    value: Any = None
    meta: list | None = None
    input_grads: list[torch.Tensor | None] | None = None
    param_grads: dict[str, torch.Tensor | None] | None = None
    params: dict[str, list] | None = None
    buffers: dict[str, list] | None = None
    plain_tensors: list[str] | None = None
    classes: list[str] | None = None
    input_changed: list[int] = field(default_factory=list)
    deterministic: bool | None = None
    traced: list[str] | None = None
    then_outputs: list[list[torch.Tensor]] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def out(self) -> torch.Tensor:
        """The single output tensor (``outputs[0]``)."""
        return self.outputs[0]


# --- encoding without pickle --------------------------------------------------------------------

_TENSOR = "__tensor__"


def _split(obj, tensors: dict[str, torch.Tensor]):
    """Replace every tensor in ``obj`` by a reference into ``tensors`` (a JSON-able skeleton)."""
    if isinstance(obj, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = obj.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        return {"__dict__": [[_split(k, tensors), _split(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split(v, tensors) for v in obj], "tuple": isinstance(obj, tuple)}
    if isinstance(obj, torch.dtype):
        return {"__dtype__": str(obj).removeprefix("torch.")}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot encode a {type(obj).__name__}")


def _join(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if "__dict__" in obj:
            return {_join(k, tensors): _join(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
        if "__dtype__" in obj:
            return getattr(torch, obj["__dtype__"])
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def encode(message: Call | Result) -> tuple[str, bytes]:
    """``(json_text, safetensors_bytes)`` for a call or a result: no pickle anywhere."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    skeleton = {"type": type(message).__name__, "body": _split(asdict(message), tensors)}
    return json.dumps(skeleton), save(tensors) if tensors else b""


def decode(text: str, blob: bytes, *, max_bytes: int | None = None) -> Call | Result:
    """Inverse of :func:`encode`. ``max_bytes`` refuses oversized tensor payloads before parsing."""
    from safetensors.torch import load

    if max_bytes is not None and len(blob) > max_bytes:
        raise ValueError(f"payload of {len(blob)} bytes is over the limit of {max_bytes}")
    skeleton = json.loads(text)
    kinds = {"Call": Call, "Result": Result}
    if skeleton.get("type") not in kinds:
        raise ValueError(f"unknown message type {skeleton.get('type')!r}")
    tensors = load(blob) if blob else {}
    body = _join(skeleton["body"], tensors)
    if not isinstance(body, dict):
        raise ValueError("malformed message body")
    if body.get("init") is not None:
        body["init"] = tuple(body["init"])
    return kinds[skeleton["type"]](**body)
