"""Lesson 05's own exercises: attention in networks.

- ``se_bottleneck``: ResNet's bottleneck block with an SE unit (``SEBottleneck``), without
  normalisation so that each sample is graded on its own; the reference is
  ``scse_ref.networks.Bottleneck(..., se=True, norm=False)``.
- ``se_width``: the width of the tensor an SE unit rescales at each of SENet's placements in a
  bottleneck, read from ``scse_ref.networks.Bottleneck`` (a number exercise; what the unit then
  costs is lesson 02's count, not counted again).
- ``attention_block``: an attention unit inserted into the U-Net block the notebook gives
  (``AttentionBlock``); the reference is ``scse_ref.networks.UNetBlock``.

The blocks are built from ``nn.Conv2d``, ``nn.InstanceNorm2d`` and the ``ChannelSE`` / ``SpatialSE``
/ ``SCSE`` the notebook imports from ``scse_ref``: nothing in them is an earlier answer of the
student's, so the reference modules are the oracles.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import scse_ref
from scse_ref.networks import Bottleneck, UNetBlock

from ..judge.exercise import Case, Exercise, ValueExercise
from ..judge.hints import Mistake
from .cse import keep_block_se_alive, keep_se_alive

# --- se_bottleneck --------------------------------------------------------------------------------


def _conv(conv, x, stride=None):
    """``conv`` applied with another stride (for the ResNet v1 / v1.5 mistake)."""
    s = conv.stride if stride is None else (stride, stride)
    return F.conv2d(x, conv.weight, conv.bias, s, conv.padding)


def _bn_branch(p, x=None, *, v1=False, relu3=False):
    """The residual branch of the reference with its weights, optionally with the stride in conv1
    (ResNet v1) or a ReLU after conv3."""
    r = p.ref
    x = p.x if x is None else x
    out = F.relu(_conv(r.conv1, x, r.stride if v1 else None))
    out = F.relu(_conv(r.conv2, out, 1 if v1 else None))
    out = r.conv3(out)
    return F.relu(out) if relu3 else out


def _short(p, x=None):
    return p.ref.shortcut(p.x if x is None else x)


def _se(p, x):
    return p.ref.se(x)


_SE_POST = ("The SE unit acts after the shortcut was added (SENet's SE-POST, top-1 error 22.78 "
            "against 22.28 for the standard place): it then rescales the identity path too. Apply "
            "it to conv3's output, before the addition: relu(se(conv3(...)) + shortcut(x)).")

_V1 = ("The stride sits in conv1 (the 1x1 convolution), as in the original ResNet (v1). "
       "torchvision, timm and this exercise use ResNet v1.5: conv1 has stride 1 and the 3x3 conv2 "
       "has the stride, which skips no input pixel.")


class SEBottleneckExercise(Exercise):
    id = "se_bottleneck"
    name = "SEBottleneck"
    signature = ("SEBottleneck(in_channels, planes, stride=1, reduction=16) with self.conv1 (1x1), "
                 "self.conv2 (3x3, stride, padding 1), self.conv3 (1x1 to 4 * planes), self.se = "
                 "ChannelSE(4 * planes, reduction) and self.downsample (a 1x1 convolution with "
                 "stride, or None); forward(x) = relu(se(conv3(relu(conv2(relu(conv1(x)))))) + "
                 "shortcut(x))")
    title = "An SE unit in a bottleneck block"
    shape_cases = (
        Case(((16, 4), {"reduction": 4}), ((2, 16, 5, 7),), label="identity shortcut"),
        Case(((8, 4), {"reduction": 4}), ((2, 8, 6, 6),), label="projection, stride 1"),
        Case(((8, 4), {"stride": 2, "reduction": 4}), ((1, 8, 7, 6),),
             label="projection, stride 2, odd size, N=1"),
        Case(((4, 2), {"stride": 2, "reduction": 16}), ((2, 4, 1, 1),),
             label="4 * planes < reduction, 1x1 map"),
        Case(((32, 8), {}), ((1, 32, 4, 5),), label="default stride and reduction"),
    )
    value_cases = (
        Case(((16, 4), {"reduction": 4}), ((3, 16, 5, 6),), label="identity shortcut"),
        Case(((8, 4), {"stride": 2, "reduction": 4}), ((3, 8, 7, 6),),
             label="projection, stride 2"),
    )
    grad_cases = (Case(((6, 2), {"stride": 2, "reduction": 2}), ((2, 6, 5, 4),)),)
    device_case = value_cases[0]
    live_params = ("conv1.weight", "se.excitation.fc1.weight")
    error_hints = (
        (r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton "
         r"dimension 1",
         "The residual branch and the shortcut have different channel counts: conv3 expands to "
         "4 * planes channels, and when in_channels != 4 * planes (or stride != 1) the shortcut "
         "is self.downsample = nn.Conv2d(in_channels, 4 * planes, 1, stride=stride)."),
        (r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton "
         r"dimension [23]",
         "The residual branch and the shortcut have maps of different sizes: the 3x3 conv2 "
         "needs padding=1 and the stride, and the shortcut's 1x1 projection the same stride."),
        (r"'NoneType' object is not callable",
         "self.downsample is None for this block, but forward calls it: use the projection only "
         "when it exists (identity = x if self.downsample is None else self.downsample(x))."),
        (r"expected input\[\d+, (\d+), .*\] to have (\d+) channels",
         "A layer receives another number of channels than it was built for: conv1 maps "
         "in_channels -> planes, conv2 planes -> planes, conv3 planes -> 4 * planes, and the SE "
         "unit acts on conv3's output (ChannelSE(4 * planes, reduction))."),
    )
    mistakes = (
        Mistake("se-post", _SE_POST, lambda p: _se(p, F.relu(_bn_branch(p) + _short(p)))),
        Mistake("se-post", _SE_POST, lambda p: F.relu(_se(p, _bn_branch(p) + _short(p)))),
        Mistake("se-identity", "The SE unit rescales the shortcut (SENet's SE-Identity). In this "
                "exercise it rescales the residual branch: relu(se(conv3(...)) + shortcut(x)).",
                lambda p: F.relu(_bn_branch(p) + _se(p, _short(p)))),
        Mistake("se-pre", "The SE unit acts on the block's input, before conv1 (SENet's SE-PRE). "
                "In this exercise it follows conv3: relu(se(conv3(...)) + shortcut(x)).",
                lambda p: F.relu(_bn_branch(p, _se(p, p.x)) + _short(p))),
        Mistake("stride-in-conv1", _V1, lambda p: None if p.ref.stride == 1 else
                F.relu(_se(p, _bn_branch(p, v1=True)) + _short(p))),
        Mistake("relu-after-conv3", "There is a ReLU after conv3, before the SE unit: the branch "
                "ends with conv3 (no ReLU), and the only ReLU after it follows the addition.",
                lambda p: F.relu(_se(p, _bn_branch(p, relu3=True)) + _short(p))),
        Mistake("no-final-relu", "The final ReLU is missing: a bottleneck ends with "
                "relu(... + shortcut(x)), after the addition.",
                lambda p: _se(p, _bn_branch(p)) + _short(p)),
        Mistake("relu-before-add", "The ReLU comes before the addition: apply it to the sum, "
                "relu(se(...) + shortcut(x)).",
                lambda p: F.relu(_se(p, _bn_branch(p))) + _short(p)),
        Mistake("no-shortcut", "The shortcut is missing: a residual block adds its input (or its "
                "projection) back, relu(se(...) + shortcut(x)).",
                lambda p: F.relu(_se(p, _bn_branch(p)))),
        Mistake("no-se", "The SE unit is not used: conv3's output goes through self.se before the "
                "addition.", lambda p: F.relu(_bn_branch(p) + _short(p))),
    )

    def reference(self, case):
        args, kwargs = case.init
        return Bottleneck(*args, se=True, norm=False, **kwargs)

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        keep_block_se_alive(ref, inputs[0])      # the SE unit sees conv3's output

    def diagnose_structure(self, case, got, want):
        (cin, planes), kwargs = case.init
        out = 4 * planes
        for name, shape in (("conv1", (planes, cin, 1, 1)), ("conv2", (planes, planes, 3, 3)),
                            ("conv3", (out, planes, 1, 1))):
            w = got.get(f"{name}.weight")
            if w is None:
                return ("Name the layers self.conv1, self.conv2, self.conv3, self.se and "
                        "self.downsample (the grader copies weights by these names), as "
                        "attributes rather than an nn.Sequential.")
            if tuple(w) != shape:
                return (f"{name} has weight {tuple(w)}, expected {shape}: conv1 is 1x1 "
                        "in_channels -> planes, conv2 3x3 planes -> planes, conv3 1x1 planes -> "
                        "4 * planes (the expansion).")
            if f"{name}.bias" not in got:
                return ("The convolutions keep their bias (bias=True, the default): this block "
                        "has no BatchNorm after them.")
        fc1 = got.get("se.excitation.fc1.weight")
        if fc1 is None:
            return "Keep the SE unit as self.se = ChannelSE(4 * planes, reduction)."
        if fc1[1] != out:
            return (f"The SE unit sees {fc1[1]} channels: it acts on conv3's output, "
                    f"ChannelSE(4 * planes, reduction) = ChannelSE({out}, ...).")
        if fc1 != want["se.excitation.fc1.weight"]:
            return "The SE unit has another hidden width: pass the block's reduction on."
        has_down = "downsample.weight" in got
        needs = "downsample.weight" in want
        if has_down and not needs:
            return ("This block needs no projection (stride 1 and in_channels == 4 * planes): "
                    "the shortcut is the identity and self.downsample is None.")
        if needs and not has_down:
            if any(k.startswith("downsample.") for k in got):
                return ("self.downsample is the 1x1 convolution itself (with bias), not a "
                        "Sequential: nn.Conv2d(in_channels, 4 * planes, 1, stride=stride).")
            return ("The shape changes in this block (stride != 1 or in_channels != 4 * planes), "
                    "so the shortcut needs a projection: self.downsample = "
                    "nn.Conv2d(in_channels, 4 * planes, 1, stride=stride).")
        return None

    def diagnose_shape(self, case, got, expected):
        (_, planes), _ = case.init
        if len(got) == 4 and got[1] == planes and expected[1] == 4 * planes:
            return "The block outputs 4 * planes channels: conv3 expands planes -> 4 * planes."
        if len(got) == 4 and got[1] == expected[1] and got[2:] != expected[2:]:
            return ("The map has the wrong size: conv2 (3x3, padding=1) carries the stride, and "
                    "the projection the same stride.")
        return None


# --- se_width ------------------------------------------------------------------------------------


def _unit_width(in_channels: int, planes: int, placement: str) -> int:
    """The width of the SE unit of the reference bottleneck at ``placement``."""
    with torch.device("meta"):
        return Bottleneck(in_channels, planes, se=True, placement=placement).se.channels


class SEWidthExercise(ValueExercise):
    id = "se_width"
    name = "se_width"
    signature = "se_width(in_channels, planes, placement) -> int"
    title = "The width an SE unit sees at each placement"
    arguments = (
        (256, 64, "standard"), (64, 64, "pre"), (256, 64, "pre"), (256, 128, "standard"),
        (1024, 512, "identity"), (512, 128, "post"), (64, 64, "identity"), (512, 256, "pre"),
        (2048, 512, "post"), (128, 64, "identity"),
    )
    int_mistakes = (
        ("pre-output-width", "For SE-PRE the unit acts on the block's input, which has "
         "in_channels channels, not on its output's 4 * planes.",
         lambda c, p, pl: 4 * p if pl == "pre" else None),
        ("identity-input-width", "For SE-Identity the unit rescales the shortcut's output, after "
         "the projection when the block has one: 4 * planes channels, the width the two branches "
         "are added at, not the block's input width.",
         lambda c, p, pl: c if pl == "identity" else None),
        ("input-width", "Only SE-PRE acts on the block's input (in_channels channels); the other "
         "placements act on a tensor of the block's output width, 4 * planes.",
         lambda c, p, pl: c if pl != "pre" else None),
        ("planes-width", "The SE unit does not act on the 3x3 convolution's width (planes): the "
         "block's last 1x1 convolution expands it to 4 * planes channels.",
         lambda c, p, pl: p),
    )

    def expected(self, in_channels, planes, placement):
        return _unit_width(in_channels, planes, placement)


# --- attention_block ------------------------------------------------------------------------------


def _features(p, *, relu2=True):
    r = p.ref
    h = F.relu(r.norm1(r.conv1(p.x)))
    h = r.norm2(r.conv2(h))
    return F.relu(h) if relu2 else h


def _att(p, h):
    return p.ref.attention(h)


def _kind(p) -> str:
    return p.case.init[1].get("attention", "none")


def _scse_other_mode(p, combine):
    """scSE with another aggregation of its two branches (for the mode mistakes)."""
    if _kind(p) != "scse":
        return None
    h = _features(p)
    att = p.ref.attention
    return combine(h * att.cse.gate(h), h * att.sse.gate(h))


class AttentionBlockExercise(Exercise):
    id = "attention_block"
    name = "AttentionBlock"
    signature = ("AttentionBlock(in_channels, out_channels, attention='none', reduction=2) with "
                 "the given block's self.conv1, self.norm1, self.conv2, self.norm2 and "
                 "self.attention (nn.Identity(), ChannelSE, SpatialSE or SCSE); forward(x) = "
                 "attention(relu(norm2(conv2(relu(norm1(conv1(x)))))))")
    title = "Attention in a U-Net block"
    shape_cases = (
        Case(((3, 8), {"attention": "scse", "reduction": 2}), ((2, 3, 6, 5),)),
        Case(((4, 6), {"attention": "none"}), ((1, 4, 4, 4),), label="no attention, N=1"),
        Case(((2, 8), {"attention": "cse", "reduction": 4}), ((2, 2, 7, 3),), label="cSE"),
        Case(((5, 4), {"attention": "sse"}), ((3, 5, 2, 9),), label="sSE"),
        Case(((6, 3), {"attention": "scse", "reduction": 16}), ((1, 6, 1, 2),),
             label="C < reduction, a 1x2 map"),
    )
    value_cases = (
        Case(((3, 8), {"attention": "scse", "reduction": 2}), ((3, 3, 6, 5),), label="scSE"),
        Case(((4, 8), {"attention": "cse", "reduction": 4}), ((2, 4, 5, 5),), label="cSE"),
        Case(((4, 6), {"attention": "sse"}), ((2, 4, 4, 6),), label="sSE"),
    )
    grad_cases = (Case(((2, 4), {"attention": "scse", "reduction": 2}), ((2, 2, 4, 3),)),)
    device_case = value_cases[0]
    live_params = ("conv1.weight", "norm2.weight")
    error_hints = (
        (r"'NoneType' object is not callable",
         "self.attention is None for attention='none': use nn.Identity(), a module that returns "
         "its input, so that forward is the same for every option."),
        (r"Expected more than 1 spatial element",
         "Instance normalisation needs more than one position; this should not happen with the "
         "exercise's inputs: check that the convolutions keep the map's size (padding=1)."),
    )
    mistakes = (
        Mistake("attention-before-relu", "The attention unit acts before the block's last ReLU: "
                "it comes last, after relu(norm2(conv2(...))).",
                lambda p: None if _kind(p) == "none" else F.relu(_att(p, _features(p, relu2=False)))),
        Mistake("attention-before-relu", "The attention unit acts before the block's last ReLU "
                "(and the ReLU is gone): it comes last, after relu(norm2(conv2(...))).",
                lambda p: None if _kind(p) == "none" else _att(p, _features(p, relu2=False))),
        Mistake("attention-between-convs", "The attention unit sits between the two "
                "convolutions: it acts on the block's output, after the second ReLU.",
                lambda p: None if _kind(p) == "none" else
                F.relu(p.ref.norm2(p.ref.conv2(_att(p, F.relu(p.ref.norm1(p.ref.conv1(p.x)))))))),
        Mistake("residual-attention", "The output is features + attention(features): the "
                "attention unit's output replaces the features, attention(features), without a "
                "shortcut around it.",
                lambda p: None if _kind(p) == "none" else _features(p) + _att(p, _features(p))),
        Mistake("no-attention", "The attention unit is not applied: the block ends with "
                "self.attention(...) after the second ReLU.",
                lambda p: None if _kind(p) == "none" else _features(p)),
        Mistake("scse-max", "scSE combines its branches by addition here (SCSE's default mode "
                "'add'), not by their maximum: SCSE(out_channels, reduction).",
                lambda p: _scse_other_mode(p, torch.maximum)),
        Mistake("scse-mul", "scSE combines its branches by addition here (SCSE's default mode "
                "'add'), not by their product: SCSE(out_channels, reduction).",
                lambda p: _scse_other_mode(p, torch.mul)),
        Mistake("no-norm-relu", "A ReLU is missing between norm1 and conv2: the block is conv1 -> "
                "norm1 -> ReLU -> conv2 -> norm2 -> ReLU -> attention.",
                lambda p: _att(p, F.relu(p.ref.norm2(p.ref.conv2(p.ref.norm1(p.ref.conv1(p.x))))))),
    )

    def reference(self, case):
        args, kwargs = case.init
        block = UNetBlock(*args, **kwargs)
        if isinstance(block.attention, scse_ref.SCSE):
            # judged against the plain form x * g_c + x * g_s, not the fused fast path
            block.attention.fused = False
        return block

    def init_params(self, ctx, ref, inputs):
        super().init_params(ctx, ref, inputs)
        with torch.no_grad():
            for norm in (ref.norm1, ref.norm2):       # scales around 1, shifts around 0
                norm.weight.copy_(ctx.uniform(*norm.weight.shape, low=0.6, high=1.4,
                                              dtype=norm.weight.dtype))
            h = ref.features(inputs[0].to(ref.conv1.weight.dtype))
        att = ref.attention
        cse = att if isinstance(att, scse_ref.ChannelSE) else getattr(att, "cse", None)
        if cse is not None:
            keep_se_alive(cse, h)

    def diagnose_structure(self, case, got, want):
        (cin, cout), kwargs = case.init
        kind = kwargs.get("attention", "none")
        for name in ("conv1.weight", "norm1.weight", "conv2.weight", "norm2.weight"):
            if name not in got:
                return ("Keep the given block's layers and names: self.conv1, self.norm1, "
                        "self.conv2, self.norm2 (the grader copies weights by these names), then "
                        "self.attention.")
        if "conv1.bias" in got or "conv2.bias" in got:
            return ("The given block's convolutions have no bias (bias=False): the instance "
                    "normalisation after them removes any constant.")
        att = {k.removeprefix("attention."): v for k, v in got.items()
               if k.startswith("attention.")}
        names = {"none": "nn.Identity()", "cse": f"ChannelSE({cout}, reduction)",
                 "sse": f"SpatialSE({cout})", "scse": f"SCSE({cout}, reduction)"}
        expected = {k.removeprefix("attention."): v for k, v in want.items()
                    if k.startswith("attention.")}
        if set(att) != set(expected):
            return (f"For attention={kind!r}, self.attention is {names[kind]} (on the block's "
                    "out_channels).")
        if att != expected:
            return ("The attention unit has other sizes: it acts on the block's output "
                    f"({cout} channels) with the block's reduction, {names[kind]}.")
        return None


#: the exercises of this module, in lesson order
EXERCISES = [SEBottleneckExercise(), SEWidthExercise(), AttentionBlockExercise()]
