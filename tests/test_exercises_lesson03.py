"""Lesson 03's own exercises (``kept_mask``, ``kept_iou``) and their references in ``scse_ref.maps``.

For each exercise: the reference and correct implementations in other styles pass every family;
plausible wrong implementations fail in the family they belong to, with the matching hint. Every
verdict is taken with two seeds, so it does not hang on one lucky draw.
"""
from __future__ import annotations

import pytest
import torch

import scse_ref
from autograder import EXERCISES
from autograder import run_check
from tests.helpers import SEEDS, first_failure, notebook_answer



# ----------------------------------------------------------------------------- the references

def _iou_by_loops(gate, mask, t):
    """IoU per sample with Python sets of positions: the definition, written independently."""
    out = []
    for g, m in zip(gate, mask):
        kept = {i for i, v in enumerate(g.flatten().tolist()) if v > t}
        obj = {i for i, v in enumerate(m.flatten().tolist()) if v}
        union = kept | obj
        out.append(len(kept & obj) / len(union) if union else 1.0)
    return torch.tensor(out, dtype=torch.float64)


def test_kept_mask_is_a_strict_comparison_in_bool():
    gate = torch.tensor([0.1, 0.5, 0.50001, 0.9]).view(1, 1, 2, 2)
    mask = scse_ref.kept_mask(gate)
    assert mask.dtype == torch.bool and mask.shape == gate.shape
    assert mask.flatten().tolist() == [False, False, True, True]
    assert scse_ref.kept_mask(gate, threshold=0.05).all()


@pytest.mark.parametrize("t", [0.25, 0.5, 0.75])
def test_kept_iou_is_the_intersection_over_the_union_per_sample(t):
    gen = torch.Generator().manual_seed(0)
    gate = torch.rand(6, 1, 5, 7, generator=gen, dtype=torch.float64)
    mask = torch.rand(6, 1, 5, 7, generator=gen) < 0.4
    gate[0], mask[0] = 0.0, False                 # nothing kept, nothing there: IoU 1
    mask[1] = False                               # kept positions but no object: IoU 0
    gate[1, 0, 0, 0] = 1.0
    torch.testing.assert_close(scse_ref.kept_iou(gate, mask, t), _iou_by_loops(gate, mask, t),
                               rtol=1e-12, atol=1e-12)
    assert scse_ref.kept_iou(gate, mask, t)[:2].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_kept_iou_keeps_the_dtype_and_counts_exactly(dtype):
    gate = torch.full((2, 1, 40, 40), 0.9, dtype=dtype)   # 1600 positions: past bfloat16's 256
    mask = torch.zeros(2, 1, 40, 40, dtype=torch.bool)
    mask[0, 0, :, :13] = True                             # IoU 520 / 1600 = 0.325
    out = scse_ref.kept_iou(gate, mask)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), torch.tensor([0.325, 0.0], dtype=torch.float64),
                               rtol=1e-2, atol=1e-3)


def test_kept_iou_works_on_non_contiguous_and_meta_inputs():
    gate = torch.rand(3, 1, 6, 5).transpose(-1, -2)
    mask = torch.rand(3, 1, 5, 6) < 0.5
    torch.testing.assert_close(scse_ref.kept_iou(gate, mask),
                               _iou_by_loops(gate, mask, 0.5).float())
    meta = scse_ref.kept_iou(torch.empty(3, 1, 4, 4, device="meta"),
                             torch.empty(3, 1, 4, 4, device="meta", dtype=torch.bool))
    assert meta.shape == (3,) and meta.device.type == "meta"


@pytest.mark.parametrize("call, error, match", [
    (lambda: scse_ref.kept_mask([0.2]), TypeError, "gate must be a torch.Tensor"),
    (lambda: scse_ref.kept_mask(torch.ones(2, dtype=torch.long)), TypeError, "floating point"),
    (lambda: scse_ref.kept_mask(torch.rand(2), threshold="0.5"), TypeError, "threshold"),
    (lambda: scse_ref.kept_iou(torch.rand(2, 1, 3, 3), torch.rand(2, 1, 3, 3)), TypeError,
     "mask must be a bool tensor"),
    (lambda: scse_ref.kept_iou(torch.rand(2, 1, 3, 3), torch.ones(2, 1, 3, 4, dtype=torch.bool)),
     ValueError, "mask has shape"),
])
def test_bad_arguments_raise_naming_them(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------------------- the grader

mask_solution = notebook_answer("03_spatial_se", "kept_mask")


def mask_gt(gate, threshold=0.5):
    return torch.gt(gate, threshold)


def mask_not_le(gate, threshold=0.5):
    return ~(gate <= threshold)


iou_solution = notebook_answer("03_spatial_se", "kept_iou")


def iou_logical_reshape(gate, mask, threshold=0.5):
    kept = torch.gt(gate, threshold)
    n = gate.shape[0]
    inter = torch.logical_and(kept, mask).reshape(n, -1).sum(-1).double()
    union = torch.logical_or(kept, mask).reshape(n, -1).sum(-1).double()
    iou = torch.where(union == 0, torch.ones_like(union), inter / union)
    return iou.to(gate.dtype)


def iou_float_masks(gate, mask, threshold=0.5):
    k = (gate > threshold).to(gate.dtype)
    m = mask.to(gate.dtype)
    inter = (k * m).sum(dim=(1, 2, 3))
    union = (k + m - k * m).sum(dim=(1, 2, 3))
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


CORRECT = {
    "kept_mask": [scse_ref.kept_mask, mask_solution, mask_gt, mask_not_le],
    "kept_iou": [scse_ref.kept_iou, iou_solution, iou_logical_reshape, iou_float_masks],
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise, obj", [(e, f) for e, fs in CORRECT.items() for f in fs],
                         ids=lambda v: getattr(v, "__name__", v))
def test_correct_implementation_passes_every_family(exercise, obj, seed):
    assert run_check(exercise, "basic", obj, seed=seed).passed
    failure = first_failure(exercise, obj, seed)
    assert failure is None, failure.message


def _iou_with(kept_fn, empty=1.0, dtype=None, reduce=(1, 2, 3)):
    """An IoU whose kept positions come from ``kept_fn(gate, t)``."""
    def kept_iou(gate, mask, threshold=0.5):
        kept = kept_fn(gate, threshold)
        inter = (kept & mask).sum(dim=reduce).to(gate.dtype)
        union = (kept | mask).sum(dim=reduce).to(gate.dtype)
        out = torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(union, empty))
        return out if dtype is None else out.to(dtype)
    return kept_iou


def iou_nan(gate, mask, threshold=0.5):
    kept = gate > threshold
    return ((kept & mask).flatten(1).sum(1) / (kept | mask).flatten(1).sum(1)).to(gate.dtype)


def iou_precision(gate, mask, threshold=0.5):
    kept = gate > threshold
    k = kept.flatten(1).sum(1)
    return torch.where(k > 0, (kept & mask).flatten(1).sum(1) / k.clamp_min(1), 1.0).to(gate.dtype)


def iou_recall(gate, mask, threshold=0.5):
    kept = gate > threshold
    m = mask.flatten(1).sum(1)
    return torch.where(m > 0, (kept & mask).flatten(1).sum(1) / m.clamp_min(1), 1.0).to(gate.dtype)


def iou_dice(gate, mask, threshold=0.5):
    kept = gate > threshold
    den = kept.flatten(1).sum(1) + mask.flatten(1).sum(1)
    inter = (kept & mask).flatten(1).sum(1)
    return torch.where(den > 0, 2 * inter / den.clamp_min(1), 1.0).to(gate.dtype)


def iou_soft(gate, mask, threshold=0.5):
    m = mask.to(gate.dtype)
    return (gate * m).flatten(1).sum(1) / (gate + m - gate * m).flatten(1).sum(1)


def iou_batch(gate, mask, threshold=0.5):
    kept = gate > threshold
    value = (kept & mask).sum() / (kept | mask).sum()
    return value.expand(gate.shape[0]).to(gate.dtype)


def iou_scalar(gate, mask, threshold=0.5):
    kept = gate > threshold
    return ((kept & mask).sum() / (kept | mask).sum()).to(gate.dtype)


def iou_item_loop(gate, mask, threshold=0.5):
    out = []
    for g, m in zip(gate, mask):
        kept = g > threshold
        union = (kept | m).sum().item()
        out.append((kept & m).sum().item() / union if union else 1.0)
    return torch.tensor(out, dtype=gate.dtype)


def iou_view(gate, mask, threshold=0.5):
    kept = gate > threshold
    n = gate.shape[0]
    inter = (kept & mask).view(n, -1).sum(1).to(gate.dtype)
    union = (kept | mask).view(n, -1).sum(1).to(gate.dtype)
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def iou_keepdim(gate, mask, threshold=0.5):
    return iou_solution(gate, mask, threshold).view(-1, 1)


#: (exercise, wrong implementation, first failing family, accepted mistake labels, hint phrase)
WRONG = [
    ("kept_mask", lambda gate, threshold=0.5: gate >= threshold, "values", {"geq"},
     "strict comparison"),
    ("kept_mask", lambda gate, threshold=0.5: gate < threshold, "values", {"removed"},
     "removes"),
    ("kept_mask", lambda gate, threshold=0.5: gate > 0.5, "values", {"threshold-ignored"},
     "threshold argument is ignored"),
    ("kept_mask", lambda gate, threshold=0.5: torch.sigmoid(gate) > threshold, "values",
     {"sigmoid-again"}, "already a sigmoid"),
    ("kept_mask", lambda gate, threshold=0.5: (gate > threshold).float(), "shape", {"dtype"},
     "boolean mask itself"),
    ("kept_mask", lambda gate, threshold=0.5: (gate > threshold).squeeze(1), "shape", {"shape"},
     "Keep the channel dim"),
    ("kept_mask", lambda gate, threshold=0.5: gate[gate > threshold], "shape", {"shape"},
     "flattened"),
    ("kept_iou", iou_nan, "values", {"empty-nan"}, "0 / 0 = nan"),
    ("kept_iou", _iou_with(lambda g, t: g > t, empty=0.0), "values", {"empty-zero"},
     "agree perfectly"),
    ("kept_iou", iou_precision, "values", {"precision"}, "precision"),
    ("kept_iou", iou_recall, "values", {"recall"}, "recall"),
    ("kept_iou", iou_dice, "values", {"dice"}, "Dice"),
    ("kept_iou", iou_soft, "values", {"soft-iou"}, "threshold the gate first"),
    ("kept_iou", iou_batch, "values", {"batch-iou"}, "per sample"),
    ("kept_iou", _iou_with(lambda g, t: g >= t), "values", {"geq"}, "strict comparison"),
    ("kept_iou", _iou_with(lambda g, t: g > 0.5), "values", {"threshold-ignored"},
     "threshold argument is ignored"),
    ("kept_iou", _iou_with(lambda g, t: torch.sigmoid(g) > t), "values", {"sigmoid-again"},
     "already a sigmoid"),
    ("kept_iou", _iou_with(lambda g, t: g > t, dtype=torch.float32), "values", {"dtype"},
     "hard-coded dtype"),
    ("kept_iou", iou_scalar, "shape", {"shape"}, "One number for the whole batch"),
    ("kept_iou", iou_keepdim, "shape", {"shape"}, "without trailing dims"),
    ("kept_iou", _iou_with(lambda g, t: g > t, reduce=(2, 3)), "shape", {"shape"},
     "dims 1, 2, 3"),
    ("kept_iou", _iou_with(lambda g, t: g > t, reduce=(3,)), "shape", {"shape"},
     "Some positions were not counted"),
    ("kept_iou", iou_item_loop, "device", {"device"}, ".item()"),
    ("kept_iou", iou_view, "device", {"device", "layout"}, ".reshape()"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise, obj, family, labels, hint", WRONG,
                         ids=[f"{w[0]}-{i}-{w[3] and sorted(w[3])[0]}" for i, w in enumerate(WRONG)])
def test_wrong_implementation_fails_its_family_with_its_hint(exercise, obj, family, labels, hint,
                                                              seed):
    failure = first_failure(exercise, obj, seed)
    assert failure is not None, "a wrong implementation passed every family"
    assert (failure.family, failure.mistake) in {(family, label) for label in labels}, \
        (failure.family, failure.mistake, failure.message)
    assert hint.lower() in failure.message.lower(), failure.message


def test_kept_mask_has_no_gradient_or_device_family_and_kept_iou_no_gradient():
    assert EXERCISES["kept_mask"].families == ("shape", "values")
    assert EXERCISES["kept_iou"].families == ("shape", "values", "device")


def test_hints_never_show_the_inputs():
    """A failure names the shapes and the threshold, never the tensors' values."""
    failure = first_failure("kept_iou", iou_precision, SEEDS[0])
    assert "tensor(" not in failure.message and "[[" not in failure.message
