"""Mutants of lesson 03's ``kept_iou(gate, mask, threshold=0.5)``: (N, 1, H, W) float and bool ->
(N,), the IoU of the kept positions (gate > threshold) with the mask, 1 where both are empty.

Counting kept positions invites data-dependent operations (boolean-mask indexing, ``nonzero``,
``masked_select``, ``unique``): correct code with them runs on any GPU but not on the meta device,
so the device family runs it on the simulated device. The wrong ones here make a device mistake
in such code, which the simulation must still find. The lesson's other wrong answers are in
``tests/test_exercises_lesson03.py``.
"""

EXERCISE = "kept_iou"
DEFINES = "kept_iou"
PREAMBLE = """\
import torch
"""

_COUNTS = '''kept = gate > threshold
inter = (kept & mask).flatten(1).sum(dim=1).to(gate.dtype)
union = (kept | mask).flatten(1).sum(dim=1).to(gate.dtype)
nonempty = union > 0'''


def _iou(body: str) -> str:
    pad = "\n    "
    return f'''
def kept_iou(gate, mask, threshold=0.5):
    {pad.join(body.splitlines())}
'''


MUTANTS = [
    # --- device mistakes in data-dependent code -----------------------------------------------
    dict(name="mask-index-cpu-ones", bug="device", family="device", mistake="device",
         hint="device=x.device",
         what="fills torch.ones(N) made on the CPU through a boolean mask",
         source=_iou(_COUNTS + '''
out = torch.ones(gate.shape[0], dtype=gate.dtype)
out[nonempty] = inter[nonempty] / union[nonempty]
return out''')),
    dict(name="mask-index-assert", bug="device", family="device", mistake="device",
         hint="moves data to the host",
         what="the boolean-mask IoU, checked with an assert on a tensor (a read on the host)",
         source=_iou(_COUNTS + '''
out = torch.ones_like(union)
out[nonempty] = inter[nonempty] / union[nonempty]
assert (out <= 1).all(), "an IoU above 1"
return out''')),
    dict(name="mask-index-cpu", bug="device", family="device", mistake="device",
         hint="copies data from x's device to the CPU",
         what="the boolean-mask IoU, returned with .cpu()",
         source=_iou(_COUNTS + '''
out = torch.ones_like(union)
out[nonempty] = inter[nonempty] / union[nonempty]
return out.cpu()''')),
    dict(name="nonzero-numpy", bug="device", family="device", mistake="device",
         hint="moves data to the host",
         what="counts per sample with numpy.bincount on nonzero()'s rows",
         source=_iou('''import numpy as np
n = gate.shape[0]
kept = gate > threshold
inter = np.bincount((kept & mask).nonzero()[:, 0].numpy(), minlength=n)
union = np.bincount((kept | mask).nonzero()[:, 0].numpy(), minlength=n)
iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
return torch.from_numpy(iou).to(gate.dtype)''')),
    dict(name="masked-select-tensor-of-list", bug="device", family="device", mistake="device",
         hint="moves data to the host",
         what="an IoU per sample with masked_select, gathered into torch.tensor([...])",
         source=_iou('''ious = []
for g, m in zip(gate, mask):
    kept = g > threshold
    inter = kept.masked_select(m).sum()
    union = kept.sum() + m.sum() - inter
    ious.append(inter / union if union > 0 else 1.0)
return torch.tensor(ious, dtype=gate.dtype)''')),
    # --- correct, in different styles ---------------------------------------------------------
    dict(name="mask-index", correct=True,
         style="out[nonempty] = inter[nonempty] / union[nonempty] into torch.ones_like (the "
               "issue's false rejection: boolean-mask indexing)",
         source=_iou(_COUNTS + '''
out = torch.ones_like(union)
out[nonempty] = inter[nonempty] / union[nonempty]
return out''')),
    dict(name="nonzero-bincount", correct=True,
         style="torch.bincount of nonzero()'s sample index, with minlength=N",
         source=_iou('''n = gate.shape[0]
kept = gate > threshold
inter = torch.bincount((kept & mask).nonzero()[:, 0], minlength=n).to(gate.dtype)
union = torch.bincount((kept | mask).nonzero()[:, 0], minlength=n).to(gate.dtype)
return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))''')),
    dict(name="masked-select-stack", correct=True,
         style="per sample, masked_select of the kept positions inside the object; torch.stack",
         source=_iou('''ious = []
for g, m in zip(gate, mask):
    kept = g > threshold
    inter = kept.masked_select(m).sum().to(gate.dtype)
    union = kept.sum().to(gate.dtype) + m.sum().to(gate.dtype) - inter
    ious.append(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)))
return torch.stack(ious)''')),
    dict(name="unique-counts", correct=True,
         style="torch.unique(return_counts=True) of the rows of nonzero(), scattered into "
               "gate.new_zeros",
         source=_iou('''n = gate.shape[0]
kept = gate > threshold

def per_sample(hits):
    rows, counts = hits.flatten(1).nonzero()[:, 0].unique(return_counts=True)
    out = gate.new_zeros(n)
    out[rows] = counts.to(gate.dtype)
    return out

inter, union = per_sample(kept & mask), per_sample(kept | mask)
return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))''')),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.kept_iou)",
         source="from scse_ref import kept_iou\n"),
]
