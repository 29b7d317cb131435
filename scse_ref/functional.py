"""Functions of the reference: the squeeze and the rounding of the reduced width."""
from __future__ import annotations

import torch

from ._validate import positive_int, tensor_input


def global_avg_pool(x: torch.Tensor, *, keepdim: bool = False) -> torch.Tensor:
    r"""Global average pooling: the mean of each channel over every spatial position.

    .. math::
        z_{n,c} = \frac{1}{|S|} \sum_{s \in S} x_{n,c,s}

    where :math:`S` is the set of spatial positions (``L``, ``H x W`` or ``D x H x W``).
    This is the *squeeze* of squeeze-and-excitation, and the classifier head of networks
    that replace fully connected layers by one feature map per class.

    Args:
        x: input of shape ``(N, C, *spatial)`` with one or more spatial dims.
        keepdim: if ``True``, keep the spatial dims with size 1: ``(N, C, 1, ..., 1)``.

    Shape:
        - Input: :math:`(N, C, *)` where :math:`*` is one or more spatial dims.
        - Output: :math:`(N, C)`, or :math:`(N, C, 1, ..., 1)` with ``keepdim=True``.

    The output keeps the dtype and device of ``x``; ``x`` is never modified.

    Examples:
        >>> x = torch.arange(8.0).view(1, 2, 2, 2)
        >>> global_avg_pool(x)
        tensor([[1.5000, 5.5000]])
        >>> global_avg_pool(torch.randn(4, 3, 5, 6, 7)).shape
        torch.Size([4, 3])
    """
    tensor_input(x, who="global_avg_pool")
    return _spatial_mean(x, keepdim=keepdim)


def _spatial_mean(x: torch.Tensor, *, keepdim: bool = False) -> torch.Tensor:
    """:func:`global_avg_pool` without its argument check, for modules that checked ``x``."""
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=keepdim)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None,
                   round_limit: float = 0.9) -> int:
    r"""Round ``value`` to the nearest multiple of ``divisor``, as timm's helper of the same name does.

    .. math::
        v' = \max\Big(m, \; d \left\lfloor \frac{v + d/2}{d} \right\rfloor\Big),
        \quad\text{then } v' \mathrel{+}= d \text{ if } v' < \text{round\_limit} \cdot v

    with :math:`m` = ``min_value`` (``divisor`` when not given). Hardware likes widths that are
    multiples of 8; the price is that small values are rounded *up*: ``make_divisible(64 / 16)``
    is 8, not 4.

    Args:
        value: the width to round (for SE: ``channels / reduction``).
        divisor: the multiple to round to.
        min_value: the smallest result; ``divisor`` if ``None``.
        round_limit: if rounding lost more than ``1 - round_limit`` of ``value``, add one ``divisor``.
            timm's SE blocks pass ``0.0`` (never add).

    Examples:
        >>> make_divisible(64 / 16, 8, round_limit=0.0)
        8
        >>> make_divisible(256 / 16, 8, round_limit=0.0)
        16
        >>> make_divisible(36.0, 8)
        40
    """
    divisor = positive_int("divisor", divisor)
    min_value = divisor if min_value is None else positive_int("min_value", min_value)
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def reduced_channels(channels: int, reduction: int = 16, *, divisor: int | None = None) -> int:
    r"""The hidden width of the excitation MLP for ``channels`` inputs and reduction ratio ``reduction``.

    By default the floor of :math:`C / r`, but never less than one unit:

    .. math::
        C_r = \max\left(1, \left\lfloor C / r \right\rfloor\right)

    The guard matters at small :math:`C`: the plain ``channels // reduction`` used by the seed
    tutorial (and by segmentation_models_pytorch) is 0 for any :math:`C < r`, which builds a
    ``Linear(C, 0)`` whose output is empty, so the gate is a constant ``sigmoid(bias)``
    (or the layer fails, depending on the library).

    With ``divisor`` set, the width is rounded as timm's ``SEModule`` does:
    ``make_divisible(C / r, divisor, round_limit=0.0)``, which is at least ``divisor``.

    Args:
        channels: number of input channels :math:`C` (positive int).
        reduction: reduction ratio :math:`r` (positive int).
        divisor: if given, round to a multiple of it (timm parity: ``divisor=8``).

    Examples:
        >>> reduced_channels(64, 16)
        4
        >>> reduced_channels(8, 16)   # the seed's 8 // 16 would be 0
        1
        >>> reduced_channels(64, 16, divisor=8)   # timm's SEModule(64) has 8 hidden units
        8
    """
    channels = positive_int("channels", channels)
    reduction = positive_int("reduction", reduction)
    if divisor is not None:
        return make_divisible(channels / reduction, positive_int("divisor", divisor),
                              round_limit=0.0)
    return max(1, channels // reduction)
