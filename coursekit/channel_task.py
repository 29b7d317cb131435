r"""A segmentation task where attention helps by construction (lesson 05 of the course).

Every image has ``C`` channels, and every channel shows a few bright shapes. In each image **one**
channel, chosen at random, is the *informative* one: the target mask is its shapes; the shapes of
the other channels are distractors. Each channel is normalised to zero mean over the image, and
then the informative channel is raised by a constant ``offset``. So the squeeze of channel-SE,
the channel's mean, is exactly ``offset`` on the informative channel and exactly 0 on the others:
a gate that reads the squeeze can tell which channel to keep.

A U-Net without such a gate cannot read that constant. Its first operation is a convolution,
linear in the channels, so a constant added to a channel adds a constant to every feature map,
and the instance normalisation right after it subtracts each map's mean, constant included.
Only a frame one pixel wide keeps a trace of it, where the zero padding cuts the 3x3 window.
Attention *inside* the U-Net's blocks (``TinyUNet(attention="scse")``) comes after that
normalisation and cannot read it either. :class:`InputGateUNet` puts a channel-SE gate on the
input, before the first convolution.

>>> images, masks, informative = channel_choice_segmentation(8, size=32, channels=4, seed=0)
>>> images.shape, masks.shape, informative.shape
(torch.Size([8, 4, 32, 32]), torch.Size([8, 1, 32, 32]), torch.Size([8]))
>>> means = images.mean(dim=(2, 3))                   # what a squeeze reads
>>> bool(torch.allclose(means, 2.0 * torch.nn.functional.one_hot(informative, 4).float(),
...                     atol=1e-5))
True
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scse_ref import SCSE, ChannelSE, SpatialSE, TinyUNet


def _shapes(n: int, size: int, g: torch.Generator, count: tuple[int, int],
            radius: tuple[float, float]) -> torch.Tensor:
    """``n`` boolean masks ``(n, size, size)`` of ``count[0]`` to ``count[1]`` discs and squares."""
    rows = torch.arange(size, dtype=torch.float32).view(1, -1, 1)
    cols = torch.arange(size, dtype=torch.float32).view(1, 1, -1)
    how_many = torch.randint(count[0], count[1] + 1, (n,), generator=g)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for j in range(count[1]):
        r = size * (radius[0] + (radius[1] - radius[0]) * torch.rand(n, 1, 1, generator=g))
        cy, cx = (r + (size - 2 * r) * torch.rand(n, 1, 1, generator=g) for _ in range(2))
        square = torch.rand(n, 1, 1, generator=g) < 0.5
        dy, dx = rows - cy, cols - cx
        shape = torch.where(square, (dy.abs() <= r) & (dx.abs() <= r), dy ** 2 + dx ** 2 <= r ** 2)
        masks |= shape & (j < how_many).view(n, 1, 1)
    return masks


def channel_choice_segmentation(n: int, size: int = 32, channels: int = 4, *, seed: int = 0,
                                offset: float = 2.0, noise: float = 0.5,
                                count: tuple[int, int] = (1, 3),
                                radius: tuple[float, float] = (1 / 10, 1 / 6),
                                with_shapes: bool = False) -> tuple[torch.Tensor, ...]:
    """``n`` images of ``channels`` channels where the channel that matters changes from image to
    image.

    Channel ``c`` of image ``i`` holds its own ``count`` discs and squares (value 1, radius or half
    side between ``radius[0] * size`` and ``radius[1] * size``) on smooth noise of std ``noise``,
    normalised to zero mean over the image; channel ``informative[i]`` is then raised by
    ``offset``. The mask is the shapes of the informative channel only.

    Returns ``(images (n, channels, size, size), masks (n, 1, size, size) float in {0, 1},
    informative (n,) int64)``, and with ``with_shapes`` also the shapes of every channel
    ``(n, channels, size, size)`` (the distractors included). One batched computation:
    milliseconds for a thousand images.
    """
    if channels < 2:
        raise ValueError(f"channels must be at least 2 (one to choose among others), got {channels}")
    g = torch.Generator().manual_seed(seed)
    informative = torch.randint(channels, (n,), generator=g)
    shapes = _shapes(n * channels, size, g, count, radius).view(n, channels, size, size).float()
    smooth = 3
    tex = F.avg_pool2d(torch.randn(n * channels, 1, size + smooth - 1, size + smooth - 1,
                                   generator=g), smooth, stride=1)
    tex = (tex / tex.std(dim=(2, 3), keepdim=True).clamp_min(1e-8)).view(n, channels, size, size)
    images = shapes + noise * tex
    images = images - images.mean(dim=(2, 3), keepdim=True)
    images = images + offset * F.one_hot(informative, channels).float().view(n, channels, 1, 1)
    masks = shapes[torch.arange(n), informative].unsqueeze(1)
    return (images, masks, informative, shapes) if with_shapes else (images, masks, informative)


class InputGateUNet(nn.Module):
    r"""A :class:`~scse_ref.TinyUNet` behind a channel-SE gate on its input channels.

    .. math::
        y = \text{U-Net}\big(x \odot g(x)\big), \qquad g(x) = \text{ChannelSE.gate}(x)
        \in (0, 1)^{N \times C \times 1 \times 1}

    The gate reads each input channel's mean before the U-Net's first convolution and instance
    normalisation. ``reduction=1``: with a handful of input channels the excitation keeps all of
    them as hidden units.

    Args:
        channels: input channels :math:`C`.
        attention: the unit every U-Net block ends with (``"none"``, ``"cse"``, ``"sse"``,
            ``"scse"``). Default: ``"scse"``.

    Examples:
        >>> net = InputGateUNet(4)
        >>> net(torch.randn(2, 4, 32, 32)).shape, net.gate.gate(torch.randn(2, 4, 32, 32)).shape
        (torch.Size([2, 1, 32, 32]), torch.Size([2, 4, 1, 1]))
    """

    def __init__(self, channels: int, attention: str = "scse"):
        super().__init__()
        self.gate = ChannelSE(channels, reduction=1)
        self.unet = TinyUNet(in_channels=channels, attention=attention)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(self.gate(x))


@torch.no_grad()
def channel_gates(model: InputGateUNet, images: torch.Tensor) -> torch.Tensor:
    """The input gate of each image and channel, ``(N, C)``."""
    return model.gate.gate(images).flatten(1)


@torch.no_grad()
def sse_maps(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The spatial gate of every sSE or scSE unit of ``model`` on ``images``: unit name ->
    ``(N, 1, h, w)``, at the resolution of the unit's level. Read with forward hooks on the
    units' inputs (the fused scSE never calls its ``sse`` branch's ``forward``)."""
    maps, hooks = {}, []
    for name, unit in model.named_modules():
        if isinstance(unit, (SCSE, SpatialSE)):
            sse = unit.sse if isinstance(unit, SCSE) else unit

            def hook(module, inputs, output, name=name, sse=sse):
                maps[name] = sse.gate(inputs[0])
            hooks.append(unit.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(images)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return maps


def plot_channel_gates(gates: torch.Tensor, informative: torch.Tensor, *, show: int = 24):
    """Left: the input gates of ``show`` images (one row each, one column per channel), the
    informative channel circled. Right: the mean gate of each channel (columns) over the images
    whose informative channel is each row's: a channel's gate is high where the channel is the
    one to keep, if the diagonal stands out in its column."""
    import matplotlib.pyplot as plt

    gates, informative = gates.detach().cpu(), informative.detach().cpu()
    c = gates.shape[1]
    table = torch.stack([gates[informative == i].mean(0) for i in range(c)])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), gridspec_kw={"width_ratios": [1, 1.2]})
    ax = axes[0]
    rows = min(show, len(gates))
    ax.imshow(gates[:rows].numpy(), cmap="magma", vmin=0, vmax=1, aspect="auto")
    ax.scatter(informative[:rows].numpy(), range(rows), s=70, facecolors="none", edgecolors="cyan",
               linewidths=1.5, label="informative channel")
    ax.set_xticks(range(c))
    ax.set_xlabel("channel")
    ax.set_ylabel("test image")
    ax.set_title("gate per image and channel")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8)
    ax = axes[1]
    image = ax.imshow(table.numpy(), cmap="magma", vmin=0, vmax=1)
    for i in range(c):
        for j in range(c):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if table[i, j] < 0.6 else "black")
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xlabel("gate of channel")
    ax.set_ylabel("informative channel of the image")
    ax.set_title("mean gate")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def plot_sse_maps(images: torch.Tensor, masks: torch.Tensor, informative: torch.Tensor,
                  maps: dict[str, torch.Tensor], *, units: Sequence[str] | None = None,
                  overlay: str | None = None, count: int = 4):
    """One row per image: its informative channel, the other channels (their maximum), the
    target mask, then the spatial gate of each of ``units`` (names from :func:`sse_maps`; every
    unit by default) on the unit's own grid, and the map of ``overlay`` (the last unit by
    default) drawn over the informative channel, the mask's outline in cyan."""
    import matplotlib.pyplot as plt

    units = list(maps) if units is None else list(units)
    overlay = units[-1] if overlay is None else overlay
    n = min(count, len(images))
    cols = 3 + len(units) + 1
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols, 2.0 * n), squeeze=False)
    for i in range(n):
        k = int(informative[i])
        others = torch.cat([images[i, :k], images[i, k + 1:]]).amax(dim=0)
        panels = [(images[i, k], f"informative: ch {k}", "gray", None),
                  (others, "the other channels", "gray", None),
                  (masks[i, 0], "target mask", "gray", None)]
        panels += [(maps[u][i, 0], u.replace(".attention", ""), "magma", (0, 1)) for u in units]
        for ax, (data, title, cmap, lim) in zip(axes[i], panels):
            ax.imshow(data.detach().cpu().numpy(), cmap=cmap, vmin=lim[0] if lim else None,
                      vmax=lim[1] if lim else None)
            ax.set_title(title, fontsize=8)
        up = F.interpolate(maps[overlay][i:i + 1], size=images.shape[-2:], mode="nearest")[0, 0]
        ax = axes[i, -1]
        ax.imshow(images[i, k].detach().cpu().numpy(), cmap="gray")
        ax.imshow(up.detach().cpu().numpy(), cmap="magma", alpha=0.5, vmin=0, vmax=1)
        ax.contour(masks[i, 0].detach().cpu().numpy(), levels=[0.5], colors="cyan",
                   linewidths=0.8)
        ax.set_title(f"{overlay.replace('.attention', '')}\nover input, mask", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig
