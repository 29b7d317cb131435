"""A small segmentation experiment for the lessons: synthetic images, Dice, a training loop.

Lesson 05 trains a tiny U-Net with and without attention units on images generated here (nothing
is downloaded) and compares their Dice scores over several seeds. Everything runs on a laptop CPU
in seconds per model.

>>> images, masks = shapes_segmentation(4, size=32, seed=0)
>>> images.shape, masks.shape, masks.dtype
(torch.Size([4, 1, 32, 32]), torch.Size([4, 1, 32, 32]), torch.float32)
>>> dice(masks, masks).tolist()                 # a perfect prediction
[1.0, 1.0, 1.0, 1.0]
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("disc", "square", "triangle")


def shapes_segmentation(n: int, size: int = 32, *, seed: int = 0, shapes: int = 3,
                        noise: float = 0.5, target: str = "disc",
                        radius: tuple[float, float] = (1 / 8, 1 / 5)
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` grey images of discs, squares and triangles on textured noise, and the masks of the
    shapes of kind ``target``.

    Every image holds ``shapes`` shapes (the first is always of kind ``target``, so no mask is
    empty) of random kind, position and brightness, and a radius (half side) between
    ``radius[0] * size`` and ``radius[1] * size`` pixels. The background is smooth noise of std
    ``noise``, and each image gets its own brightness offset and contrast, as scans from different
    machines do: a fixed threshold cannot separate shapes from background, and telling a disc from
    a square needs a few pixels of context, not one.

    Returns ``(images (n, 1, size, size), masks (n, 1, size, size) float in {0, 1})``.
    All of it is one batched computation, a few milliseconds for a thousand images.
    """
    if target not in KINDS:
        raise ValueError(f"target must be one of {KINDS}, got {target!r}")
    g = torch.Generator().manual_seed(seed)
    kind = torch.randint(len(KINDS), (n, shapes), generator=g)
    kind[:, 0] = KINDS.index(target)
    low, high = (size * f for f in radius)
    r = low + (high - low) * torch.rand(n, shapes, 1, 1, generator=g)
    cy, cx = (r + (size - 2 * r) * torch.rand(n, shapes, 1, 1, generator=g) for _ in range(2))
    rows = torch.arange(size, dtype=torch.float32).view(1, 1, -1, 1)
    cols = torch.arange(size, dtype=torch.float32).view(1, 1, 1, -1)
    dy, dx = rows - cy, cols - cx                                   # (n, shapes, size, size)
    disc = dy ** 2 + dx ** 2 <= r ** 2
    square = (dy.abs() <= r) & (dx.abs() <= r)
    triangle = (dy.abs() <= r) & (dx.abs() <= (dy + r) / 2)
    inside = torch.stack([disc, square, triangle])                  # (kinds, n, shapes, H, W)
    inside = inside.gather(0, kind.view(1, n, shapes, 1, 1).expand(1, n, shapes, size, size))[0]
    brightness = 0.7 + 0.6 * torch.rand(n, shapes, 1, 1, generator=g)
    image = (inside.float() * brightness).amax(dim=1, keepdim=True)  # (n, 1, H, W)
    smooth = 3
    tex = F.avg_pool2d(torch.randn(n, 1, size + smooth - 1, size + smooth - 1, generator=g),
                       smooth, stride=1)
    tex = tex / tex.std(dim=(2, 3), keepdim=True).clamp_min(1e-8)
    offset = torch.randn(n, 1, 1, 1, generator=g) * 0.5
    contrast = 0.5 + torch.rand(n, 1, 1, 1, generator=g)
    images = contrast * (image + noise * tex) + offset
    masks = (inside & (kind == KINDS.index(target)).view(n, shapes, 1, 1)).any(dim=1, keepdim=True)
    return images, masks.float()


def dice(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    r"""Dice score of each sample: :math:`2|P \cap T| / (|P| + |T|)` for binary masks
    ``(N, 1, H, W)``. 1 when both masks are empty.

    Examples:
        >>> p = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
        >>> t = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]])
        >>> dice(p, t)                       # 2 * 1 / (2 + 1)
        tensor([0.6667])
    """
    p, t = pred.flatten(1).float(), target.flatten(1).float()
    inter = (p * t).sum(1)
    total = p.sum(1) + t.sum(1)
    return torch.where(total > 0, 2 * inter / total.clamp_min(eps), torch.ones_like(total))


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - `` the Dice of the probabilities (smoothed by ``eps``), averaged over the batch."""
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    return (1 - (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)).mean()


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, masks: torch.Tensor,
             batch: int = 128) -> float:
    """Mean Dice of ``model``'s predictions (logit > 0) on a test set, in evaluation mode."""
    was_training = model.training
    model.eval()
    scores = [dice((model(images[i:i + batch]) > 0).float(), masks[i:i + batch])
              for i in range(0, len(images), batch)]
    model.train(was_training)
    return float(torch.cat(scores).mean())


@dataclass
class Run:
    """One training run: its name, seed, the test Dice along the way and at the end, and the
    trained model (to look at what it learned)."""

    name: str
    seed: int
    steps: list[int] = field(default_factory=list)
    curve: list[float] = field(default_factory=list)
    final: float = float("nan")
    seconds: float = 0.0
    params: int = 0
    model: nn.Module | None = field(default=None, repr=False)


def train_segmentation(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                       test: tuple[torch.Tensor, torch.Tensor], *, steps: int = 300,
                       batch: int = 16, lr: float = 3e-3, seed: int = 0, every: int = 25,
                       name: str = "", progress: Callable[[int], None] | None = None) -> Run:
    """Train ``model`` (logits ``(N, 1, H, W)``) with Adam on BCE + soft Dice, mini-batches drawn
    from ``train`` with generator ``seed``, the learning rate decaying from ``lr`` to 0 along a
    cosine (so that the last steps settle rather than jump); the test Dice is measured every
    ``every`` steps and at the end. ``progress(k)`` is called with the number of steps done since
    the last call (a progress bar's ``update``)."""
    images, masks = train
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    run = Run(name, seed, params=sum(p.numel() for p in model.parameters()))
    start = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        idx = torch.randint(len(images), (batch,), generator=g)
        logits = model(images[idx])
        loss = F.binary_cross_entropy_with_logits(logits, masks[idx]) + \
            soft_dice_loss(logits, masks[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if step % every == 0 or step == steps:
            run.steps.append(step)
            run.curve.append(evaluate(model, *test))
        if progress is not None:
            progress(1)
    run.final = run.curve[-1]
    run.seconds = time.perf_counter() - start
    run.model = model.eval()
    return run


def compare(builders: dict[str, Callable[[], nn.Module]], train, test, *, seeds=(0, 1, 2),
            steps: int = 300, progress: bool = True, **kwargs) -> list[Run]:
    """Train every model of ``builders`` (name -> a function that builds a fresh model) once per
    seed (the seed fixes the initial weights and the order of the mini-batches), with one
    progress bar over all the steps. Returns the runs."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(builders) * len(seeds) * steps, unit="step",
                   desc="training", mininterval=0.5)
    runs = []
    try:
        for seed in seeds:
            for name, build in builders.items():
                torch.manual_seed(seed)
                model = build()
                if bar is not None:
                    bar.set_postfix_str(f"{name}, seed {seed}")
                runs.append(train_segmentation(model, train, test, steps=steps, seed=seed,
                                               name=name, progress=bar.update if bar else None,
                                               **kwargs))
    finally:
        if bar is not None:
            bar.close()
    return runs


def summary(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Per model: mean and standard deviation (over seeds) of the final Dice, parameters and
    seconds per run."""
    out = {}
    for name in dict.fromkeys(r.name for r in runs):
        mine = [r for r in runs if r.name == name]
        finals = torch.tensor([r.final for r in mine], dtype=torch.float64)
        out[name] = {"mean": float(finals.mean()),
                     "std": float(finals.std()) if len(mine) > 1 else 0.0,
                     "runs": len(mine), "params": mine[0].params,
                     "seconds": sum(r.seconds for r in mine) / len(mine)}
    return out


def plot_runs(runs: list[Run], *, title: str = "test Dice during training"):
    """The test Dice against the training step: one line per model (the mean over seeds) with a
    band of plus or minus one standard deviation."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name in dict.fromkeys(r.name for r in runs):
        curves = torch.tensor([r.curve for r in runs if r.name == name], dtype=torch.float64)
        steps = next(r.steps for r in runs if r.name == name)
        mean = curves.mean(0)
        std = curves.std(0) if len(curves) > 1 else torch.zeros_like(mean)
        ax.plot(steps, mean, label=name)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("test Dice")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def table(stats: dict[str, dict[str, float]], baseline: str | None = None) -> str:
    """A plain-text table of :func:`summary`: Dice mean +- std, parameters, seconds per run."""
    base = stats[baseline]["params"] if baseline else None
    lines = [f"{'model':<8} {'Dice (mean +- std)':>20} {'runs':>5} {'params':>8} "
             f"{'overhead':>9} {'s/run':>6}"]
    for name, s in stats.items():
        over = f"{100 * (s['params'] - base) / base:+.1f}%" if base else ""
        lines.append(f"{name:<8} {s['mean']:>12.4f} +- {s['std']:.4f} {s['runs']:>5} "
                     f"{s['params']:>8,} {over:>9} {s['seconds']:>6.1f}")
    return "\n".join(lines)


def verdict(stats: dict[str, dict[str, float]], baseline: str = "none") -> list[str]:
    """One sentence per model saying how its mean Dice compares with ``baseline``'s, in units
    of the spread between seeds: a difference smaller than the seeds' spread is not told apart
    from noise. (Three seeds are few: this is a reading aid, not a statistical test.)"""
    base = stats[baseline]
    lines = []
    for name, s in stats.items():
        if name == baseline:
            continue
        diff = s["mean"] - base["mean"]
        spread = math.sqrt((s["std"] ** 2 + base["std"] ** 2) / 2) or 1e-12
        if abs(diff) <= spread:
            word = "within the spread between seeds of"
        elif diff > 0:
            word = "above"
        else:
            word = "below"
        lines.append(f"{name}: {s['mean']:.4f} vs {base['mean']:.4f} for {baseline} "
                     f"({diff:+.4f}, {abs(diff) / spread:.1f} x the seeds' spread): {word} "
                     f"{baseline}")
    return lines
