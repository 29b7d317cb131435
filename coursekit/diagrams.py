"""Block diagrams for the lessons (matplotlib): where an SE unit sits in a residual block.

>>> fig = se_placements()
>>> len(fig.axes)
4
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

#: Boxes of each SENet integration variant: (label, column, row); column 0 is the shortcut,
#: column 1 the residual branch, column 0.5 the joined path below the addition.
_LAYOUTS = {
    "standard": [("F", 1, 6.2), ("SE", 1, 4.6), ("+", 0.5, 3.2), ("ReLU", 0.5, 2.0)],
    "pre": [("SE", 1, 6.6), ("F", 1, 5.0), ("+", 0.5, 3.2), ("ReLU", 0.5, 2.0)],
    "post": [("F", 1, 6.2), ("+", 0.5, 4.4), ("ReLU", 0.5, 3.2), ("SE", 0.5, 2.0)],
    "identity": [("SE", 0, 5.4), ("F", 1, 5.4), ("+", 0.5, 3.2), ("ReLU", 0.5, 2.0)],
}
_TITLES = {"standard": "standard", "pre": "SE-PRE", "post": "SE-POST", "identity": "SE-Identity"}
_COLOURS = {"F": "#cfe2f3", "SE": "#f9cb9c", "ReLU": "#d9ead3", "+": "white"}


def _x(col: float) -> float:
    return 0.8 + 1.6 * col


def _box(ax, label: str, x: float, y: float) -> None:
    if label == "+":
        ax.plot(x, y, "o", ms=17, mfc="white", mec="black", mew=1.2, zorder=3)
        ax.text(x, y, "+", ha="center", va="center", fontsize=13, zorder=4)
        return
    w = 1.1 if label != "ReLU" else 1.2
    ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.38), w, 0.76, boxstyle="round,pad=0.05",
                                fc=_COLOURS[label], ec="black", lw=1.0, zorder=3))
    ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=4)


def _arrow(ax, a: tuple[float, float], b: tuple[float, float]) -> None:
    ax.annotate("", xy=b, xytext=a, zorder=2,
                arrowprops=dict(arrowstyle="-|>", lw=1.0, color="black", shrinkA=0, shrinkB=0))


def _half(label: str) -> float:
    """Half the height of a box (the radius of the addition's circle)."""
    return 0.32 if label == "+" else 0.38


def se_placements(errors: dict[str, float] | None = None):
    """Four small diagrams of the SENet integration variants (TPAMI version, Fig. 5), with the
    ImageNet top-1 error of each under its title when ``errors`` is given. ``F`` is the residual
    branch (the convolutions); the left path is the shortcut."""
    fig, axes = plt.subplots(1, 4, figsize=(10, 3.8))
    for ax, (name, boxes) in zip(axes, _LAYOUTS.items()):
        ax.set_xlim(0, 3.2)
        ax.set_ylim(0.3, 8.6)
        ax.axis("off")
        title = _TITLES[name] + (f"\ntop-1 error {errors[name]:.2f}%" if errors else "")
        ax.set_title(title, fontsize=10)
        ax.text(1.6, 8.2, "x", ha="center", va="center", fontsize=11)
        plus = next(b for b in boxes if b[0] == "+")
        px, py = _x(plus[1]), plus[2]
        for col in (0, 1):                          # the two paths from x down to the addition
            x = _x(col)
            ax.plot([1.6, x, x], [7.9, 7.5, 7.3], color="black", lw=1.0, zorder=2)
            top = 7.3
            for label, _, y in (b for b in boxes if b[1] == col):
                _arrow(ax, (x, top), (x, y + _half(label)))
                top = y - _half(label)
            _arrow(ax, (x, top), (px + (0.3 if col else -0.3), py + 0.1))
        joined = [b for b in boxes if b[1] == 0.5]
        for (l1, _, y1), (l2, _, y2) in zip(joined[:-1], joined[1:]):
            _arrow(ax, (px, y1 - _half(l1)), (px, y2 + _half(l2)))
        _arrow(ax, (px, joined[-1][2] - _half(joined[-1][0])), (px, 0.85))
        ax.text(px, 0.6, "y", ha="center", va="center", fontsize=11)
        for label, col, y in boxes:
            _box(ax, label, _x(col), y)
    fig.tight_layout()
    return fig
