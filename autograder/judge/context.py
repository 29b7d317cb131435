"""The pieces every check is made of: a context, failures that carry hints, remote functions.

A check runs in a :class:`Context`: the subject (the student's work), the exercise, and a random
generator seeded by the grader. It reaches the student's work only through :meth:`Context.run`.
:class:`RemoteFunction` turns a call into a differentiable torch function of its tensor inputs and
of the weights it loads, so ``torch.autograd.gradcheck`` and reference compositions can use a
student's module without holding it.
"""
from __future__ import annotations

import os
import secrets
from typing import Sequence

import torch

from ..wire.protocol import Call, Result


#: the seed of the visible check in a notebook: every student sees the verdict on the same public
#: inputs and weights; graded checks draw theirs from a fresh, secret seed (:func:`default_seed`)
PUBLIC_SEED = 2024


def default_seed() -> int:
    """The seed of a check run: ``AUTOGRADER_SEED`` if set (tests), otherwise fresh."""
    env = os.environ.get("AUTOGRADER_SEED")
    return int(env) if env else secrets.randbits(62)


class Context:
    """One check family running on one subject.

    Args:
        subject: answers :class:`Call` s (see :mod:`autograder.judge.subjects`).
        name: the name the exercise defines (``"Excitation"``).
        seed: seed of every random draw of this run.
    """

    def __init__(self, subject, name: str, seed: int):
        self.subject = subject
        self.name = name
        self.seed = seed
        self.gen = torch.Generator().manual_seed(seed)
        self.calls = 0

    # --- talking to the subject ---------------------------------------------------------------
    def run(self, calls: Sequence[Call]) -> list[Result]:
        self.calls += len(calls)
        return self.subject.run(list(calls))

    def call(self, **kwargs) -> Result:
        kwargs.setdefault("name", self.name)
        return self.run([Call(**kwargs)])[0]

    # --- random draws -------------------------------------------------------------------------
    def randn(self, *shape, dtype=torch.float32, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float64) * scale).to(dtype)

    def uniform(self, *shape, low: float = 0.0, high: float = 1.0,
                dtype=torch.float32) -> torch.Tensor:
        u = torch.rand(*shape, generator=self.gen, dtype=torch.float64)
        return (low + (high - low) * u).to(dtype)

    def randint(self, low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=self.gen))


class RemoteFunction:
    """A call on the student's work as a differentiable function of tensors.

    ``f = RemoteFunction(ctx, template, param_names)``; ``f(*inputs, *params)`` returns the call's
    outputs for those inputs with those weights loaded; its backward asks the subject for the
    gradients with ``Call.grad``. Works for any subject, so ``gradcheck`` on a student's module in a
    sandboxed kernel is torch's own ``gradcheck``.

    Args:
        ctx: the check context.
        template: the call to repeat; its ``args`` and ``state`` are replaced on each use.
        param_names: the ``state_dict`` keys of the trailing tensor arguments.
    """

    def __init__(self, ctx: Context, template: Call, param_names: Sequence[str] = ()):
        self.ctx = ctx
        self.template = template
        self.param_names = list(param_names)

    def _call(self, tensors, grad=None) -> Result:
        n_in = len(tensors) - len(self.param_names)
        state = dict(zip(self.param_names, (t.detach() for t in tensors[n_in:])))
        base = self.template
        call = Call(**{**base.__dict__, "args": [t.detach() for t in tensors[:n_in]],
                       "state": {**(base.state or {}), **state} if state or base.state else None,
                       "grad": grad})
        result = self.ctx.run([call])[0]
        if not result.ok:
            err = result.error
            raise RemoteError(err["stage"], err["type"], err["message"])
        if result.outputs is None:
            raise RemoteError("output", "TypeError",
                              f"returned {type(result.value).__name__}, expected a tensor")
        return result

    def __call__(self, *tensors: torch.Tensor):
        return _Remote.apply(self, *tensors)


class RemoteError(RuntimeError):
    """The subject raised while a :class:`RemoteFunction` was evaluated."""

    def __init__(self, stage: str, kind: str, message: str):
        super().__init__(f"{kind} during {stage}: {message}")
        self.stage, self.kind, self.detail = stage, kind, message

    @property
    def error(self) -> dict:
        """The ``Result.error`` it was raised for."""
        return {"stage": self.stage, "type": self.kind, "message": self.detail}


class _Remote(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn: RemoteFunction, *tensors):
        result = fn._call(tensors)
        ctx.fn = fn
        ctx.save_for_backward(*tensors)
        outs = result.outputs
        return outs[0] if len(outs) == 1 else tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        fn: RemoteFunction = ctx.fn
        tensors = ctx.saved_tensors
        result = fn._call(tensors, grad=[g.detach() for g in grads])
        n_in = len(tensors) - len(fn.param_names)
        in_grads = list(result.input_grads or [None] * n_in)[:n_in]
        param_grads = [result.param_grads.get(n) if result.param_grads else None
                       for n in fn.param_names]
        out = []
        for t, g in zip(tensors, in_grads + param_grads):
            out.append(None if g is None else g.to(dtype=t.dtype).reshape(t.shape))
        return (None, *out)


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> tuple[float, int, int]:
    """``(max abs error, number of elements off, total)`` with the default float64 view."""
    a = actual.detach().double()
    e = expected.detach().double()
    diff = (a - e).abs()
    diff = torch.where(torch.isnan(a) ^ torch.isnan(e), torch.full_like(diff, float("inf")), diff)
    diff = diff.nan_to_num(nan=0.0)
    return float(diff.max()) if diff.numel() else 0.0, int((diff > 0).sum()), diff.numel()


#: Comparison tolerances per dtype. Float32 parity between correct implementations written in
#: different styles (Linear vs 1x1 conv, sum/HW vs mean) is about 1e-6 relative; wrong code is
#: off by far more. Half precisions are compared with float32 results of the same weights.
TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-9),
    torch.float32: dict(rtol=1e-4, atol=1e-5),
    torch.bfloat16: dict(rtol=3e-2, atol=3e-2),
    torch.float16: dict(rtol=5e-3, atol=5e-3),
}


def close(actual: torch.Tensor, expected: torch.Tensor, dtype=None) -> bool:
    """Whether ``actual`` equals ``expected`` (same shape) within the tolerance of ``dtype``."""
    if actual.shape != expected.shape:
        return False
    tol = TOLERANCES[dtype or expected.dtype]
    return bool(torch.allclose(actual.detach().double(), expected.detach().double(),
                               equal_nan=False, **tol))


def fmt_shape(shape) -> str:
    """``(2, 3)``, and ``(2,)`` for one dim, as Python writes tuples."""
    dims = [str(int(s)) for s in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
