"""Helpers the test files share (import as ``from tests.helpers import ...``)."""
from __future__ import annotations

import torch
from torch import nn

from autograder import run_check
from autograder.exercises import get


def first_failure(exercise_id: str, obj, seed: int):
    """The outcome of the first family (in the exercise's order) that fails, or ``None``."""
    for family in get(exercise_id).families:
        outcome = run_check(exercise_id, family, obj, seed=seed)
        if not outcome.passed:
            return outcome
    return None


def draw_double(module: nn.Module, seed: int = 0) -> nn.Module:
    """``module`` in float64 with weights drawn from ``seed``: N(0, 1/fan_in) for weights,
    N(0, 0.25) for vectors (biases)."""
    gen = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            scale = p[0].numel() ** -0.5 if p.dim() > 1 else 0.5
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return module
