"""Lesson 02: channel squeeze-and-excitation (the excitation MLP and the cSE block)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import scse_ref

from ..judge.exercise import Case, Exercise
from ..judge.hints import Mistake


def keep_units_alive(fc1: torch.nn.Linear, z: torch.Tensor) -> None:
    """Shift ``fc1``'s bias so that every hidden unit is active for half the samples of ``z``.

    With random weights a unit can be negative for every sample; after the ReLU it is then dead,
    and wrong code (max instead of average pooling, a missing ReLU) can give the same output as
    right code. Measured once: C = 8, r = 4, both hidden units dead. Centring each unit's
    pre-activation on its median over the batch makes it positive for some samples and negative
    for others, for any draw.
    """
    with torch.no_grad():
        pre = F.linear(z.to(fc1.weight.dtype), fc1.weight)       # (N, hidden) without bias
        fc1.bias.copy_(-pre.median(dim=0).values + 1e-3 * pre.std(dim=0, correction=0).clamp_min(1e-3))


def keep_se_alive(cse: scse_ref.ChannelSE, x: torch.Tensor) -> None:
    """:func:`keep_units_alive` for the cSE unit ``cse`` fed the maps ``x``."""
    keep_units_alive(cse.excitation.fc1, scse_ref.global_avg_pool(x))


def keep_block_se_alive(block: torch.nn.Module, x: torch.Tensor) -> None:
    """:func:`keep_se_alive` for the SE unit of a residual block of ``scse_ref`` (``block.se``),
    which sees the block's residual branch of ``x`` (``block.residual``), not ``x``."""
    with torch.no_grad():
        branch = block.residual(x.to(block.conv1.weight.dtype))
    keep_se_alive(block.se, branch)


def _mlp(p, z, act=F.relu, gate=torch.sigmoid):
    """The excitation of probe ``p``'s reference weights with other activations (for mistakes)."""
    e = p.ref if isinstance(p.ref, scse_ref.Excitation) else p.ref.excitation
    return gate(F.linear(act(F.linear(z, e.fc1.weight, e.fc1.bias)), e.fc2.weight, e.fc2.bias))


def _sums_to_one(out: torch.Tensor, dim: int) -> bool:
    total = out.double().sum(dim=dim)
    return out.shape[dim] > 1 and bool(torch.allclose(total, torch.ones_like(total), atol=1e-4))


_SOFTMAX = ("The weights sum to 1 over the channels: a softmax instead of a sigmoid. Channels "
            "do not compete for attention; each gets its own gate in (0, 1) from a sigmoid.")


class ExcitationExercise(Exercise):
    id = "excitation"
    name = "Excitation"
    signature = "Excitation(channels, reduction=16) with self.fc1, self.fc2; forward(z): (N, C) " \
                "-> (N, C)"
    title = "The excitation MLP"
    shape_cases = (
        Case(((16,), {"reduction": 4}), ((3, 16),)),
        Case(((8,), {"reduction": 16}), ((1, 8),), label="C < reduction, N=1"),
        Case(((10,), {"reduction": 4}), ((2, 10),), label="C not divisible by reduction"),
        Case(((32,), {}), ((5, 32),), label="default reduction"),
    )
    value_cases = (
        Case(((16,), {"reduction": 4}), ((4, 16),)),
        Case(((10,), {"reduction": 4}), ((4, 10),), label="C not divisible by reduction"),
        Case(((6,), {"reduction": 16}), ((4, 6),), label="C < reduction"),
    )
    grad_cases = (Case(((12,), {"reduction": 4}), ((3, 12),)),)
    device_case = Case(((16,), {"reduction": 4}), ((4, 16),))
    live_params = ("fc1.weight", "fc1.bias")
    error_hints = (
        (r"must be tuple of ints,? ?but (got|found element of type) float|"
         r"received an invalid combination of arguments|"
         r"'float' object cannot be interpreted as an integer",
         "A layer size is not an int: channels / reduction is a float. Use integer division "
         "(channels // reduction), with at least one unit."),
    )
    mistakes = (
        Mistake("softmax", _SOFTMAX, lambda p: _mlp(p, p.x, gate=lambda t: t.softmax(dim=1))),
        Mistake("softmax", _SOFTMAX, test=lambda p, out: _sums_to_one(out, 1)),
        Mistake("no-sigmoid", "The output is not squashed into (0, 1): the sigmoid after fc2 is "
                "missing.", lambda p: _mlp(p, p.x, gate=lambda t: t)),
        Mistake("no-relu", "There is no ReLU between fc1 and fc2: without it the two layers "
                "collapse into one linear map.", lambda p: _mlp(p, p.x, act=lambda t: t)),
        Mistake("relu-gate", "The last activation is a ReLU: the gate after fc2 is a sigmoid.",
                lambda p: _mlp(p, p.x, gate=F.relu)),
        Mistake("sigmoid-hidden", "The hidden layer uses a sigmoid: the order is FC -> ReLU -> "
                "FC -> sigmoid.", lambda p: _mlp(p, p.x, act=torch.sigmoid)),
        Mistake("swapped-activations", "ReLU and sigmoid are swapped: the order is FC -> ReLU -> "
                "FC -> sigmoid.", lambda p: _mlp(p, p.x, act=torch.sigmoid, gate=F.relu)),
        Mistake("tanh-gate", "The gate is a tanh: use a sigmoid, whose output lies in (0, 1).",
                lambda p: _mlp(p, p.x, gate=torch.tanh)),
        Mistake("relu-on-input", "The ReLU is applied to the input z, before fc1: it goes "
                "between the layers, FC -> ReLU -> FC -> sigmoid.",
                lambda p: _mlp(p, F.relu(p.x), act=lambda t: t)),
        Mistake("out-of-range", "Some outputs are outside (0, 1): the excitation must end with a "
                "sigmoid.", test=lambda p, out: bool(((out <= 0) | (out >= 1)).any())),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.Excitation(*args, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_units_alive(ref.fc1, inputs[0])

    def diagnose_shape(self, case, got, expected):
        if len(got) > 2 and got[:2] == expected and all(d == 1 for d in got[2:]):
            return ("The Excitation maps (N, C) to (N, C); reshaping the weights to (N, C, 1, 1) "
                    "is the job of ChannelSE.gate.")
        return None

    def diagnose_structure(self, case, got, want):
        fc1 = got.get("fc1.weight")
        hidden = want["fc1.weight"][0]
        channels = want["fc1.weight"][1]
        if fc1 is not None and fc1[0] == 0:
            return ("The hidden width is 0: channels // reduction is 0 when C < reduction. Use "
                    "max(1, channels // reduction).")
        if fc1 is not None and fc1 == (channels, hidden):
            return "fc1 and fc2 are swapped: fc1 maps C -> hidden, fc2 maps hidden -> C."
        if fc1 is not None and fc1[0] != hidden:
            return (f"The hidden width is {fc1[0]}, expected max(1, channels // reduction) = "
                    f"{hidden}.")
        if "fc1.weight" in got and "fc1.bias" not in got:
            return "Both Linear layers have a bias (bias=True, the default)."
        if not any(k.startswith("fc1.") for k in got):
            return ("Name the layers self.fc1 and self.fc2 (the grader copies weights by these "
                    "names), as two attributes rather than an nn.Sequential.")
        return None


class ChannelSEExercise(Exercise):
    id = "channel_se"
    name = "ChannelSE"
    signature = "ChannelSE(channels, reduction=16) with self.excitation; gate(x): (N, C, H, W) " \
                "-> (N, C, 1, 1); forward(x) = x * gate(x)"
    title = "The cSE block"
    shape_cases = (
        Case(((16,), {"reduction": 4}), ((2, 16, 5, 7),), label="odd, non-square"),
        Case(((8,), {"reduction": 16}), ((1, 8, 6, 6),), label="C < reduction, N=1"),
        Case(((10,), {"reduction": 4}), ((3, 10, 1, 1),), label="1x1 map, C not divisible"),
        Case(((12,), {"reduction": 4}), ((2, 12, 4, 4),), path="gate"),
        Case(((16,), {}), ((1, 16, 7, 5),), path="gate", label="default reduction, N=1"),
    )
    value_cases = (
        Case(((16,), {"reduction": 4}), ((4, 16, 5, 6),)),
        Case(((6,), {"reduction": 4}), ((4, 6, 3, 4),)),
        Case(((12,), {"reduction": 4}), ((4, 12, 3, 3),), path="gate"),
    )
    grad_cases = (Case(((8,), {"reduction": 4}), ((2, 8, 3, 4),)),)
    device_case = Case(((16,), {"reduction": 4}), ((2, 16, 5, 6),))
    live_params = ("excitation.fc1.weight", "excitation.fc2.weight")

    @property
    def mistakes(self):
        def gate(p, z):
            return p.remote("excitation", z).view(*z.shape, 1, 1)

        def scaled(p, g):
            return g if p.case.path == "gate" else p.x * g

        spatial = (2, 3)
        return (
            Mistake("max-pool", "The squeeze uses max pooling: it is the average over H x W "
                    "(global average pooling).",
                    lambda p: scaled(p, gate(p, p.x.amax(dim=spatial)))),
            Mistake("sum-pool", "The squeeze sums over H x W: it is the mean.",
                    lambda p: scaled(p, gate(p, p.x.sum(dim=spatial)))),
            Mistake("batch-mixing", "The squeeze averages over the batch as well: average each "
                    "sample over its own H x W only (dims 2 and 3).",
                    lambda p: scaled(p, gate(p, p.x.mean(dim=(0, 2, 3)).expand(p.x.shape[:2])))),
            Mistake("add-not-multiply", "The gate is added to x: the scale step multiplies, "
                    "x * gate(x).", lambda p: p.x + gate(p, p.x.mean(dim=spatial))
                    if p.case.path == "" else None),
            Mistake("no-excitation", "The excitation MLP is skipped: the gate is "
                    "self.excitation(squeezed), not a sigmoid of the squeezed values.",
                    lambda p: scaled(p, torch.sigmoid(p.x.mean(dim=spatial))[..., None, None])),
            Mistake("double-sigmoid", "A sigmoid is applied twice: the Excitation already ends "
                    "in a sigmoid.",
                    lambda p: scaled(p, torch.sigmoid(gate(p, p.x.mean(dim=spatial))))),
            Mistake("softmax", _SOFTMAX,
                    lambda p: scaled(p, gate(p, p.x.mean(dim=spatial)).softmax(dim=1))),
        )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.ChannelSE(*args, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_se_alive(ref, inputs[0])

    def oracle(self, probe):
        # judged against the student's own Excitation: a mistake there is graded once, there
        x = probe.x
        w = probe.remote("excitation", scse_ref.global_avg_pool(x))
        gate = w.view(*w.shape, 1, 1)                      # (N, C) -> (N, C, 1, 1)
        return gate if probe.case.path == "gate" else x * gate

    def diagnose_shape(self, case, got, expected):
        n, c = expected[:2]
        if case.path == "gate":
            if got == (n, c):
                return ("gate(x) must keep two trailing dims of size 1, (N, C, 1, 1), so that it "
                        "broadcasts over H and W: w.view(n, c, 1, 1).")
            if got == tuple(case.inputs[0]):
                return ("gate(x) returns a full (N, C, H, W) tensor: return the (N, C, 1, 1) "
                        "weights, and let broadcasting do the rest in forward.")
            if n > 1 and got == (1, c, 1, 1):
                return ("gate(x) has one set of weights for the whole batch: the squeeze or the "
                        "excitation averages over the batch (dim 0). Each sample gets its own "
                        "gate: average over H and W only.")
        else:
            if got == (n, c, 1, 1):
                return "forward returns the gate: return x * self.gate(x)."
            if got == (n, c):
                return "forward returns the channel weights: return x * self.gate(x)."
        return None

    def diagnose_structure(self, case, got, want):
        if not any(k.startswith("excitation.") for k in got):
            return ("Keep the MLP as self.excitation = Excitation(channels, reduction) (the "
                    "grader copies weights by the names excitation.fc1.weight, ...).")
        return hidden_width_hint(got, want, "excitation.", "Excitation(channels, reduction)")


def hidden_width_hint(got: dict, want: dict, prefix: str, build: str) -> str | None:
    """A hint when the excitation under ``prefix`` has another hidden width than the exercise's:
    the reduction was not passed on to it."""
    key = prefix + "fc1.weight"
    if key in got and key in want and got[key][1:] == want[key][1:] and got[key] != want[key]:
        return (f"The hidden width of the Excitation is {got[key][0]}, expected {want[key][0]}: "
                f"pass the reduction on, {build}.")
    return None


#: the exercises of this module, in lesson order
EXERCISES = [ExcitationExercise(), ChannelSEExercise()]
