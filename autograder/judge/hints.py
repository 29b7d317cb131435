"""Hints: turning what went wrong into the probable mistake and what to look at.

Two sources of hints:

- :class:`Mistake` s, each a typical wrong implementation written as a variant of the reference
  (max instead of average pooling, softmax instead of sigmoid, ...). When a student's output is
  wrong, the variants are computed on the same inputs and weights; the one the output matches is
  named. Matching outputs is what makes a hint specific without reading the student's code.
- :func:`explain_error`, for exceptions: the stage where the student's code raised and the
  message say what kind of mistake it is.

:func:`shape_mismatch` and :func:`dtype_mismatch` are the one wording of an output of the wrong
shape or dtype, whichever family finds it.

Hints never contain the test's code or its input values; shapes are fine to show.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .context import close, fmt_shape
from .verdict import CheckFailed


@dataclass(frozen=True)
class Mistake:
    """A typical mistake, recognised from the student's output.

    Attributes:
        label: a short id used in reports (``"max-pool"``).
        hint: what the student is told.
        output: computes the output this mistake would give for a probe (``probe -> Tensor``);
            returns ``None`` when the mistake does not apply to that probe.
        test: alternatively, a property of the student's output (``(probe, output) -> bool``).
        families: the families in which this mistake is looked for.
    """

    label: str
    hint: str
    output: Callable | None = None
    test: Callable | None = None
    families: tuple[str, ...] = ("values",)

    def matches(self, probe, actual: torch.Tensor) -> bool:
        try:
            if self.test is not None:
                return bool(self.test(probe, actual))
            with torch.no_grad():
                variant = self.output(probe)
            if variant is None:
                return False
            return variant.shape == actual.shape and close(actual, variant, probe.dtype)
        except Exception:  # noqa: BLE001 - a variant that does not apply is not a match
            return False


def recognise(mistakes, probe, actual: torch.Tensor, family: str = "values") -> Mistake | None:
    """The first mistake of ``mistakes`` that ``actual`` shows, or ``None``."""
    for mistake in mistakes:
        if family in mistake.families and mistake.matches(probe, actual):
            return mistake
    return None


def shape_mismatch(what: str, got: tuple, want: tuple, hint: str | None = None,
                   mistake: str = "shape") -> CheckFailed:
    """The failure for an output of shape ``got`` where the reference gives ``want`` (``hint``:
    the exercise's diagnosis of the difference, if it has one)."""
    return CheckFailed(f"{what}: expected output shape {fmt_shape(want)}, got {fmt_shape(got)}."
                       + (f" {hint}" if hint else ""), mistake)


def dtype_mismatch(what: str, got: torch.dtype | str, want: torch.dtype | str) -> CheckFailed:
    """The failure for an output of dtype ``got`` for an input of dtype ``want``."""
    got, want = (str(d).removeprefix("torch.") for d in (got, want))
    return CheckFailed(f"{what}: the output is {got} for a {want} input; it should keep the "
                       "input's dtype. A hard-coded dtype somewhere (.float(), .double(), "
                       "dtype=torch.float32, a float32 constant tensor)? Follow the input: "
                       "x.dtype, x.new_*, torch.*_like.", "dtype")


_STAGES = {
    "lookup": "looking it up",
    "init": "building it",
    "move": "moving it to another dtype or device",
    "load": "loading weights into it",
    "inspect": "reading its parameters and attributes",
    "call": "running it",
    "output": "reading its output",
    "backward": "back-propagating through it",
}

# (pattern in "Type: message", hint); the first that matches wins. {name} is the exercise's name.
_ERROR_HINTS: list[tuple[str, str]] = [
    (r"item\(\) cannot be called on meta|meta tensors? .*item|"
     r"numpy\(\) on a meta|can't convert meta|on the meta device|"
     r"moves data from the simulated device to the host",
     "{name} moves data to the host inside {where} (.item(), .tolist(), .cpu() or .numpy()): on a "
     "GPU that forces a synchronisation and a copy. Keep the computation in torch, on x's device."),
    (r"Cannot copy out of meta tensor|copies data out of the simulated device",
     "{name} copies data from x's device to the CPU inside {where}: a .cpu() call, or a tensor "
     "created without device=x.device (torch.zeros/empty/ones) that is filled with values computed "
     "from x. On a GPU that costs a copy or fails. Create tensors with device=x.device (or "
     "x.new_zeros, torch.zeros_like) and keep the output on x's device."),
    (r"^NotImplementedError: ?$",
     "{name} is not implemented yet: replace `raise NotImplementedError()` in its cell with your "
     "code, then run the cell."),
    (r"^NameError: (\w+) is not defined",
     "{name} is not defined: run the cell that defines it, and keep the name {name}."),
    (r"^NameError: name '(\w+)' is not defined",
     "{name} uses a name that does not exist in the notebook ({0}): a typo, or a cell that was not "
     "run."),
    (r"Torch not compiled with CUDA|Found no NVIDIA driver|CUDA driver|No CUDA GPUs",
     "{name} asks for the GPU explicitly (.cuda() or device='cuda'): create tensors on the device "
     "of the input (x.device) instead, so the module runs wherever its input is."),
    (r"Expected all tensors to be on the same device|same device|is not on the expected device|"
     r"type \(torch\.cuda\.\w+\) should be the same|type \(torch\.\w+\) and \w+ type "
     r"\(torch\.cuda",
     "{name} mixes devices: a tensor is created inside {where} without device=x.device "
     "(torch.ones/zeros/tensor/arange), or kept as a plain attribute instead of a registered "
     "buffer, so it stays on the CPU when the module moves."),
    (r"Can't call numpy\(\) on Tensor that requires grad",
     "{name} converts a tensor that needs gradients to numpy: that leaves autograd. Use torch "
     "operations only."),
    (r"element 0 of tensors does not require grad|does not require grad",
     "{name}'s output is not connected to autograd: it was detached (.detach(), .data, .item(), "
     "numpy, torch.no_grad() or a new tensor built from values), so no gradient can flow back."),
    (r"a leaf Variable that requires grad is being used in an in-place operation|"
     r"modified by an inplace operation",
     "{name} modifies a tensor in place (x += ..., x.mul_(...), relu_(), ReLU(inplace=True) on the "
     "input): that breaks autograd and changes the caller's tensor. Compute a new tensor instead."),
    (r"expected scalar type|dtype|Double but found Float|Float but found Double|"
     r"BFloat16|Half|Input type \(\w+\) and (bias|weight) type \(\w+\) should be the same",
     "{name} fails for a dtype other than float32: a tensor created with a hard-coded dtype "
     "(dtype=torch.float32, .float()) meets the input's dtype. Use x.dtype / x.new_* / "
     "torch.*_like."),
    (r"view size is not compatible with input tensor's size and stride",
     "{name} calls .view() on a tensor that is not contiguous (a channels_last or strided input): "
     "use .reshape() or .flatten(), which work for any memory layout."),
    (r"Missing key\(s\) in state_dict|Unexpected key\(s\) in state_dict|size mismatch for",
     "{name}'s parameters do not have the names or shapes of the exercise: {detail}"),
    (r"mat1 and mat2 shapes cannot be multiplied|size of tensor a .* must match the size of "
     r"tensor b|shape .* is invalid for input of size|Expected .* to have \d+ channels|"
     r"expected input\[.*\] to have|x must have (at least )?\d+ dims|"
     r"x has \d+ channels \(dim 1",
     "{name} combines tensors whose shapes do not fit ({detail}): print the shape after each step "
     "and compare with the shapes in the exercise text."),
    (r"takes \d+ positional arguments? but \d+ (were|was) given|unexpected keyword argument|"
     r"missing \d+ required positional argument",
     "{name} does not accept the arguments of the exercise: its signature must be {signature}."),
    (r"RecursionError|maximum recursion depth",
     "{name} calls itself without end (e.g. forward calls self(x), or gate calls forward)."),
]


def _state_dict_detail(message: str) -> str | None:
    """The differences ``load_state_dict`` lists, in short: ``fc1.weight is (1, 8) in the
    module, (2, 8) in the exercise; missing: fc1.bias``. ``None`` for other messages."""
    if not message.startswith("Error(s) in loading state_dict"):
        return None

    def shape(text: str) -> str:
        return "(" + text.strip("[]") + ")"

    parts = []
    for line in message.splitlines()[1:]:
        line = line.strip()
        size = re.match(r"size mismatch for ([\w.]+): copying a param with shape "
                        r"torch\.Size\((\[[\d, ]*\])\) from checkpoint, the shape in current "
                        r"model is torch\.Size\((\[[\d, ]*\])\)", line)
        keys = re.match(r"(Missing|Unexpected) key\(s\) in state_dict: (.*?)\.?$", line)
        if size:
            parts.append(f"{size[1]} is {shape(size[3])} in the module, {shape(size[2])} in "
                         "the exercise")
        elif keys:  # "Missing": the module has it and the exercise does not
            names = keys[2].replace('"', "")
            parts.append(f"{'not in the exercise' if keys[1] == 'Missing' else 'missing'}: "
                         f"{names}")
    return "; ".join(parts)[:300] or None


def explain_error(error: dict, name: str, signature: str,
                  specific: Sequence[tuple[str, str]] = (), where: str = "forward") -> str:
    """A hint for an exception raised by the student's code (``Result.error``).

    ``specific`` holds an exercise's own ``(regex, hint)`` pairs, tried first.
    """
    kind, message, stage = error["type"], error["message"], error["stage"]
    text = f"{kind}: {message}"
    detail = _state_dict_detail(message) or (message.splitlines()[0][:200] if message else kind)
    for pattern, hint in [*specific, *_ERROR_HINTS]:
        found = re.search(pattern, text, flags=re.IGNORECASE | re.DOTALL)
        if found:
            return hint.format(*found.groups(), name=name, detail=detail, signature=signature,
                               where=where)
    return (f"{name} raised {kind} while {_STAGES.get(stage, stage)}: {detail}. Read the message; "
            f"the exercise expects {signature}.")
