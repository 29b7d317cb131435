"""A tiny training loop for the lessons' toy experiments (full batch, CPU, seconds)."""
from __future__ import annotations

import torch
from torch import nn


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int = 300,
        lr: float = 0.1) -> list[float]:
    """Train ``model`` to predict the class ``y`` from ``x``: full-batch Adam on the
    cross-entropy of ``model(x)`` (class scores, ``(N, K)``). Returns the loss of every step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of samples whose highest score is the right class."""
    return float((model(x).argmax(dim=1) == y).float().mean())
