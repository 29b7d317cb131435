"""Plots the lessons share (matplotlib). Each returns the figure so a notebook can save it."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

from .data import grid_shape


def show_maps(maps: torch.Tensor, *, titles: Sequence[str] | None = None, ncols: int = 8,
              cmap: str = "viridis", size: float = 1.8, suptitle: str | None = None):
    """A grid of 2-D maps ``(K, H, W)`` (feature maps, attention maps, images)."""
    maps = maps.detach().cpu()
    rows, cols = grid_shape(len(maps), ncols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(maps):
            ax.imshow(maps[i], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def bars(values: torch.Tensor, *, labels: Sequence[str] | None = None, title: str = "",
         ylabel: str = "", ylim: tuple[float, float] | None = None, color: str = "tab:blue"):
    """A bar chart of one value per item (channel weights, GAP values)."""
    values = values.detach().cpu().flatten()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(values) + 1.5), 3))
    ax.bar(range(len(values)), values, color=color)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels if labels is not None else [str(i) for i in range(len(values))],
                       fontsize=8)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def overlay(image: torch.Tensor, attention: torch.Tensor, *, title: str = "", alpha: float = 0.5):
    """An image ``(H, W)`` with an attention map ``(H, W)`` in (0, 1) drawn over it."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax, data, name, cmap in ((axes[0], image, "input", "gray"),
                                 (axes[1], attention, "attention", "magma")):
        ax.imshow(data.detach().cpu(), cmap=cmap)
        ax.set_title(name)
        ax.axis("off")
    axes[2].imshow(image.detach().cpu(), cmap="gray")
    axes[2].imshow(attention.detach().cpu(), cmap="magma", alpha=alpha, vmin=0, vmax=1)
    axes[2].set_title("overlay")
    axes[2].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves(xs: Sequence[float], series: dict[str, Sequence[float]], *, xlabel: str = "",
           ylabel: str = "", title: str = "", logx: bool = False, logy: bool = False):
    """Lines of several named series against the same x values."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, ys in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def heatmaps(panels: dict[str, torch.Tensor], *,
             extent: tuple[float, float, float, float] = (0, 1, 0, 1), xlabel: str = "",
             ylabel: str = "", vmin: float | None = None, vmax: float | None = None,
             cmap: str = "magma", suptitle: str | None = None):
    """Side-by-side heatmaps of functions of two variables, with axes and one shared colour bar.

    ``panels`` maps a title to a 2-D tensor whose rows follow the y axis (bottom to top) and
    columns the x axis; ``extent`` is ``(x0, x1, y0, y1)``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 1.0, 3.4),
                             squeeze=False, layout="constrained")
    image = None
    for ax, (name, data) in zip(axes[0], panels.items()):
        image = ax.imshow(data.detach().cpu(), origin="lower", extent=extent, cmap=cmap,
                          vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), shrink=0.85)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
