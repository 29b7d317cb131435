"""Plots the lessons share (matplotlib). Each returns the figure so a notebook can save it."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

from .data import grid_shape


def show_maps(maps: torch.Tensor, *, titles: Sequence[str] | None = None, ncols: int = 8,
              cmap: str = "viridis", size: float = 1.8, suptitle: str | None = None,
              vmin: float | None = None, vmax: float | None = None):
    """A grid of 2-D maps ``(K, H, W)`` (feature maps, attention maps, images). Each map has its
    own colour scale unless ``vmin`` / ``vmax`` fix one for all (to compare magnitudes)."""
    maps = maps.detach().cpu()
    rows, cols = grid_shape(len(maps), ncols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(maps):
            ax.imshow(maps[i], cmap=cmap, vmin=vmin, vmax=vmax)
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


def grouped_bars(series: dict[str, torch.Tensor], *, labels: Sequence[str] | None = None,
                 title: str = "", ylabel: str = "", ylim: tuple[float, float] | None = None):
    """Bars of several named series side by side, one group per item (e.g. two gates per
    channel)."""
    names = list(series)
    values = [series[k].detach().cpu().flatten() for k in names]
    count = len(values[0])
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * count * len(names) + 1.5), 3))
    for i, (name, vals) in enumerate(zip(names, values)):
        ax.bar([j + (i - (len(names) - 1) / 2) * width for j in range(count)], vals, width,
               label=name)
    ax.set_xticks(range(count))
    ax.set_xticklabels(labels if labels is not None else [str(i) for i in range(count)],
                       fontsize=8)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def dual_axis(xs: Sequence[float], left: dict[str, Sequence[float]],
              right: dict[str, Sequence[float]], *, xlabel: str = "", left_label: str = "",
              right_label: str = "", title: str = "", logx: bool = False):
    """Two groups of named series against the same x: ``left`` on the left y axis (solid
    lines), ``right`` on the right one (dashed), e.g. a cost and an error against one knob."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    twin = ax.twinx()
    lines = []
    for axis, group, style, colours in ((ax, left, "-", ("tab:blue", "tab:cyan", "tab:purple")),
                                        (twin, right, "--", ("tab:red", "tab:orange", "tab:pink"))):
        for (name, ys), colour in zip(group.items(), colours):
            lines += axis.plot(xs, ys, style, marker="o", color=colour, label=name)
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([str(x) for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(left_label)
    twin.set_ylabel(right_label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.2), ncol=2)   # below the axes: never over a line
    fig.tight_layout()
    return fig


def show_class_maps(images: torch.Tensor, class_maps: torch.Tensor, *,
                    class_names: Sequence[str], titles: Sequence[str] | None = None,
                    probs: torch.Tensor | None = None, size: float = 2.0):
    """One row per image: the image ``(N, H, W)`` in grey, then its K class maps ``(N, K, H, W)``
    on one colour scale per row (red: evidence for the class, blue: against), titled with the
    class names and, if given, the probabilities ``(N, K)``."""
    images, class_maps = images.detach().cpu(), class_maps.detach().cpu()
    n, k = class_maps.shape[:2]
    fig, axes = plt.subplots(n, k + 1, figsize=(size * (k + 1), size * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i], cmap="gray")
        axes[i, 0].set_title(titles[i] if titles is not None else f"image {i}", fontsize=9)
        scale = float(class_maps[i].abs().max()) or 1.0
        for j in range(k):
            axes[i, j + 1].imshow(class_maps[i, j], cmap="RdBu_r", vmin=-scale, vmax=scale)
            extra = f" p={float(probs[i, j]):.2f}" if probs is not None else ""
            axes[i, j + 1].set_title(f"{class_names[j]}{extra}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def parameter_bars(counts: dict[str, int], *, title: str = "", log: bool = False):
    """Horizontal bars of parameter counts (name -> count), each labelled with its count. A
    linear axis by default: the bars' lengths are the counts' ratios (``log=True`` for counts
    too far apart to show on one)."""
    names = list(counts)
    values = [int(counts[n]) for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(names) + 1.2))
    ax.barh(range(len(names)), values, color="tab:blue")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()                                  # the first name on top
    if log:
        ax.set_xscale("log")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,}", va="center", fontsize=9)
    ax.set_xlim(right=max(values) * (20 if log else 1.35))
    ax.set_xlabel("parameters" + (" (log scale)" if log else ""))
    ax.set_title(title)
    fig.tight_layout()
    return fig
