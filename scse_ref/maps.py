"""Reading an attention map as data: which positions it keeps, and how well they cover an object.

A spatial gate (``SpatialSE.gate(x)``, shape ``(N, 1, *spatial)``, values in ``(0, 1)``) is a map
like any other: threshold it and it becomes a mask of the positions it keeps; compare that mask
with an object's mask and the intersection over union says whether the map found the object.
"""
from __future__ import annotations

import numbers

import torch


def _threshold(who: str, threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"{who}: threshold must be a real number, got {threshold!r} "
                        f"({type(threshold).__name__})")
    return float(threshold)


def _gate(who: str, gate, min_ndim: int = 1) -> torch.Tensor:
    if not isinstance(gate, torch.Tensor):
        raise TypeError(f"{who}: gate must be a torch.Tensor, got {type(gate).__name__}")
    if not gate.is_floating_point():
        raise TypeError(f"{who}: gate must be a floating point tensor, got dtype {gate.dtype}")
    if gate.dim() < min_ndim:
        raise ValueError(f"{who}: gate must have at least {min_ndim} dims (N, 1, *spatial), "
                         f"got shape {tuple(gate.shape)}")
    return gate


def kept_mask(gate: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    r"""The positions an attention map keeps: a boolean mask, ``True`` where the gate exceeds
    ``threshold``.

    .. math::
        k_{n,1,s} = \big[\, g_{n,1,s} > t \,\big]

    The comparison is strict: a position whose gate is exactly ``t`` is not kept (with
    :math:`t = 0.5` such a position loses half its value).

    Args:
        gate: an attention map, usually ``SpatialSE.gate(x)`` of shape ``(N, 1, *spatial)``,
            values in ``(0, 1)``; any floating tensor works elementwise.
        threshold: the value a gate must exceed. Default: 0.5.

    Shape:
        - gate: :math:`(N, 1, *)`
        - Output: :math:`(N, 1, *)`, ``torch.bool``

    Examples:
        >>> g = torch.tensor([[[[0.2, 0.5, 0.9]]]])
        >>> kept_mask(g)
        tensor([[[[False, False,  True]]]])
        >>> kept_mask(g, threshold=0.1).sum().item()
        3
    """
    gate = _gate("kept_mask", gate)
    return gate > _threshold("kept_mask", threshold)


def kept_iou(gate: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    r"""Intersection over union, per sample, of the positions a map keeps and an object mask.

    .. math::
        \mathrm{IoU}_n = \frac{|K_n \cap M_n|}{|K_n \cup M_n|}, \qquad
        K_n = \{ s : g_{n,s} > t \}

    where :math:`M_n` is the object's mask of sample :math:`n`. A sample whose union is empty
    (nothing kept, empty mask) has IoU 1: the map and the mask agree that there is nothing.

    Args:
        gate: an attention map of shape ``(N, 1, *spatial)`` (or any ``(N, *)``), floating.
        mask: the object mask, ``torch.bool``, same shape as ``gate``.
        threshold: the value a gate must exceed to keep a position. Default: 0.5.

    Shape:
        - gate, mask: :math:`(N, 1, *)`
        - Output: :math:`(N,)`, in ``gate.dtype``, values in :math:`[0, 1]`

    Examples:
        >>> g = torch.tensor([[[[0.9, 0.8, 0.1, 0.1]]], [[[0.1, 0.1, 0.1, 0.1]]]])
        >>> m = torch.tensor([[[[True, False, False, False]]], [[[False, False, False, False]]]])
        >>> kept_iou(g, m)          # 1 shared position of 2 in the union; nothing vs nothing
        tensor([0.5000, 1.0000])
    """
    gate = _gate("kept_iou", gate, min_ndim=2)
    t = _threshold("kept_iou", threshold)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"kept_iou: mask must be a bool tensor, got {kind}; "
                        "use mask > 0.5 for a 0/1 float mask")
    if mask.shape != gate.shape:
        raise ValueError(f"kept_iou: mask has shape {tuple(mask.shape)}, gate has shape "
                         f"{tuple(gate.shape)}; they must be equal")
    kept = gate > t
    inter = (kept & mask).flatten(1).sum(dim=1)        # (N,) positions in both
    union = (kept | mask).flatten(1).sum(dim=1)        # (N,) positions in either
    # counts are exact in float32 up to 2**24; half precisions would round them
    work = torch.promote_types(gate.dtype, torch.float32)
    iou = inter.to(work) / union.clamp_min(1).to(work)
    return torch.where(union > 0, iou, torch.ones_like(iou)).to(gate.dtype)
