"""Mutants of lesson 03's ``kept_mask(gate, threshold=0.5)``: (N, 1, H, W) float -> bool, the
positions the map keeps (gate > threshold).

The exercise has shape and values families only (a comparison has no gradient, and its device
check is kept_iou's). Correct answers in data-dependent styles must pass them. The lesson's wrong
answers are in ``tests/test_exercises_lesson03.py``.
"""

EXERCISE = "kept_mask"
DEFINES = "kept_mask"
PREAMBLE = """\
import torch
"""

MUTANTS = [
    dict(name="nonzero-scatter", correct=True,
         style="True written at the positions nonzero() finds, into torch.zeros_like(dtype=bool)",
         source='''
def kept_mask(gate, threshold=0.5):
    out = torch.zeros_like(gate, dtype=torch.bool)
    out[(gate > threshold).nonzero(as_tuple=True)] = True
    return out
'''),
    dict(name="masked-fill", correct=True,
         style="masked_fill of a False mask where the gate is above the threshold",
         source='''
def kept_mask(gate, threshold=0.5):
    return torch.zeros_like(gate, dtype=torch.bool).masked_fill(gate > threshold, True)
'''),
    dict(name="where", correct=True, style="torch.where(gate > threshold, True, False)",
         source='''
def kept_mask(gate, threshold=0.5):
    return torch.where(gate > threshold, True, False)
'''),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.kept_mask)",
         source="from scse_ref import kept_mask\n"),
]
