"""The fused scSE "add" path: fewer passes over the full ``(N, C, *spatial)`` tensor.

The two-branch form ``x * gate_c + x * gate_s`` writes three full-size tensors in the forward pass
(two products and their sum) and autograd keeps two of them. Since
``x * gate_c + x * gate_s = x * (gate_c + gate_s)``, one product suffices. Two autograd functions
do the full-size work by hand, and everything small (the excitation MLP on ``(N, C)``, the spatial
gate's activation on ``(N, 1, *spatial)``) stays in ordinary autograd, so any activation or gate
layer works:

- :class:`Squeeze` computes both squeezes of ``x``: the channel means ``(N, C)`` and the channel
  sum weighted by the spatial 1x1 convolution ``(N, 1, *spatial)``. Its backward writes the gradient
  of ``x`` with one fused ``addcmul`` instead of two full-size tensors.
- :class:`ScaleAdd` computes ``x * (gate_c + gate_s)`` into one output buffer that keeps the memory
  format of ``x`` (channels_last stays channels_last) and saves nothing of full size but ``x``.

Both backward passes are differentiable when a graph of the gradient is asked for
(``create_graph=True``: gradient penalties, double backward); otherwise they write into reused
buffers.

``bench/bench_scse.py`` measures this path against the two-branch form, the seed's module and
segmentation_models_pytorch's ``SCSEModule``.
"""
from __future__ import annotations

import math

import torch
from torch.autograd import Function


def _spatial_dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


def _length(x: torch.Tensor) -> int:
    """The number of spatial positions, spelled out: a reshape cannot infer ``-1`` at N = 0."""
    return math.prod(x.shape[2:])


def _channels_last_view(x: torch.Tensor) -> torch.Tensor | None:
    """``x`` as ``(N, L, C)`` without a copy when it is channels_last in memory, else ``None``."""
    xt = x.movedim(1, -1)
    return xt.view(x.shape[0], _length(x), x.shape[1]) if xt.is_contiguous() else None


def _channel_sum(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``sum_c w_c x[:, c]``: ``(N, C, *spatial), (C,) -> (N, 1, *spatial)`` as one matrix product.

    A batched product on a view of ``x`` reads ``x`` once; ``einsum`` would first copy it.
    """
    n, c = x.shape[:2]
    out_shape = (n, 1, *x.shape[2:])
    nlc = None if x.is_contiguous() else _channels_last_view(x)
    if nlc is not None:                                   # (N, L, C) @ (C, 1) -> (N, L, 1)
        return torch.matmul(nlc, w.view(c, 1)).view(out_shape)
    # (N, 1, C) @ (N, C, L) -> (N, 1, L); the expanded w costs nothing
    return torch.bmm(w.view(1, 1, c).expand(n, 1, c), x.reshape(n, c, _length(x))).view(out_shape)


def _channel_weight_grad(x: torch.Tensor, grad_s: torch.Tensor) -> torch.Tensor:
    """``sum_{n,s} x[n, c, s] * grad_s[n, 0, s]``: the gradient of :func:`_channel_sum` wrt ``w``.

    Computed as ``(N, 1, L) @ (N, L, C)``; the other order, ``(N, C, L) @ (N, L, 1)``, measured ten
    times slower on the CPU.
    """
    n, c = x.shape[:2]
    g = grad_s.reshape(n, 1, _length(x))                  # (N, 1, L)
    nlc = None if x.is_contiguous() else _channels_last_view(x)
    if nlc is None:
        nlc = x.reshape(n, c, _length(x)).transpose(1, 2)  # a view: (N, L, C)
    return torch.bmm(g, nlc).sum(0).view(c)


class Squeeze(Function):
    """``(x, w) -> (mean of x over space: (N, C), sum_c w_c x_c: (N, 1, *spatial))``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor):
        # weight: the spatial conv's (1, C, 1, ..., 1) kernel, seen as (C,)
        z = x.mean(dim=_spatial_dims(x))
        s = _channel_sum(x, weight.reshape(-1))
        ctx.save_for_backward(x, weight)
        return z, s

    @staticmethod
    def backward(ctx, grad_z: torch.Tensor, grad_s: torch.Tensor):
        x, weight = ctx.saved_tensors
        w = weight.reshape(-1)
        n, c = x.shape[:2]
        ones = (1,) * (x.dim() - 2)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            # d/dx = grad_z / |S| (broadcast over space) + w_c * grad_s (broadcast over channels)
            scaled = (grad_z / _length(x)).view(n, c, *ones)
            if torch.is_grad_enabled():   # create_graph=True: stay differentiable
                grad_x = w.view(1, c, *ones) * grad_s + scaled
            else:
                # (a broadcasting addcmul is several times slower on the CPU than mul + add_)
                grad_x = torch.empty_like(x)
                torch.mul(w.view(1, c, *ones), grad_s, out=grad_x)
                grad_x.add_(scaled)
        if ctx.needs_input_grad[1]:
            grad_w = _channel_weight_grad(x, grad_s).view(weight.shape)
        return grad_x, grad_w


class ScaleAdd(Function):
    """``(x, gate_c: (N, C, 1, ..., 1), gate_s: (N, 1, *spatial)) -> x * (gate_c + gate_s)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gate_c: torch.Tensor, gate_s: torch.Tensor):
        out = torch.empty_like(x)  # keeps the memory format of x
        torch.add(gate_c, gate_s, out=out)
        out.mul_(x)
        ctx.save_for_backward(x, gate_c, gate_s)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, gate_c, gate_s = ctx.saved_tensors
        grad_x = grad_c = grad_s = None
        buffer = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            buffer = grad * x                        # d out / d gate, before the reductions
            if ctx.needs_input_grad[1]:
                grad_c = buffer.sum(dim=_spatial_dims(x), keepdim=True)
            if ctx.needs_input_grad[2]:
                grad_s = buffer.sum(dim=1, keepdim=True)
        if ctx.needs_input_grad[0]:
            if torch.is_grad_enabled():   # create_graph=True: stay differentiable
                grad_x = grad * (gate_c + gate_s)
            else:
                # reuse the buffer: a fresh full-size allocation costs page faults on the CPU
                grad_x = torch.empty_like(x) if buffer is None else buffer
                torch.add(gate_c, gate_s, out=grad_x)
                grad_x.mul_(grad)
        return grad_x, grad_c, grad_s
