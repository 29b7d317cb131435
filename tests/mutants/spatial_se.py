"""Mutants of ``SpatialSE(channels)``: gate(x) = sigmoid(conv1x1(x)), (N, C, H, W) -> (N, 1, H, W);
forward(x) = x * gate(x)."""

EXERCISE = "spatial_se"
DEFINES = "SpatialSE"
PREAMBLE = """\
import torch
import torch.nn.functional as F
from torch import nn
"""

_CONV = "self.conv = nn.Conv2d(channels, 1, kernel_size=1)"


def _sse(gate: str, forward: str = "return x * self.gate(x)", init: str = _CONV) -> str:
    """A SpatialSE with these bodies of ``__init__`` (after super), ``gate`` and ``forward``."""
    pad = "\n        "
    return f'''
class SpatialSE(nn.Module):
    def __init__(self, channels):
        super().__init__()
        {pad.join(init.splitlines())}

    def gate(self, x):
        {pad.join(gate.splitlines())}

    def forward(self, x):
        {pad.join(forward.splitlines())}
'''


MUTANTS = [
    # --- value mistakes -------------------------------------------------------------------------
    dict(name="no-sigmoid", bug="value", family="values", mistake="no-sigmoid", hint="sigmoid",
         what="returns the conv's output as the map, without a sigmoid",
         source=_sse("return self.conv(x)")),
    dict(name="spatial-softmax", bug="value", family="values", mistake="softmax",
         hint="softmax over H x W", what="a softmax over the positions instead of a sigmoid",
         source=_sse("s = self.conv(x)\nn, _, h, w = s.shape\n"
                     "return s.view(n, 1, h * w).softmax(dim=-1).view(n, 1, h, w)")),
    dict(name="channel-mean", bug="value", family="values", mistake="channel-mean",
         hint="mean over the channels", what="sigmoid of the channel mean; the conv is unused",
         source=_sse("return torch.sigmoid(x.mean(dim=1, keepdim=True))")),
    dict(name="add-map", bug="value", family="values", mistake="add-not-multiply",
         hint="multiplies", what="x + gate(x) instead of x * gate(x)",
         source=_sse("return torch.sigmoid(self.conv(x))", "return x + self.gate(x)")),
    dict(name="kernel-3", bug="value", family="values", mistake="parameters", hint="1x1",
         what="a 3x3 convolution with padding 1",
         source=_sse("return torch.sigmoid(self.conv(x))",
                     init="self.conv = nn.Conv2d(channels, 1, kernel_size=3, padding=1)")),
    dict(name="no-bias", bug="value", family="values", mistake="parameters", hint="bias",
         what="nn.Conv2d(..., bias=False)",
         source=_sse("return torch.sigmoid(self.conv(x))",
                     init="self.conv = nn.Conv2d(channels, 1, kernel_size=1, bias=False)")),
    dict(name="linear-not-conv", bug="value", family="values", mistake="parameters",
         hint="nn.Conv2d", what="an nn.Linear over the channels, with permutes",
         source=_sse("s = self.conv(x.permute(0, 2, 3, 1))        # (N, H, W, 1)\n"
                     "return torch.sigmoid(s.permute(0, 3, 1, 2))",
                     init="self.conv = nn.Linear(channels, 1)")),
    dict(name="conv-bias-dropped", bug="value", family="values", mistake="conv-bias-ignored",
         hint="bias", what="F.conv2d with the conv's weight but without its bias",
         source=_sse("return torch.sigmoid(F.conv2d(x, self.conv.weight))")),
    dict(name="in-place-scale", bug="value", family="values", mistake="in-place",
         hint="in place", what="scales with x *= gate(x)",
         source=_sse("return torch.sigmoid(self.conv(x))", "x *= self.gate(x)\nreturn x")),
    dict(name="exp-sigmoid", bug="value", family="values", mistake="overflow",
         hint="exp(t) / (1 + exp(t))", what="writes the sigmoid as exp(s) / (1 + exp(s))",
         source=_sse("s = self.conv(x)\nreturn s.exp() / (1 + s.exp())")),
    # --- shape mistakes -------------------------------------------------------------------------
    dict(name="conv-to-c-channels", bug="shape", family="shape", mistake="shape",
         hint="from C channels to one", what="nn.Conv2d(channels, channels, 1): a C-channel map",
         source=_sse("return torch.sigmoid(self.conv(x))",
                     init="self.conv = nn.Conv2d(channels, channels, kernel_size=1)")),
    dict(name="forward-returns-map", bug="shape", family="shape", mistake="shape",
         hint="forward returns the map", what="forward returns gate(x)",
         source=_sse("return torch.sigmoid(self.conv(x))", "return self.gate(x)")),
    dict(name="map-squeezed", bug="shape", family="shape", mistake="shape", hint="(N, 1, H, W)",
         what="gate squeezes the channel dim away; forward puts it back",
         source=_sse("return torch.sigmoid(self.conv(x)).squeeze(1)",
                     "return x * self.gate(x).unsqueeze(1)")),
    # --- gradient mistakes ----------------------------------------------------------------------
    dict(name="detached-map", bug="gradient", family="gradient", mistake=("no-grad", "detached"),
         hint="gradient", what="multiplies by gate(x).detach()",
         source=_sse("return torch.sigmoid(self.conv(x))", "return x * self.gate(x).detach()")),
    dict(name="hard-threshold", bug="gradient", family="values", mistake="hard-gate",
         hint="0/1 mask", what="thresholds the map at 0.5 (a 0/1 mask without a gradient)",
         source=_sse("return (torch.sigmoid(self.conv(x)) > 0.5).to(x.dtype)")),
    # --- device mistakes ------------------------------------------------------------------------
    dict(name="float-gate", bug="device", family="gradient", mistake="dtype",
         hint="float32 precision", what="casts the map with .float() in forward",
         source=_sse("return torch.sigmoid(self.conv(x))", "return x * self.gate(x).float()")),
    dict(name="plain-tensor-temperature", bug="device", family="device",
         mistake="plain-tensor", hint="register_buffer",
         what="keeps a temperature as a plain tensor attribute",
         source=_sse("return torch.sigmoid(self.conv(x) / self.temperature)",
                     init=_CONV + "\nself.temperature = torch.ones(1, 1, 1, 1)")),
    dict(name="cpu-mask", bug="device", family="device", mistake="device", hint="device=x.device",
         what="builds a mask with torch.ones(...) on the CPU",
         source=_sse("s = torch.sigmoid(self.conv(x))\n"
                     "n, _, h, w = x.shape\n"
                     "return s * torch.ones(n, 1, h, w, dtype=x.dtype)")),
    dict(name="view-flatten", bug="device", family="device", mistake="device", hint=".reshape()",
         what="flattens x with .view before a matrix product over the channels",
         source=_sse("n, c, h, w = x.shape\n"
                     "s = self.conv.weight.view(1, c) @ x.view(n, c, h * w)\n"
                     "s = s + self.conv.bias.view(1, 1, 1)\n"
                     "return torch.sigmoid(s).view(n, 1, h, w)")),
    dict(name="used-channels-tolist", bug="device", family="device", mistake="device",
         hint="copies data from x's device to the CPU",
         what="sums only the channels with a non-zero weight, found with .tolist(): a copy to "
              "the host",
         source=_sse("w = self.conv.weight.flatten()\n"
                     "used = [c for c, v in enumerate(w.tolist()) if v != 0]\n"
                     "s = (x[:, used] * w[used].view(1, -1, 1, 1)).sum(1, keepdim=True)\n"
                     "return torch.sigmoid(s + self.conv.bias.view(1, 1, 1, 1))")),
    # --- correct, in different styles -----------------------------------------------------------
    dict(name="used-channels-nonzero", correct=True,
         style="sums only the channels whose 1x1 weight is not zero, found with nonzero() "
               "(data-dependent: runs on a GPU, not on the meta device)",
         source=_sse("w = self.conv.weight.flatten()                   # (C,)\n"
                     "used = w.nonzero().flatten()\n"
                     "s = (x[:, used] * w[used].view(1, -1, 1, 1)).sum(1, keepdim=True)\n"
                     "return torch.sigmoid(s + self.conv.bias.view(1, 1, 1, 1))")),
    dict(name="torch-sigmoid", correct=True, style="torch.sigmoid(self.conv(x))",
         source=_sse("return torch.sigmoid(self.conv(x))")),
    dict(name="sigmoid-module", correct=True, style="an nn.Sigmoid module, torch.mul",
         source=_sse("return self.act(self.conv(x))", "return torch.mul(x, self.gate(x))",
                     init=_CONV + "\nself.act = nn.Sigmoid()")),
    dict(name="einsum", correct=True, style="einsum over the channels with the conv's weights",
         source=_sse("w = self.conv.weight[:, :, 0, 0]                 # (1, C)\n"
                     "s = torch.einsum('oc,nchw->nohw', w, x) + self.conv.bias.view(1, 1, 1, 1)\n"
                     "return s.sigmoid()")),
    dict(name="f-conv2d-ones-like", correct=True,
         style="F.conv2d with weight and bias, 1 / (1 + exp) with torch.ones_like",
         source=_sse("s = F.conv2d(x, self.conv.weight, self.conv.bias)\n"
                     "return torch.ones_like(s) / (1 + torch.exp(-s))")),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.SpatialSE)",
         source="from scse_ref import SpatialSE\n"),
]
