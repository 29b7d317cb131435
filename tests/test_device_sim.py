"""The simulated device (``autograder/wire/devicesim.py``) and where the device family uses it.

The meta device cannot run data-dependent operations (``nonzero``, boolean-mask indexing,
``masked_select``, ``unique``, ``bincount``), so correct code that uses them failed the simulated
device check although it runs on any GPU (issue #16). The device family now runs such code on a
simulated device: on the CPU with data, tracking which tensors are on the device. Each test here
pins one thing it must find (a GPU bug class) or must let through (legal GPU code).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder import run_check
from autograder.judge import device
from autograder.wire import devicesim
from autograder.wire.executor import execute
from autograder.wire.protocol import Call

GATE = torch.rand(3, 1, 4, 5, generator=torch.Generator().manual_seed(0))
MASK = torch.rand(3, 1, 4, 5, generator=torch.Generator().manual_seed(1)) < 0.5


def run(fn, *args, where=devicesim.NAME):
    return execute({"fn": fn}, Call(name="fn", args=list(args or (GATE, MASK)), device=where))


# --- what the simulation must let through -------------------------------------------------------

def counts(gate, mask):
    kept = gate > 0.5
    return (kept & mask).flatten(1).sum(1).to(gate.dtype), (kept | mask).flatten(1).sum(1).to(
        gate.dtype)


def mask_index(gate, mask):
    inter, union = counts(gate, mask)
    out = torch.ones_like(union)
    nonempty = union > 0
    out[nonempty] = inter[nonempty] / union[nonempty]
    return out


def factories_on_the_device(gate, mask):
    inter, union = counts(gate, mask)
    a = torch.ones(gate.shape[0], dtype=gate.dtype, device=gate.device)
    b = torch.zeros(gate.shape[0], device=gate.device.type)       # a string names it too
    c = torch.arange(gate.shape[0], device=str(gate.device)).to(gate.dtype)
    d = gate.new_full((gate.shape[0],), 2.0) + torch.full_like(union, 1.0)
    e = torch.tensor([1.0, 1.0, 1.0]).to(gate.device) + torch.tensor(0.0)   # 0-dim CPU constant
    f = torch.zeros(3).to(gate)                                   # follows gate's device and dtype
    return mask_index(gate, mask) * a + b + 0 * c + 0 * d + 0 * e + 0 * f


def data_dependent_ops(gate, mask):
    kept = gate > 0.5
    rows = (kept & mask).nonzero()[:, 0]
    inter = torch.bincount(rows, minlength=gate.shape[0]).to(gate.dtype)
    ids, n = torch.unique(rows, return_counts=True)
    picked = gate.masked_select(mask)
    where = torch.where(kept)
    cpu_index = torch.tensor([0, 2])                               # CPU index tensors are fine
    return inter + 0 * picked.sum() + 0 * gate[cpu_index].sum() + 0 * len(where) + 0 * n.sum()


@pytest.mark.parametrize("fn", [mask_index, factories_on_the_device, data_dependent_ops])
def test_legal_gpu_code_runs_and_its_output_is_on_the_simulated_device(fn):
    res = run(fn)
    assert res.ok, res.error
    assert res.meta[0][2] == devicesim.NAME
    torch.testing.assert_close(res.out, fn(GATE, MASK))           # the same numbers as on the CPU


def test_a_module_s_parameters_and_buffers_are_on_the_device():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)
            self.register_buffer("scale", torch.full((1, 1, 1, 1), 2.0))

        def forward(self, x):
            kept = x[x > 0.5]                                      # data-dependent
            return self.conv(x) * self.scale + 0 * kept.sum()

    res = execute({"Gate": Gate}, Call(name="Gate", init=([], {}), args=[GATE],
                                       device=devicesim.NAME))
    assert res.ok, res.error
    assert res.meta[0][2] == devicesim.NAME


# --- what the simulation must find ------------------------------------------------------------

def cpu_ones(gate, mask):
    inter, union = counts(gate, mask)
    out = torch.ones(gate.shape[0], dtype=gate.dtype)              # on the CPU
    nonempty = union > 0
    out[nonempty] = inter[nonempty] / union[nonempty]
    return out


def cpu_mix(gate, mask):
    return mask_index(gate, mask) + torch.zeros(gate.shape[0])


def explicit_cpu_device(gate, mask):
    return mask_index(gate, mask) * torch.ones(gate.shape[0], device="cpu")


def item(gate, mask):
    return mask_index(gate, mask) * mask_index(gate, mask).sum().item()


def if_on_a_tensor(gate, mask):
    out = mask_index(gate, mask)
    return out if out.max() <= 1 else out.clamp(max=1)


def to_cpu(gate, mask):
    return mask_index(gate, mask).to("cpu")


def dot_cpu(gate, mask):
    return mask_index(gate, mask).cpu()


def tolist(gate, mask):
    return torch.tensor(mask_index(gate, mask).tolist())


def numpy(gate, mask):
    return torch.from_numpy(mask_index(gate, mask).numpy())


def tensor_of_device_scalars(gate, mask):
    out = mask_index(gate, mask)
    return torch.stack([out[0], out[1]]) + torch.tensor([out[0], out[1]]).sum()


def cpu_buffer_filled(gate, mask):
    out = torch.empty(gate.shape[0])
    out[:] = mask_index(gate, mask)
    return out


def plain_cpu_result(gate, mask):
    mask_index(gate, mask)
    return torch.zeros(gate.shape[0])                              # never touches the device


@pytest.mark.parametrize("fn, phrase", [
    (cpu_ones, "same device"), (cpu_mix, "same device"), (explicit_cpu_device, "same device"),
    (item, "to the host"), (if_on_a_tensor, "to the host"), (numpy, "to the host"),
    (tensor_of_device_scalars, "to the host"), (to_cpu, "out of the simulated device"),
    (dot_cpu, "out of the simulated device"), (tolist, "out of the simulated device"),
    (cpu_buffer_filled, "out of the simulated device"),
])
def test_each_gpu_bug_class_raises_where_it_happens(fn, phrase):
    assert fn(GATE, MASK) is not None                             # fine on the CPU
    res = run(fn)
    assert not res.ok and res.error["type"] == "SimulatedDeviceError", res.error
    assert phrase in res.error["message"], res.error["message"]


def test_an_output_off_the_device_is_reported_on_the_cpu():
    res = run(plain_cpu_result)
    assert res.ok and res.meta[0][2] == "cpu"


# --- when the device family uses it -------------------------------------------------------------

def meta_error(fn):
    res = run(fn, torch.empty(3, 1, 4, 5, device="meta"),
              torch.empty(3, 1, 4, 5, device="meta", dtype=torch.bool), where="meta")
    assert not res.ok
    return res.error


@pytest.mark.parametrize("fn", [
    mask_index, data_dependent_ops,
    lambda g, m: g.masked_select(m), lambda g, m: g.flatten().unique(),
    lambda g, m: torch.repeat_interleave(m.flatten().long()),
    lambda g, m: torch.bincount(m.flatten().long()),
], ids=["mask-index", "nonzero-bincount", "masked_select", "unique", "repeat_interleave",
        "bincount"])
def test_the_meta_device_s_data_dependent_failures_are_recognised(fn):
    assert device.meta_cannot_run(meta_error(fn)), meta_error(fn)


@pytest.mark.parametrize("fn", [item, dot_cpu, tolist, numpy, cpu_mix, if_on_a_tensor],
                         ids=lambda f: f.__name__)
def test_device_mistakes_on_meta_are_not_mistaken_for_data_dependence(fn):
    """A host transfer or a mix of devices stays a failure: the fallback is for operations the
    meta device cannot run, nothing else."""
    plain = {
        "item": lambda g, m: g * g.sum().item(), "dot_cpu": lambda g, m: g.cpu(),
        "tolist": lambda g, m: torch.tensor(g.tolist()), "numpy": lambda g, m: g.numpy(),
        "cpu_mix": lambda g, m: g + torch.ones(g.shape), "if_on_a_tensor":
            lambda g, m: g if g.max() <= 1 else g.clamp(max=1),
    }[fn.__name__]
    assert not device.meta_cannot_run(meta_error(plain))


def test_the_issue_s_kept_iou_passes_the_device_family_and_its_cpu_twin_fails():
    def kept_iou(gate, mask, threshold=0.5):
        kept = gate > threshold
        inter = (kept & mask).flatten(1).sum(dim=1).to(gate.dtype)
        union = (kept | mask).flatten(1).sum(dim=1).to(gate.dtype)
        out = torch.ones_like(union)
        nonempty = union > 0
        out[nonempty] = inter[nonempty] / union[nonempty]
        return out

    def cpu_twin(gate, mask, threshold=0.5):
        return kept_iou(gate, mask, threshold).cpu()

    with device.simulated():
        good = run_check("kept_iou", "device", kept_iou, seed=3)
        bad = run_check("kept_iou", "device", cpu_twin, seed=3)
    assert good.passed and good.ran_on == "simulated", good.message
    assert "simulated device" in good.message
    assert not bad.passed and bad.mistake == "device" and "simulated GPU" in bad.message


# --- one place decides where the device family runs ---------------------------------------------

def test_simulated_forces_the_simulation_and_nests():
    real = torch.cuda.is_available()
    with device.simulated():
        assert not device.gpu_available()
        with device.simulated():
            assert not device.gpu_available()
        assert not device.gpu_available()
    assert device.gpu_available() == real


def test_where_a_device_verdict_ran_is_asked_of_gpu_available(monkeypatch):
    """The verdict's ``ran_on`` and the family's own choice both follow
    ``device.gpu_available``: patching it (as a test that fakes a GPU does) changes both."""
    class Attribute(nn.Module):                  # fails at the attribute scan, before any run
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, 1, kernel_size=1)
            self.scale = torch.ones(1)

        def gate(self, x):
            return torch.sigmoid(self.conv(x))

        def forward(self, x):
            return x * self.gate(x) * self.scale

    monkeypatch.setattr(device, "gpu_available", lambda: True)
    assert run_check("spatial_se", "device", Attribute, seed=1).ran_on == "gpu"
    monkeypatch.setattr(device, "gpu_available", lambda: False)
    assert run_check("spatial_se", "device", Attribute, seed=1).ran_on == "simulated"


# --- the CUDA branch's logic, with the CPU standing in for the GPU -------------------------------

def _registry():
    from tests.mutants import registry
    return registry


@pytest.mark.parametrize("mutant_id", [
    "global_avg_pool/flatten-mean", "excitation/relu-by-mask", "channel_se/reference",
    "spatial_se/used-channels-nonzero", "scse/max-by-mask", "kept_iou/mask-index",
    "kept_iou/reference"])
def test_the_gpu_run_passes_correct_code(mutant_id):
    """The GPU path (outputs and gradients against the CPU reference, autocast) had never run:
    on the CPU it must pass correct code. kept_iou has no gradient: asking its output for a
    backward made every correct kept_iou fail there."""
    from autograder.exercises import get
    from autograder.judge.context import Context
    from autograder.judge.subjects import LocalSubject

    mutant = _registry().by_id(mutant_id)
    ex = get(mutant.exercise)
    ctx = Context(LocalSubject({ex.name: mutant.build()}), ex.name, 5)
    for case in device.device_cases(ex):
        device._on_gpu(ex, ctx, case, device="cpu", autocast_dtypes=("bfloat16",))


@pytest.mark.parametrize("mutant_id", ["global_avg_pool/max-pool", "excitation/softmax-gate",
                                       "kept_iou/reference"])
def test_the_gpu_run_fails_code_whose_values_are_wrong(mutant_id):
    from autograder.exercises import get
    from autograder.judge.context import Context
    from autograder.judge.subjects import LocalSubject
    from autograder.judge.verdict import CheckFailed

    def dice(gate, mask, threshold=0.5):                   # a Dice score instead of the IoU
        kept = gate > threshold
        inter = (kept & mask).flatten(1).sum(1).to(gate.dtype)
        total = kept.flatten(1).sum(1).to(gate.dtype) + mask.flatten(1).sum(1).to(gate.dtype)
        return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))

    mutant = _registry().by_id(mutant_id)
    ex = get(mutant.exercise)
    obj = dice if mutant_id == "kept_iou/reference" else mutant.build()
    ctx = Context(LocalSubject({ex.name: obj}), ex.name, 5)
    with pytest.raises(CheckFailed, match="differs from the CPU reference"):
        device._on_gpu(ex, ctx, device.device_cases(ex)[0], device="cpu",
                       autocast_dtypes=("bfloat16",))
