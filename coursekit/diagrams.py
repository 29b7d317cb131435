"""Block diagrams for the lessons (matplotlib), drawn by the course's own code.

- :func:`se_block`: squeeze, excitation and scale, with the tensor's shape on every arrow;
- :func:`attention_blocks`: cSE, sSE, scSE, ECA and CBAM as data flows, side by side;
- :func:`aggregation_gates`: what scSE's four aggregations do to one feature map, as gate maps;
- :func:`se_placements`: where an SE unit sits in a residual block (SENet's four variants);
- :func:`memory_layout`: the order in which NCHW and channels_last store the same tensor.

>>> fig = se_placements()
>>> len(fig.axes)
4
>>> len(attention_blocks(("cse", "sse", "scse")).axes)
3
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyBboxPatch, Rectangle

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


# --- data-flow diagrams: one vertical chain of boxes per block, shapes on the arrows ------------

_KIND_COLOURS = {"squeeze": "#cfe2f3", "excite": "#f9cb9c", "gate": "#ead1dc", "conv": "#d9ead3",
                 "norm": "#fff2cc", "plain": "#eeeeee"}


def _flow_box(ax, x: float, y: float, text: str, kind: str, width: float = 2.3) -> float:
    """A rounded box centred at (x, y); returns its half height."""
    lines = text.count("\n") + 1
    half = 0.26 + 0.17 * (lines - 1)
    ax.add_patch(FancyBboxPatch((x - width / 2, y - half), width, 2 * half,
                                boxstyle="round,pad=0.04", fc=_KIND_COLOURS[kind], ec="black",
                                lw=0.9, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, zorder=4)
    return half


def _times(ax, x: float, y: float, symbol: str = "×") -> float:
    ax.plot(x, y, "o", ms=15, mfc="white", mec="black", mew=1.1, zorder=3)
    ax.text(x, y, symbol, ha="center", va="center", fontsize=11, zorder=4)
    return 0.2


def _down(ax, x: float, y0: float, y1: float, label: str = "") -> None:
    _arrow(ax, (x, y0), (x, y1))
    if label:
        ax.text(x + 0.12, (y0 + y1) / 2, label, ha="left", va="center", fontsize=7.5,
                color="#444444", zorder=4)


def _chain(ax, x: float, y: float, steps, *, skip_x, operand_y: float | None = None,
           width: float = 2.3) -> tuple[float, str]:
    """Draw ``steps`` downwards from ``y`` at column ``x``.

    Each step is ``(kind, text, shape)``: ``kind`` ``"in"`` starts the chain (the tensor ``text``
    of shape ``shape``, also the operand of the next product); ``"mul"`` is an elementwise product
    with the last ``"in"`` or product result (or the tensor at ``operand_y``), drawn as a line
    that runs down at ``skip_x`` (a number, or one per product); any other kind is a box of that
    colour. ``shape`` labels the arrow that leaves the step. Returns the bottom ``y`` and the
    last shape."""
    shape, bottom = "", y
    sides = list(skip_x) if isinstance(skip_x, (list, tuple)) else None
    for kind, text, out_shape in steps:
        if kind == "in":
            ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=4)
            operand_y, shape, bottom = y, out_shape, y - 0.22
            continue
        gap = 1.05
        if kind == "mul":
            at = sides.pop(0) if sides else skip_x
            side = -1 if at < x else 1
            yc = bottom - gap
            _down(ax, x, bottom, yc + 0.2, shape)
            # the operand comes from the side: along skip_x, then into the product
            ax.plot([x + side * 0.3, at, at], [operand_y, operand_y, yc], color="black",
                    lw=0.9, zorder=2)
            _arrow(ax, (at, yc), (x + side * 0.2, yc))
            _times(ax, x, yc, text or "×")
            operand_y, bottom = yc, yc - 0.2
        else:
            half = 0.26 + 0.17 * text.count("\n")
            yc = bottom - gap - half + 0.26
            _down(ax, x, bottom, yc + half + 0.04, shape)
            _flow_box(ax, x, yc, text, kind, width=width)
            bottom = yc - half - 0.04
        shape = out_shape
    return bottom, shape


_BLOCKS = {
    "cse": ("cSE (channel SE)", [
        ("in", "x", "(N, C, H, W)"),
        ("squeeze", "squeeze: GAP\nmean over H, W", "(N, C)"),
        ("excite", "FC  C → C/r\nReLU", "(N, C/r)"),
        ("excite", "FC  C/r → C\nsigmoid", "(N, C, 1, 1)"),
        ("mul", "×", "(N, C, H, W)")]),
    "sse": ("sSE (spatial SE)", [
        ("in", "x", "(N, C, H, W)"),
        ("squeeze", "squeeze: 1×1 conv\nC → 1 per position", "(N, 1, H, W)"),
        ("excite", "sigmoid", "(N, 1, H, W)"),
        ("mul", "×", "(N, C, H, W)")]),
    "eca": ("ECA (ECA-Net)", [
        ("in", "x", "(N, C, H, W)"),
        ("squeeze", "squeeze: GAP", "(N, 1, C)"),
        ("conv", "1-D conv across C\nk = ψ(C), no bias", "(N, 1, C)"),
        ("excite", "sigmoid", "(N, C, 1, 1)"),
        ("mul", "×", "(N, C, H, W)")]),
    "cbam": ("CBAM (channel, then space)", [
        ("in", "x", "(N, C, H, W)"),
        ("squeeze", "avg and max\nover H, W", "2 × (N, C)"),
        ("excite", "one shared MLP\non both, add", "(N, C)"),
        ("excite", "sigmoid", "(N, C, 1, 1)"),
        ("mul", "×", "x'  (N, C, H, W)"),
        ("squeeze", "mean and max\nover C, concat", "(N, 2, H, W)"),
        ("conv", "k×k conv 2 → 1", "(N, 1, H, W)"),
        ("excite", "sigmoid", "(N, 1, H, W)"),
        ("mul", "×", "(N, C, H, W)")]),
    "unet": ("U-Net block, scSE inside", [
        ("in", "x", "(N, 4, H, W)"),
        ("conv", "3×3 conv 4 → 8\n(linear in x)", "(N, 8, H, W)"),
        ("norm", "instance norm:\n− mean of each map", "(N, 8, H, W)"),
        ("plain", "ReLU, 3×3 conv,\ninstance norm, ReLU", "(N, 8, H, W)"),
        ("excite", "scSE", "(N, 8, H, W)"),
        ("plain", "the rest of the U-Net", "(N, 1, H, W) logits")]),
    "gated_unet": ("the same, behind a gate", [
        ("in", "x", "(N, 4, H, W)"),
        ("squeeze", "GAP of each\ninput channel", "(N, 4)"),
        ("excite", "FC, ReLU,\nFC, sigmoid", "(N, 4, 1, 1)"),
        ("mul", "×", "(N, 4, H, W)"),
        ("conv", "3×3 conv 4 → 8", "(N, 8, H, W)"),
        ("norm", "instance norm", "(N, 8, H, W)"),
        ("plain", "... the same U-Net", "(N, 1, H, W) logits")]),
}


def _scse(ax) -> float:
    """scSE: the cSE and sSE gates side by side on the same x, then one aggregation. Returns
    the bottom of the drawing."""
    ax.text(2.5, 8.6, "x", ha="center", va="center", fontsize=10)
    ax.plot([2.5, 2.5], [8.4, 8.05], color="black", lw=0.9)
    ax.plot([1.25, 3.75], [8.05, 8.05], color="black", lw=0.9)
    ax.text(2.62, 8.25, "(N, C, H, W)", fontsize=7.5, color="#444444", va="center")
    branches = {1.25: ([("squeeze", "GAP", "(N, C)"),
                        ("excite", "FC, ReLU,\nFC, sigmoid", "(N, C, 1, 1)"),
                        ("mul", "×", "")], -0.05),
                3.75: ([("squeeze", "1×1 conv\nC → 1", "(N, 1, H, W)"),
                        ("excite", "sigmoid", "(N, 1, H, W)"),
                        ("mul", "×", "")], 5.05)}
    ends = {}
    for x, (steps, skip_x) in branches.items():
        ax.plot([x, skip_x], [8.05, 8.05], color="black", lw=0.9)
        bottom, _ = _chain(ax, x, 8.05, steps, skip_x=skip_x, operand_y=8.05, width=1.9)
        ends[x] = bottom
    top = min(ends.values()) - 0.9
    for x, bottom in ends.items():
        _arrow(ax, (x, bottom), (2.5 + (x - 2.5) * 0.4, top + 0.45))
    _flow_box(ax, 2.5, top, "aggregate\nadd | max | mul | concat", "plain", width=3.0)
    _down(ax, 2.5, top - 0.45, top - 1.3, "(N, C, H, W); concat: (N, 2C, H, W)")
    ax.text(2.5, top - 1.55, "y", ha="center", va="center", fontsize=10)
    return top - 1.75


def attention_blocks(kinds: Sequence[str] = ("cse", "sse", "scse")):
    """The attention blocks of the course as data flows, side by side, with the tensor's shape on
    every arrow: ``"cse"``, ``"sse"``, ``"scse"``, ``"eca"``, ``"cbam"``, and lesson 05's
    ``"unet"`` (the start of a U-Net with scSE in its blocks) and ``"gated_unet"`` (the same behind
    a channel-SE gate on its input). A circle with × is an elementwise product with the tensor
    that the line from the side brings (broadcast over the dims of size 1)."""
    unknown = [k for k in kinds if k not in _BLOCKS and k != "scse"]
    if unknown:
        raise ValueError(f"unknown blocks {unknown}; use {sorted([*_BLOCKS, 'scse'])}")
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds), 5.0), squeeze=False)
    bottoms = []
    for ax, kind in zip(axes[0], kinds):
        ax.axis("off")
        if kind == "scse":
            ax.set_title("scSE (both, in parallel)", fontsize=10)
            bottoms.append(_scse(ax))
            continue
        title, steps = _BLOCKS[kind]
        ax.set_title(title, fontsize=10)
        bottom, shape = _chain(ax, 2.5, 8.6, steps, skip_x=[0.35, 4.65])
        _down(ax, 2.5, bottom, bottom - 0.7, shape)
        ax.text(2.5, bottom - 0.95, "y", ha="center", va="center", fontsize=10)
        bottoms.append(bottom - 1.15)
    low = min(bottoms)
    for ax in axes[0]:
        ax.set_xlim(-0.3, 5.3)
        ax.set_ylim(low, 9.0)
    fig.set_size_inches(3.3 * len(kinds), 0.5 * (9.0 - low) + 0.5)
    fig.tight_layout()
    return fig


def se_block(reduction: str = "r"):
    """The squeeze-and-excitation block as one horizontal flow: squeeze (global average pooling),
    excitation (FC, ReLU, FC, sigmoid) and scale (a product broadcast over H and W), with the
    tensor's shape on every arrow. ``reduction`` is how the reduction ratio is written."""
    r = reduction
    fig, ax = plt.subplots(figsize=(12.5, 2.9))
    ax.set_xlim(-0.6, 14.6)
    ax.set_ylim(-0.9, 2.6)
    ax.axis("off")
    y = 1.0
    xs = [0.0, 2.0, 4.3, 6.3, 8.3, 10.3, 12.2, 14.0]
    labels = ["x", "GAP", f"FC\nC → C/{r}", "ReLU", f"FC\nC/{r} → C", "sigmoid", "×", "y"]
    kinds = [None, "squeeze", "excite", "excite", "excite", "excite", None, None]
    shapes = ["(N, C, H, W)", "(N, C)", f"(N, C/{r})", f"(N, C/{r})", "(N, C)",
              "(N, C, 1, 1)", "(N, C, H, W)"]
    half = {}
    for x, text, kind in zip(xs, labels, kinds):
        if kind is None:
            if text == "×":
                half[x] = _times(ax, x, y)
            else:
                ax.text(x, y, text, ha="center", va="center", fontsize=12)
                half[x] = 0.25
        else:
            width = 1.5 if "FC" in text or text == "sigmoid" else 1.2
            _flow_box(ax, x, y, text, kind, width=width)
            half[x] = width / 2 + 0.05
    for (a, b), shape in zip(zip(xs[:-1], xs[1:]), shapes):
        _arrow(ax, (a + half[a], y), (b - half[b], y))
        ax.text((a + half[a] + b - half[b]) / 2, y + 0.18, shape, ha="center", va="bottom",
                fontsize=7.5, color="#444444")
    # the scale step multiplies x itself: a line from x under the excitation into the product
    ax.plot([0.0, 0.0, 12.2], [y - 0.3, -0.45, -0.45], color="black", lw=0.9)
    _arrow(ax, (12.2, -0.45), (12.2, y - 0.2))
    ax.text(6.3, -0.62, "x itself, (N, C, H, W): each channel times its weight "
            "(broadcast over H × W)", ha="center", va="top", fontsize=7.5, color="#444444")
    for (a, b), name in (((1.3, 2.7), "squeeze"), ((3.4, 11.1), "excitation"),
                         ((11.6, 12.8), "scale")):
        ax.plot([a, a, b, b], [2.05, 2.2, 2.2, 2.05], color="#666666", lw=0.9)
        ax.text((a + b) / 2, 2.3, name, ha="center", va="bottom", fontsize=10)
    fig.tight_layout()
    return fig


def aggregation_gates(feature: torch.Tensor, gate_c: float, gate_s: torch.Tensor):
    """What scSE's four aggregations do to one feature map, as heat maps of the *effective gate*
    ``output / x`` (the factor each position is multiplied by).

    ``feature`` is one map ``(H, W)`` with positive values (as after a ReLU), ``gate_c`` its
    channel's cSE gate (a number) and ``gate_s`` the sSE map ``(H, W)``. Panels: the feature, the
    two gates, then add (``g_c + g_s``), max (``max(x g_c, x g_s) / x``), mul
    (``x g_c g_s``: the feature enters twice) and concat (both gated copies, for the next layer to
    weigh), all on one colour scale."""
    x = feature.detach().cpu().double()
    gs = gate_s.detach().cpu().double()
    gc = float(gate_c)
    if bool((x <= 0).any()):
        raise ValueError("feature must be positive (a map after a ReLU, plus a margin): the "
                         "effective gate output / x is not defined where x = 0")
    effective = {
        "add\n$g_c + g_s$": gc + gs,
        "max\nmax($x g_c$, $x g_s$) / x": torch.maximum(x * gc, x * gs) / x,
        "mul\n$x \\cdot g_c \\cdot g_s$": x * gc * gs,
        "concat\n$g_c$ | $g_s$ (2C channels)": torch.cat([torch.full_like(gs, gc), gs], dim=1),
    }
    top = max(2.0, float(max(v.max() for v in effective.values())))
    fig = plt.figure(figsize=(11, 6.2), layout="constrained")
    grid = fig.add_gridspec(2, 5, width_ratios=[1, 1, 1, 1, 0.08])
    inputs = [("the feature x\n(one channel)", x, "gray", None),
              (f"channel gate $g_c$\n= {gc:.2f} everywhere", torch.full_like(gs, gc), "magma",
               (0, top)),
              ("spatial gate $g_s$\n(one per position)", gs, "magma", (0, top))]
    panels = [(fig.add_subplot(grid[0, i]), *spec) for i, spec in enumerate(inputs)]
    panels += [(fig.add_subplot(grid[1, i]), name, value, "magma", (0, top))
               for i, (name, value) in enumerate(effective.items())]
    image = None
    for ax, name, data, cmap, lim in panels:
        shown = ax.imshow(data.numpy(), cmap=cmap, vmin=lim[0] if lim else None,
                          vmax=lim[1] if lim else None)
        if lim:
            image = shown
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.colorbar(image, cax=fig.add_subplot(grid[:, 4]), label="factor on x")
    fig.suptitle("the two gates (top) and what each aggregation multiplies x by (bottom)")
    return fig


def memory_layout(channels: int = 3, height: int = 2, width: int = 2):
    """One ``(1, C, H, W)`` tensor and the order in which NCHW (contiguous) and NHWC
    (``channels_last``) put its values in memory: the same values, other strides."""
    colours = plt.get_cmap("Set2")
    fig, axes = plt.subplots(3, 1, figsize=(10, 4.6), gridspec_kw={"height_ratios": [2.2, 1, 1]})
    ax = axes[0]
    ax.set_xlim(-0.5, channels * (width + 1))
    ax.set_ylim(-0.3, height + 0.8)
    ax.axis("off")
    ax.set_title(f"a tensor of shape (1, {channels}, {height}, {width}): "
                 f"{channels} channels of {height} × {width}", fontsize=10)

    def label(c, i, j):
        return f"c{c}\n({i},{j})"

    for c in range(channels):
        x0 = c * (width + 1)
        for i in range(height):
            for j in range(width):
                ax.add_patch(Rectangle((x0 + j, height - 1 - i), 1, 1, fc=colours(c), ec="black"))
                ax.text(x0 + j + 0.5, height - 0.5 - i, label(c, i, j), ha="center", va="center",
                        fontsize=7)
        ax.text(x0 + width / 2, height + 0.35, f"channel {c}", ha="center", fontsize=9)
    orders = {
        "NCHW (contiguous): all of channel 0, then channel 1, ...":
            [(c, i, j) for c in range(channels) for i in range(height) for j in range(width)],
        "NHWC (channels_last): the C values of one pixel, then the next pixel, ...":
            [(c, i, j) for i in range(height) for j in range(width) for c in range(channels)],
    }
    for ax, (title, order) in zip(axes[1:], orders.items()):
        ax.set_xlim(-0.2, len(order) + 0.2)
        ax.set_ylim(-0.4, 1.3)
        ax.axis("off")
        ax.set_title(title, fontsize=9, loc="left")
        for k, (c, i, j) in enumerate(order):
            ax.add_patch(Rectangle((k, 0), 1, 1, fc=colours(c), ec="black"))
            ax.text(k + 0.5, 0.5, label(c, i, j), ha="center", va="center", fontsize=6.5)
        ax.text(len(order) + 0.1, 0.5, "→ memory address", va="center", fontsize=8)
    fig.tight_layout()
    return fig
