"""Lesson 04's own exercises: CBAM (``cbam``) and an SE unit in a residual block (``se_residual``).

``SEResidualBlock`` is built from ``nn.Conv2d`` and the ``ChannelSE`` that the notebook imports from
``scse_ref``: nothing in it is an earlier answer of the student's, so the reference block
(``scse_ref.SEResidualBlock``) is the oracle. The typical mistakes are the other places SENet tried
for the SE unit, and the ReLU or the shortcut in the wrong place.

``CBAM`` is built from ``nn.Linear`` and ``nn.Conv2d`` alone, so :class:`scse_ref.CBAM` is its
oracle too. Its typical mistakes are the paper's description misread: a squeeze without its max
branch, the two squeezes added before the MLP, one sigmoid per branch, the spatial map's mean and
max in the other order, the spatial gate read from x rather than from the channel-refined map, the
gates in the other order or added as in scSE; two MLPs instead of one shared is a structure hint.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import scse_ref

from ..judge.exercise import Case, Exercise
from ..judge.hints import Mistake
from .cse import keep_block_se_alive, keep_units_alive


def _parts(p):
    r = p.ref
    return r.conv1, r.conv2, r.se


def _branch(p, x=None):
    conv1, conv2, _ = _parts(p)
    return conv2(F.relu(conv1(p.x if x is None else x)))


def _se(p, x):
    return _parts(p)[2](x)


_POST = ("The SE unit acts after the addition of the shortcut, so it also scales the identity "
         "path: that is SENet's SE-POST variant (top-1 error 22.78 against 22.28). Put it on the "
         "residual branch, before the addition: relu(x + se(conv2(relu(conv1(x))))).")


class SEResidualExercise(Exercise):
    id = "se_residual"
    name = "SEResidualBlock"
    signature = "SEResidualBlock(channels, reduction=16) with self.conv1, self.conv2 (3x3, " \
                "padding 1) and self.se = ChannelSE(channels, reduction); forward(x) = " \
                "relu(x + se(conv2(relu(conv1(x)))))"
    title = "An SE unit in a residual block"
    shape_cases = (
        Case(((8,), {"reduction": 4}), ((2, 8, 5, 7),), label="odd, non-square"),
        Case(((4,), {"reduction": 16}), ((1, 4, 6, 6),), label="C < reduction, N=1"),
        Case(((6,), {"reduction": 2}), ((3, 6, 1, 1),), label="1x1 map"),
        Case(((16,), {}), ((1, 16, 4, 5),), label="default reduction"),
    )
    value_cases = (
        Case(((8,), {"reduction": 4}), ((3, 8, 5, 6),)),
        Case(((6,), {"reduction": 2}), ((2, 6, 4, 7),)),
    )
    grad_cases = (Case(((4,), {"reduction": 2}), ((2, 4, 3, 4),)),)
    device_case = Case(((8,), {"reduction": 4}), ((2, 8, 5, 6),))
    live_params = ("conv1.weight", "se.excitation.fc1.weight")
    error_hints = (
        (r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton "
         r"dimension [23]",
         "The residual branch changes the size of the map, so x and the branch cannot be added: "
         "give both 3x3 convolutions padding=1 (nn.Conv2d(channels, channels, 3, padding=1))."),
    )
    mistakes = (
        Mistake("se-post", _POST, lambda p: _se(p, F.relu(p.x + _branch(p)))),
        Mistake("se-post", _POST, lambda p: F.relu(_se(p, p.x + _branch(p)))),
        Mistake("se-identity", "The SE unit scales the identity branch (the shortcut x): that is "
                "SENet's SE-Identity variant. In this exercise it scales the residual branch: "
                "relu(x + se(conv2(relu(conv1(x))))).",
                lambda p: F.relu(_se(p, p.x) + _branch(p))),
        Mistake("se-pre", "The SE unit acts on the input, before the convolutions: that is "
                "SENet's SE-PRE variant. In this exercise it follows conv2 on the residual "
                "branch: relu(x + se(conv2(relu(conv1(x))))).",
                lambda p: F.relu(p.x + _branch(p, _se(p, p.x)))),
        Mistake("se-between-convs", "The SE unit sits between the two convolutions: it acts on "
                "the output of conv2, just before the addition.",
                lambda p: F.relu(p.x + _parts(p)[1](_se(p, F.relu(_parts(p)[0](p.x)))))),
        Mistake("se-between-convs", "The SE unit sits between the two convolutions: it acts on "
                "the output of conv2, just before the addition.",
                lambda p: F.relu(p.x + _parts(p)[1](F.relu(_se(p, _parts(p)[0](p.x)))))),
        Mistake("no-final-relu", "The final ReLU is missing: a ResNet block ends with "
                "relu(x + ...), after the addition.",
                lambda p: p.x + _se(p, _branch(p))),
        Mistake("relu-before-add", "The ReLU comes before the addition (x + relu(...)): apply it "
                "to the sum, relu(x + se(...)), so the block ends with a ReLU as ResNet's do.",
                lambda p: p.x + F.relu(_se(p, _branch(p)))),
        Mistake("relu-after-conv2", "There is a ReLU after conv2, before the SE unit: the branch "
                "is conv1 -> ReLU -> conv2 -> SE, and the only other ReLU comes after the "
                "addition.", lambda p: F.relu(p.x + _se(p, F.relu(_branch(p))))),
        Mistake("no-inner-relu", "The ReLU between conv1 and conv2 is missing: the branch is "
                "conv2(relu(conv1(x))).",
                lambda p: F.relu(p.x + _se(p, _parts(p)[1](_parts(p)[0](p.x))))),
        Mistake("no-shortcut", "The shortcut is missing: a residual block adds its input back, "
                "relu(x + se(...)).", lambda p: F.relu(_se(p, _branch(p)))),
        Mistake("no-se", "The SE unit is not used: the branch's output goes through self.se "
                "before the addition.", lambda p: F.relu(p.x + _branch(p))),
        Mistake("se-gate-only", "The branch is multiplied by the SE unit's gate of x (or the "
                "gate is used instead of the SE output): call self.se on conv2's output, "
                "se(out) = out * gate(out).",
                lambda p: F.relu(p.x + _branch(p) * _parts(p)[2].gate(p.x))),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.SEResidualBlock(*args, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_block_se_alive(ref, inputs[0])      # the SE unit sees conv2's output

    def diagnose_structure(self, case, got, want):
        c = want["conv1.weight"][0]
        for conv in ("conv1", "conv2"):
            w = got.get(f"{conv}.weight")
            if w is None:
                return ("Name the layers self.conv1, self.conv2 and self.se (the grader copies "
                        "weights by these names), as attributes rather than an nn.Sequential.")
            if tuple(w[2:]) != (3, 3):
                return (f"{conv} is {w[2]}x{w[3]}: both convolutions are 3x3 "
                        f"(nn.Conv2d({c}, {c}, 3, padding=1)).")
            if tuple(w[:2]) != (c, c):
                return f"{conv} maps {w[1]} -> {w[0]} channels: both keep C = {c} channels."
            if f"{conv}.bias" not in got:
                return ("The convolutions keep their bias (bias=True, the default): there is no "
                        "BatchNorm after them in this block.")
        if not any(k.startswith("se.excitation.") for k in got):
            if any(k.startswith("se.cse.") for k in got):
                return "self.se is a ChannelSE here (not an SCSE): ChannelSE(channels, reduction)."
            return "Keep the SE unit as self.se = ChannelSE(channels, reduction)."
        if got.get("se.excitation.fc1.weight") != want["se.excitation.fc1.weight"]:
            return ("The SE unit has another hidden width: pass the block's reduction on, "
                    "ChannelSE(channels, reduction).")
        return None

    def diagnose_shape(self, case, got, expected):
        n, c, h, w = case.inputs[0]
        if len(got) == 4 and got[:2] == (n, c) and got[2:] != (h, w):
            return ("The map changed size: the 3x3 convolutions need padding=1 so that H and W "
                    "stay the same.")
        return None


# --- cbam ----------------------------------------------------------------------------------------


def _mlp(p, z):
    r = p.ref
    return F.linear(F.relu(F.linear(z, r.fc1.weight, r.fc1.bias)), r.fc2.weight, r.fc2.bias)


def _channel(p, x, *, avg=True, mx=True, pooled_sum=False, gate_each=False, gate=torch.sigmoid):
    """CBAM's channel gate of ``x`` (N, C, 1, 1), or a variant of it."""
    a, m = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))
    if pooled_sum:
        logits = _mlp(p, a + m)
    elif gate_each:
        return (gate(_mlp(p, a)) + gate(_mlp(p, m)))[..., None, None]
    else:
        logits = (_mlp(p, a) if avg else 0) + (_mlp(p, m) if mx else 0)
    return gate(logits)[..., None, None]


def _spatial(p, x, *, order=("mean", "max"), gate=torch.sigmoid):
    """CBAM's spatial gate of ``x`` (N, 1, H, W), or a variant of it."""
    maps = {"mean": x.mean(dim=1, keepdim=True), "max": x.amax(dim=1, keepdim=True)}
    conv = p.ref.conv
    pooled = torch.cat([maps[o] for o in order], dim=1)
    return gate(F.conv2d(pooled, conv.weight, conv.bias, padding=conv.padding))


def _cbam(p, *, channel=None, spatial=None, arrangement="sequential"):
    """The probe's expected output with ``channel`` / ``spatial`` (functions of x) in place of
    the gates, for the path the probe calls."""
    channel = channel or (lambda x: _channel(p, x))
    spatial = spatial or (lambda x: _spatial(p, x))
    x, path = p.x, p.case.path
    if path == "channel_gate":
        return channel(x)
    if path == "spatial_gate":
        return spatial(x)
    if arrangement == "spatial-first":
        x1 = x * spatial(x)
        return x1 * channel(x1)
    if arrangement == "parallel":
        return x * channel(x) * spatial(x)
    if arrangement == "add":
        return x * channel(x) + x * spatial(x)
    x1 = x * channel(x)
    return x1 * spatial(x1)


def _only(path: str, fn):
    """A mistake that shows in ``path`` (and in forward), ``None`` for the other gate's path."""
    other = {"channel": "spatial_gate", "spatial": "channel_gate"}[path]
    return lambda p: None if p.case.path == other else fn(p)


class CBAMExercise(Exercise):
    id = "cbam"
    name = "CBAM"
    signature = "CBAM(channels, reduction=16, kernel_size=7) with self.fc1, self.fc2 (one MLP, " \
                "nn.Linear with biases) and self.conv = nn.Conv2d(2, 1, kernel_size, " \
                "padding=kernel_size // 2); channel_gate(x): (N, C, H, W) -> (N, C, 1, 1); " \
                "spatial_gate(x): (N, C, H, W) -> (N, 1, H, W); forward(x): x1 = x * " \
                "channel_gate(x), then x1 * spatial_gate(x1)"
    title = "The convolutional block attention module (CBAM)"
    shape_cases = (
        Case(((16,), {"reduction": 4}), ((2, 16, 9, 7),), label="odd, non-square"),
        Case(((8,), {"reduction": 16}), ((1, 8, 6, 6),), label="C < reduction, N=1"),
        Case(((12,), {"reduction": 4, "kernel_size": 3}), ((2, 12, 1, 1),), label="1x1 map"),
        Case(((16,), {}), ((1, 16, 5, 4),), path="channel_gate", label="defaults, N=1"),
        Case(((10,), {"reduction": 2, "kernel_size": 5}), ((2, 10, 6, 5),), path="spatial_gate"),
    )
    value_cases = (
        Case(((16,), {"reduction": 4}), ((3, 16, 8, 9),)),
        Case(((12,), {"reduction": 4, "kernel_size": 3}), ((2, 12, 5, 6),),
             label="kernel_size=3"),
        Case(((16,), {"reduction": 4}), ((3, 16, 6, 7),), path="channel_gate"),
        Case(((10,), {"reduction": 2, "kernel_size": 5}), ((3, 10, 6, 5),), path="spatial_gate"),
    )
    grad_cases = (Case(((8,), {"reduction": 2, "kernel_size": 3}), ((2, 8, 4, 5),)),)
    device_case = Case(((16,), {"reduction": 4}), ((2, 16, 6, 7),))
    live_params = ("fc1.weight", "fc2.weight", "conv.weight")
    error_hints = (
        (r"expected Tensor as element \d+ in argument \d+, but got torch\.return_types|"
         r"return_types\.(max|min)",
         "x.max(dim=...) returns a pair (values, indices): use x.amax(dim=..., keepdim=True) for "
         "the maximum itself."),
        (r"expected input\[\d+, (\d+), \d+, \d+\] to have 2 channels",
         "The spatial convolution gets {0} channels instead of 2: pool over the channels (dim 1, "
         "keepdim=True) to get the (N, 1, H, W) mean and the (N, 1, H, W) max, and concatenate "
         "them on dim 1: (N, 2, H, W)."),
        (r"mat1 and mat2 shapes cannot be multiplied",
         "The MLP gets a tensor of the wrong shape: the channel gate pools each map over its "
         "positions (dims 2 and 3), giving (N, C) vectors for the Linear layers."),
        (r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton "
         r"dimension [23]",
         "The spatial gate's map is not the size of x: the convolution needs "
         "padding=kernel_size // 2 to keep H and W."),
    )
    mistakes = (
        Mistake("no-max-branch", "The channel gate uses only the average of each map: CBAM adds "
                "the shared MLP's output for the maximum of each map too, "
                "sigmoid(MLP(avg) + MLP(max)).",
                _only("channel", lambda p: _cbam(p, channel=lambda x: _channel(p, x, mx=False)))),
        Mistake("no-avg-branch", "The channel gate uses only the maximum of each map: CBAM adds "
                "the shared MLP's outputs for the average and the maximum, "
                "sigmoid(MLP(avg) + MLP(max)).",
                _only("channel", lambda p: _cbam(p, channel=lambda x: _channel(p, x, avg=False)))),
        Mistake("pooled-sum", "The average and the maximum are added before the MLP: CBAM passes "
                "each through the shared MLP and adds the two outputs, "
                "sigmoid(MLP(avg) + MLP(max)).",
                _only("channel", lambda p: _cbam(p, channel=lambda x: _channel(p, x,
                                                                                pooled_sum=True)))),
        Mistake("gate-per-branch", "Each branch has its own sigmoid: add the two MLP outputs "
                "first, then take one sigmoid.",
                _only("channel", lambda p: _cbam(p, channel=lambda x: _channel(p, x,
                                                                                gate_each=True)))),
        Mistake("concat-order", "The spatial gate's input is in the wrong order: the "
                "channel-wise mean first, then the maximum, torch.cat([mean, max], dim=1).",
                _only("spatial", lambda p: _cbam(p, spatial=lambda x: _spatial(
                    p, x, order=("max", "mean"))))),
        Mistake("channel-no-sigmoid", "The channel gate is not squashed into (0, 1): a sigmoid "
                "after the sum of the two MLP outputs.",
                _only("channel", lambda p: _cbam(p, channel=lambda x: _channel(
                    p, x, gate=lambda t: t)))),
        Mistake("spatial-no-sigmoid", "The spatial gate is not squashed into (0, 1): a sigmoid "
                "after the convolution.",
                _only("spatial", lambda p: _cbam(p, spatial=lambda x: _spatial(
                    p, x, gate=lambda t: t)))),
        Mistake("spatial-on-input", "The spatial gate reads x: CBAM is sequential, the spatial "
                "gate reads the channel-refined map x1 = x * channel_gate(x), and scales it.",
                lambda p: _cbam(p, arrangement="parallel") if p.case.path == "" else None),
        Mistake("spatial-first", "The spatial gate comes first: CBAM applies the channel gate "
                "first, then the spatial gate to its result.",
                lambda p: _cbam(p, arrangement="spatial-first") if p.case.path == "" else None),
        Mistake("parallel-add", "The two gated maps are added, as scSE does: CBAM is sequential, "
                "x1 = x * channel_gate(x), then x1 * spatial_gate(x1).",
                lambda p: _cbam(p, arrangement="add") if p.case.path == "" else None),
    )

    def reference(self, case):
        args, kwargs = case.init
        return scse_ref.CBAM(*args, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_units_alive(ref.fc1, inputs[0].mean(dim=(2, 3)))

    def diagnose_shape(self, case, got, expected):
        n, c, h, w = case.inputs[0]
        if case.path == "channel_gate":
            if got == (n, c):
                return ("channel_gate(x) must keep two trailing dims of size 1, (N, C, 1, 1), so "
                        "that it broadcasts over H and W.")
            if got == (n, c, h, w):
                return "channel_gate(x) returns the scaled map: return the (N, C, 1, 1) gate."
        elif case.path == "spatial_gate":
            if got == (n, 2, h, w):
                return ("spatial_gate(x) returns the pooled 2-channel map: convolve it to one "
                        "map, then the sigmoid.")
            if got == (n, h, w):
                return "Keep the channel dim of the map: (N, 1, H, W), not (N, H, W)."
            if got == (n, c, h, w):
                return "spatial_gate(x) returns the scaled map: return the (N, 1, H, W) gate."
        elif got == (n, 1, h, w):
            return "forward returns the spatial gate: return the scaled map."
        return None

    def diagnose_structure(self, case, got, want):
        c, hidden = want["fc1.weight"][1], want["fc1.weight"][0]
        k = want["conv.weight"][-1]
        down = [n for n, s in got.items() if n.endswith("weight") and s[:2] == (hidden, c)]
        if len(down) > 1:
            return ("There are two MLPs: CBAM shares one MLP between the two squeezes, the same "
                    "self.fc1 and self.fc2 applied to the average and to the maximum.")
        fc1, conv = got.get("fc1.weight"), got.get("conv.weight")
        if fc1 is None or "fc2.weight" not in got:
            return ("Name the shared MLP's layers self.fc1 and self.fc2 (nn.Linear), and the "
                    "spatial convolution self.conv: the grader copies weights by these names.")
        if len(fc1) == 4:
            return ("fc1 and fc2 are nn.Linear layers on the pooled (N, C) vectors (1x1 "
                    "convolutions on (N, C, 1, 1) hold the same numbers, in other shapes).")
        if fc1 != (hidden, c):
            return (f"fc1 has weight {fc1}: the MLP goes C -> hidden -> C with hidden = "
                    f"max(1, C // reduction) = {hidden}.")
        if "fc1.bias" not in got or "fc2.bias" not in got:
            return "The MLP's Linear layers have biases (bias=True, the default)."
        if conv is None:
            return ("Keep the spatial convolution as self.conv = nn.Conv2d(2, 1, kernel_size, "
                    "padding=kernel_size // 2).")
        if conv[:2] != (1, 2):
            return (f"self.conv has weight {conv}: it maps the 2-channel [mean; max] map to one "
                    "logit map, nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2).")
        if conv[2:] != (k, k):
            return (f"The spatial convolution is {conv[2]}x{conv[3]}: use the kernel_size given "
                    f"to the constructor ({k} here; 7 by default).")
        if "conv.bias" not in got:
            return ("The spatial convolution has a bias here (it stands for the BatchNorm of the "
                    "paper's code, folded into the convolution).")
        return None


#: the exercises of this module, in lesson order
EXERCISES = [CBAMExercise(), SEResidualExercise()]
