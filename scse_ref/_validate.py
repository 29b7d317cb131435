"""Argument checks shared by the reference modules.

Every check runs before any tensor work and raises with a message that names the argument, the value
given and the value expected, so that a user (or a student comparing against the reference) sees at
once what is wrong.
"""
from __future__ import annotations

import numbers

import torch

LAYOUTS = {3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def positive_int(name: str, value) -> int:
    """Return ``value`` if it is a positive ``int``; raise ``TypeError`` / ``ValueError`` otherwise.

    ``bool`` is refused although it is an ``int`` subclass: ``ChannelSE(True)`` is always a mistake.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def tensor_input(x, *, who: str, channels: int | None = None, ndim: int | None = None,
                 min_ndim: int = 3) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of layout ``(N, C, *spatial)`` for module ``who``.

    ``ndim`` fixes the rank exactly (a 2-D convolution needs 4 dims); otherwise at least ``min_ndim``.
    ``channels`` is the channel count the module was built for.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: x must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(
            f"{who}: x must have {ndim} dims {LAYOUTS.get(ndim, '(N, C, *spatial)')}, "
            f"got {x.dim()} dims, shape {tuple(x.shape)}")
    if ndim is None and x.dim() < min_ndim:
        raise ValueError(
            f"{who}: x must have at least {min_ndim} dims (N, C, *spatial) with one or more "
            f"spatial dims, got {x.dim()} dims, shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who}: x has {x.shape[1]} channels (dim 1 of shape {tuple(x.shape)}), "
            f"the module was built for {channels}")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"{who}: x must be a floating point tensor, got dtype {x.dtype}")
    return x
