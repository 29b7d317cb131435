"""Lesson 06's own exercises (``smooth_sse``, ``fused_scse``).

``smooth_sse``: the notebook gives a module with four device and dtype bugs. Each bug alone (and
all four together) must fail the device family with the hint that names it, and the fixed module
must pass every family: this is what makes the exercise gradable. ``fused_scse``: the solution
passes every family, wrong aggregations fail with their hint. Every verdict is taken with two seeds.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import scse_ref
from autograder import EXERCISES
from autograder import run_check
from tests.helpers import SEEDS, first_failure, notebook_answer



# ----------------------------------------------------------------------------- smooth_sse

#: The given module of the notebook, with a slot per bug: (buggy line, fixed line).
SOURCE = '''
class SmoothSpatialSE(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)
        k = torch.tensor([1.0, 2.0, 1.0])
        {attribute}
        self.last_gate_mean = None

    def gate(self, x):
        s = self.conv(x)
        h, w = x.shape[-2:]
        {ones}
        smooth = F.conv2d(s, self.kernel, padding=1) / F.conv2d(ones, self.kernel, padding=1)
        g = torch.sigmoid({cast})
        {item}
        return g

    def forward(self, x):
        return x * self.gate(x)
'''
BUGS = {
    "attribute": ("self.kernel = (torch.outer(k, k) / 16).view(1, 1, 3, 3)",
                  'self.register_buffer("kernel", (torch.outer(k, k) / 16).view(1, 1, 3, 3))'),
    "ones": ("ones = torch.ones(1, 1, h, w)", "ones = torch.ones_like(s[:1])"),
    "cast": ("smooth.float()", "smooth"),
    "item": ("self.last_gate_mean = g.mean().item()", "pass"),
}


def build(*bugs: str):
    """The module with the named bugs, every other line fixed."""
    src = SOURCE.format(**{k: (bad if k in bugs else good) for k, (bad, good) in BUGS.items()})
    namespace = {"torch": torch, "nn": nn, "F": F}
    exec(src, namespace)
    return namespace["SmoothSpatialSE"]


class SmoothSpatialSEAlt(nn.Module):
    """Another correct fix: the kernel built from x's dtype in a helper, x.new_ones."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)
        self.register_buffer("kernel", scse_ref.binomial_kernel())

    def gate(self, x):
        s = self.conv(x)
        ones = s.new_ones(1, 1, *s.shape[-2:])
        k = self.kernel
        return torch.sigmoid(F.conv2d(s, k, padding=1) / F.conv2d(ones, k, padding=1))

    def forward(self, x):
        return x * self.gate(x)


@pytest.mark.parametrize("obj", [build(), notebook_answer("06_gpu_ready_attention", "smooth_sse"),
                                 SmoothSpatialSEAlt, scse_ref.SmoothSpatialSE],
                         ids=["fixed", "notebook", "other-style", "reference"])
@pytest.mark.parametrize("seed", SEEDS)
def test_smooth_sse_fixes_pass_every_family(obj, seed):
    assert first_failure("smooth_sse", obj, seed) is None


@pytest.mark.parametrize("bugs, label, hint", [
    (("attribute",), "plain-tensor", "register_buffer"),
    (("ones",), "device", "mixes devices"),
    (("cast",), "dtype", "the output is float32 for a bfloat16 input"),
    (("item",), "device", "moves data to the host"),
    (tuple(BUGS), "plain-tensor", "plain attributes (self.kernel)"),
], ids=["plain-attribute", "cpu-ones", "float-cast", "item", "all-four"])
@pytest.mark.parametrize("seed", SEEDS)
def test_each_bug_of_the_given_module_fails_the_device_family(bugs, label, hint, seed):
    out = run_check("smooth_sse", "device", build(*bugs), seed=seed)
    assert not out.passed and out.mistake == label, (out.mistake, out.message)
    assert hint in out.message, out.message
    assert out.ran_on is None or out.ran_on in ("gpu", "simulated")


def test_the_item_bug_is_found_on_a_gpu_too(monkeypatch):
    """On a GPU .item() runs (it synchronises); the exercise adds the meta-device run there.
    Simulated here: the GPU run is replaced by a pass, as if the output had matched."""
    from autograder.judge import device

    monkeypatch.setattr(device, "gpu_available", lambda: True)
    monkeypatch.setattr(device, "_on_gpu", lambda ex, ctx, case: None)
    monkeypatch.setattr(device, "_dtypes", lambda ex, ctx, case, dev: None)
    monkeypatch.setattr(device, "_layouts", lambda ex, ctx, case, dev: None)
    out = run_check("smooth_sse", "device", build("item"), seed=1)
    assert not out.passed and "moves data to the host" in out.message, out.message
    assert run_check("smooth_sse", "device", build(), seed=1).passed


@pytest.mark.parametrize("bugs, family, label, hint", [
    (("attribute",), "values", "error", 'register_buffer("kernel"'),
    (("cast",), "values", "dtype", "float32 precision"),
    (("ones",), "values", "error", "dtype other than float32"),
])
def test_bugs_that_also_change_float64_results_fail_there_with_a_hint(bugs, family, label, hint):
    out = run_check("smooth_sse", family, build(*bugs), seed=SEEDS[0])
    assert not out.passed and out.mistake == label, (out.mistake, out.message)
    assert hint in out.message


def test_the_item_bug_alone_keeps_values_and_gradients():
    """.item() changes nothing but the speed: only the device family finds it."""
    for family in ("shape", "values", "gradient"):
        assert run_check("smooth_sse", family, build("item"), seed=SEEDS[0]).passed, family


def _smooth_variant(gate):
    class Wrong(SmoothSpatialSEAlt):
        pass
    Wrong.gate = gate
    Wrong.__name__ = "SmoothSpatialSE"
    return Wrong


def _blur(m, s):
    return F.conv2d(s, m.kernel, padding=1)


class KernelParameter(SmoothSpatialSEAlt):
    def __init__(self, channels):
        super().__init__(channels)
        del self.kernel
        self.kernel = nn.Parameter(scse_ref.binomial_kernel())


class KernelNotPersistent(SmoothSpatialSEAlt):
    def __init__(self, channels):
        super().__init__(channels)
        self.register_buffer("kernel", scse_ref.binomial_kernel(), persistent=False)


@pytest.mark.parametrize("wrong, label, hint", [
    (_smooth_variant(lambda m, x: torch.sigmoid(_blur(m, m.conv(x)))), "no-normalisation",
     "border"),
    (_smooth_variant(lambda m, x: _blur(m, torch.sigmoid(m.conv(x)))
                     / _blur(m, torch.ones_like(m.conv(x)))), "sigmoid-first",
     "sigmoid comes before"),
    (_smooth_variant(lambda m, x: torch.sigmoid(m.conv(x))), "not-smoothed", "plain sSE"),
    (KernelParameter, "parameters", "buffer"),
    (KernelNotPersistent, "error", "persistent"),
], ids=["no-normalisation", "sigmoid-first", "not-smoothed", "kernel-parameter",
        "not-persistent"])
def test_smooth_sse_wrong_fixes_are_named(wrong, label, hint):
    for seed in SEEDS:
        out = first_failure("smooth_sse", wrong, seed)
        assert out is not None and out.mistake == label, (out and out.mistake, out and
                                                          out.message)
        assert hint in out.message, out.message


def test_gradcheck_sends_the_buffer_with_the_parameters():
    """gradcheck rebuilds the module with perturbed weights: its ``kernel`` buffer must travel
    with them, or the module fails to load ("Missing key(s)")."""
    outcome = run_check("smooth_sse", "gradient", build(), seed=3)
    assert outcome.passed, outcome.message


# ----------------------------------------------------------------------------- fused_scse

FusedSCSE = notebook_answer("06_gpu_ready_attention", "fused_scse")


class FusedSCSEAddcmul(FusedSCSE):
    """Another correct form: the same sum, written with addcmul."""

    def forward(self, x):
        gate_c, gate_s = self.cse.gate(x), self.sse.gate(x)
        return torch.addcmul(x * gate_s, x, gate_c)


@pytest.mark.parametrize("obj", [FusedSCSE, FusedSCSEAddcmul])
@pytest.mark.parametrize("seed", SEEDS)
def test_fused_scse_solutions_pass_every_family(obj, seed):
    assert first_failure("fused_scse", obj, seed) is None


def _fused(forward):
    class Wrong(FusedSCSE):
        pass
    Wrong.forward = forward
    Wrong.__name__ = "FusedSCSE"
    return Wrong


def _g(m, x):
    return m.cse.gate(x), m.sse.gate(x)


@pytest.mark.parametrize("wrong, label, hint", [
    (_fused(lambda m, x: x * _g(m, x)[0] * _g(m, x)[1]), "gate-product", "multiplied"),
    (_fused(lambda m, x: x * (_g(m, x)[0] + _g(m, x)[1]) / 2), "gate-mean", "halved"),
    (_fused(lambda m, x: x * torch.maximum(*_g(m, x))), "gate-max", "maximum"),
    (_fused(lambda m, x: x * (m.cse(x) + m.sse(x))), "outputs-not-gates", "already"),
    (_fused(lambda m, x: x + x * (_g(m, x)[0] + _g(m, x)[1])), "residual", "no shortcut"),
    (_fused(lambda m, x: x * _g(m, x)[0]), "channel-only", "spatial gate"),
], ids=["product", "mean", "max", "outputs", "residual", "channel-only"])
def test_fused_scse_mistakes_are_named(wrong, label, hint):
    for seed in SEEDS:
        out = first_failure("fused_scse", wrong, seed)
        assert out is not None and out.mistake == label, (out and out.mistake, out and
                                                          out.message)
        assert hint in out.message


def test_fused_scse_with_a_detached_gate_fails_the_gradient_family():
    wrong = _fused(lambda m, x: x * (m.cse.gate(x).detach() + m.sse.gate(x)))
    out = first_failure("fused_scse", wrong, SEEDS[0])
    assert out.family == "gradient" and out.mistake in ("detached", "no-grad"), out.message


def test_fused_scse_that_is_the_reference_is_named_by_the_grader():
    """The reference SCSE is the answer's oracle: isolated grading flags an answer made of it."""
    assert EXERCISES["fused_scse"].reference_qualnames() == {"scse_ref.modules.SCSE"}
    assert EXERCISES["smooth_sse"].reference_qualnames() == {"scse_ref.smooth.SmoothSpatialSE"}
