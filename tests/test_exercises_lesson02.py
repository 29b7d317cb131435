"""Lesson 02's own exercises: the reference passes, plausible wrong answers fail with their hint.

``reduced_width`` (the hidden width of the excitation) and ``cse_params`` (the parameter count of
a cSE block) are numbers: one ``values`` family, no random draw. ``eca`` (ECA-Net's channel
attention) is a module: correct implementations in several styles pass every family with two
seeds; plausible wrong ones fail in the family they belong to, with their hint. The contract exercises of the
lesson (``excitation``, ``channel_se``) are covered by tests/test_mutation.py.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import scse_ref
from autograder import run_check
from autograder.exercises import get
from tests.helpers import SEEDS, first_failure


def width(c, r):
    return max(1, c // r)


def cse_formula(c, r):
    return 2 * c * width(c, r) + width(c, r) + c


def cse_counted(c, r):
    return sum(p.numel() for p in scse_ref.ChannelSE(c, r).parameters())


@pytest.mark.parametrize("exercise, answer", [
    ("reduced_width", width),
    ("reduced_width", scse_ref.reduced_channels),
    ("reduced_width", lambda c, r: max(1, int(c / r))),
    ("reduced_width", lambda c, r: max(1, math.floor(c / r))),
    ("cse_params", cse_formula),
    ("cse_params", cse_counted),
], ids=["max-floor", "reference", "int-of-division", "math-floor", "formula", "counted"])
def test_correct_answers_pass(exercise, answer):
    assert run_check(exercise, "basic", answer).passed
    outcome = run_check(exercise, "values", answer)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("answer, label, phrase", [
    (lambda c, r: c // r, "plain-floor", "is 0 when C < reduction"),
    (lambda c, r: max(1, math.ceil(c / r)), "ceil", "rounds C / r up"),
    (lambda c, r: math.ceil(c / r), "ceil", "rounds C / r up"),
    (lambda c, r: max(1, round(c / r)), "ceil", "round()"),
    (lambda c, r: max(1, c / r), "float-division", "integer division"),
    (lambda c, r: c / r, "float-division", "integer division"),
    (lambda c, r: min(1, c // r), "min", "min(1, ...)"),
    (lambda c, r: scse_ref.make_divisible(c / r, 8, round_limit=0.0), "timm-rounding",
     "multiple of 8"),
    (lambda c, r: max(1, c // r) + 1, "values", "expected"),
], ids=["plain-floor", "ceil", "ceil-no-guard", "round", "float", "float-no-guard", "min",
        "timm", "off-by-one"])
def test_wrong_widths_fail_with_their_hint(answer, label, phrase):
    outcome = run_check("reduced_width", "values", answer)
    assert not outcome.passed
    assert outcome.mistake == label, outcome.message
    assert phrase in outcome.message, outcome.message


@pytest.mark.parametrize("answer, label, phrase", [
    (lambda c, r: 2 * c * width(c, r), "no-bias", "weights only"),
    (lambda c, r: 2 * c * (c // r) + c + c // r, "plain-floor", "not 0"),
    (lambda c, r: 2 * c * c / r + c + c / r, "float-division", "float division"),
    (lambda c, r: 2 * c * c // r + c + c // r, "no-floor", "skips the rounding"),
    (lambda c, r: c * width(c, r) + width(c, r), "one-layer", "one of the two"),
    (lambda c, r: c * width(c, r) + c, "one-layer", "one of the two"),
    (lambda c, r: 2 * c * width(c, r) + c, "bias-of-one-layer", "Both Linear layers"),
    (lambda c, r: 2 * c * c + 2 * c, "full-width", "C -> C"),
    (lambda c, r: cse_formula(c, r) + 1, "values", "expected"),
], ids=["no-bias", "plain-floor", "float", "no-floor", "fc1-only", "fc2-only", "one-bias",
        "full-width", "off-by-one"])
def test_wrong_cse_counts_fail_with_their_hint(answer, label, phrase):
    outcome = run_check("cse_params", "values", answer)
    assert not outcome.passed
    assert outcome.mistake == label, outcome.message
    assert phrase in outcome.message, outcome.message


def test_unanswered_count_says_not_implemented():
    def cse_params(channels, reduction):
        raise NotImplementedError()

    outcome = run_check("cse_params", "basic", cse_params)
    assert not outcome.passed and "not implemented yet" in outcome.message


def test_reference_counts_are_the_lessons_numbers():
    """SE-ResNet-50 at r = 16 is timm's seresnet50 (28,088,024 parameters) and, at r = 2, the
    paper's 45.7M; the seed's C // 16 for C = 8 is 0 where the reference keeps one unit."""
    stages = [(256, 3), (512, 4), (1024, 6), (2048, 3)]
    cse = get("cse_params").expected

    def se_resnet50(r):
        return 25_557_032 + sum(n * cse(c, r) for c, n in stages)

    assert se_resnet50(16) == 28_088_024
    assert round(se_resnet50(2) / 1e6, 1) == 45.7
    assert get("reduced_width").expected(8, 16) == 1


# ----------------------------------------------------------------------------------------- eca

def eca_kernel(channels, gamma=2, b=1):
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


def eca_class(gate, kernel=eca_kernel, bias=False, padding=lambda k: (k - 1) // 2,
              padding_mode="zeros"):
    """An ECA class whose gate(self, x) is ``gate`` and whose convolution is built from these."""
    class ECA(nn.Module):
        def __init__(self, channels):
            super().__init__()
            k = kernel(channels)
            self.conv = nn.Conv1d(1, 1, k, padding=padding(k), bias=bias,
                                  padding_mode=padding_mode)

        def gate(self, x):
            return gate(self, x)

        def forward(self, x):
            return x * self.gate(x)
    return ECA


def _gate(self, x):
    n, c = x.shape[:2]
    return torch.sigmoid(self.conv(x.mean(dim=(2, 3)).view(n, 1, c))).view(n, c, 1, 1)


NOTEBOOK_ECA = eca_class(_gate)


class UnfoldECA(nn.Module):
    """Correct another way: the window sum written with unfold, the weight a plain Conv1d's."""

    def __init__(self, channels):
        super().__init__()
        k = eca_kernel(channels)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)

    def gate(self, x):
        z = x.flatten(2).mean(-1)                                        # (N, C)
        k = self.conv.kernel_size[0]
        windows = F.pad(z, (k // 2, k // 2)).unfold(1, k, 1)             # (N, C, k)
        logits = (windows * self.conv.weight.reshape(1, 1, k)).sum(-1)
        return torch.sigmoid(logits)[:, :, None, None]

    def forward(self, x):
        return self.gate(x) * x


def _gate_functional(self, x):
    z = x.mean(dim=(-2, -1)).unsqueeze(1)                                # (N, 1, C)
    k = self.conv.weight.shape[-1]
    y = F.conv1d(z, self.conv.weight, padding=(k - 1) // 2)
    return y.sigmoid().transpose(1, 2).unsqueeze(-1)                     # (N, C, 1, 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("obj", [scse_ref.ECA, NOTEBOOK_ECA, UnfoldECA, eca_class(_gate_functional)],
                         ids=["reference", "notebook", "unfold", "functional"])
def test_correct_eca_passes_every_family(obj, seed):
    assert run_check("eca", "basic", obj, seed=seed).passed
    failure = first_failure("eca", obj, seed)
    assert failure is None, failure.message


def _gate_max(self, x):
    n, c = x.shape[:2]
    return torch.sigmoid(self.conv(x.amax(dim=(2, 3)).view(n, 1, c))).view(n, c, 1, 1)


def _gate_no_sigmoid(self, x):
    n, c = x.shape[:2]
    return self.conv(x.mean(dim=(2, 3)).view(n, 1, c)).view(n, c, 1, 1)


def _gate_along_batch(self, x):
    n, c = x.shape[:2]
    z = x.mean(dim=(2, 3)).t().unsqueeze(1)                              # (C, 1, N): wrong axis
    return torch.sigmoid(self.conv(z)).squeeze(1).t().reshape(n, c, 1, 1)


def _gate_channels_as_conv_channels(self, x):
    n, c = x.shape[:2]
    return torch.sigmoid(self.conv(x.mean(dim=(2, 3)).unsqueeze(-1))).view(n, c, 1, 1)


def _gate_flipped(self, x):
    n, c = x.shape[:2]
    z = x.mean(dim=(2, 3)).view(n, 1, c)
    k = self.conv.weight.shape[-1]
    return torch.sigmoid(F.conv1d(z, self.conv.weight.flip(-1), padding=k // 2)).view(n, c, 1, 1)


def _gate_softmax(self, x):
    n, c = x.shape[:2]
    return self.conv(x.mean(dim=(2, 3)).view(n, 1, c)).softmax(dim=-1).view(n, c, 1, 1)


def _gate_detached(self, x):
    return _gate(self, x).detach()


WRONG_ECA = [
    ("even-kernel", eca_class(_gate, kernel=lambda c: int(abs((math.log2(c) + 1) / 2)),
                              padding=lambda k: k // 2),
     ("values", "shape"), {"parameters", "error"}, ""),
    ("fixed-k3", eca_class(_gate, kernel=lambda c: 3), ("values",), {"parameters"},
     "derived from C"),
    ("natural-log", eca_class(_gate, kernel=lambda c: (lambda t: t if t % 2 else t + 1)(
        int(abs((math.log(c) + 1) / 2)))),
     ("values",), {"parameters"}, "log2"),
    ("conv-bias", eca_class(_gate, bias=True), ("values",), {"parameters"}, "no bias"),
    ("no-padding", eca_class(_gate, padding=lambda k: 0), ("shape",), {"error"},
     "padding (k - 1) // 2"),
    ("max-pool", eca_class(_gate_max), ("values",), {"max-pool"}, "average pooling"),
    ("no-sigmoid", eca_class(_gate_no_sigmoid), ("values",), {"no-sigmoid"}, "sigmoid"),
    ("along-batch", eca_class(_gate_along_batch), ("values",), {"along-batch"},
     "along the batch"),
    ("channels-as-conv-channels", eca_class(_gate_channels_as_conv_channels), ("shape",),
     {"error"}, "(N, 1, C)"),
    ("flipped-kernel", eca_class(_gate_flipped), ("values",), {"flipped-kernel"},
     "reverse order"),
    ("circular", eca_class(_gate, padding_mode="circular"), ("values",), {"circular-padding"},
     "wrap around"),
    ("softmax", eca_class(_gate_softmax), ("values",), {"softmax"}, "softmax"),
    ("detached", eca_class(_gate_detached), ("gradient",), {"detached", "no-grad", "gradient"},
     "gradient"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, obj, families, labels, hint", WRONG_ECA,
                         ids=[w[0] for w in WRONG_ECA])
def test_wrong_eca_fails_its_family_with_its_hint(name, obj, families, labels, hint, seed):
    failure = first_failure("eca", obj, seed)
    assert failure is not None, f"{name} passed every family"
    assert failure.family in families and failure.mistake in labels, \
        (failure.family, failure.mistake, failure.message)
    assert hint.lower() in failure.message.lower(), failure.message


def test_eca_reference_kernel_sizes_are_the_notebooks():
    assert [scse_ref.ECA(c).kernel_size for c in (24, 64, 128, 256, 2048)] == \
        [eca_kernel(c) for c in (24, 64, 128, 256, 2048)] == [3, 3, 5, 5, 7]
