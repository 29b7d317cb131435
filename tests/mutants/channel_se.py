"""Mutants of ``ChannelSE(channels, reduction=16)``: gate(x) = Excitation(GAP(x)) as (N, C, 1, 1),
forward(x) = x * gate(x). The notebook provides ``Excitation`` (here the reference's) and
``global_avg_pool``."""

EXERCISE = "channel_se"
DEFINES = "ChannelSE"
PREAMBLE = """\
import torch
import torch.nn.functional as F
from torch import nn
from scse_ref import Excitation, global_avg_pool
"""


def _cse(gate: str, forward: str = "return x * self.gate(x)", init: str = "") -> str:
    """A ChannelSE whose gate body is ``gate`` and forward body ``forward`` (indented lines)."""
    pad = "\n        "
    return f'''
class ChannelSE(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.excitation = Excitation(channels, reduction){pad + init if init else ""}

    def gate(self, x):
        {pad.join(gate.splitlines())}

    def forward(self, x):
        {pad.join(forward.splitlines())}
'''


MUTANTS = [
    # --- value mistakes -------------------------------------------------------------------------
    dict(name="max-pool", bug="value", family="values", mistake="max-pool", hint="max pooling",
         what="squeezes with the maximum over H x W",
         source=_cse("w = self.excitation(x.amax(dim=(2, 3)))\n"
                     "return w.view(x.shape[0], x.shape[1], 1, 1)")),
    dict(name="sum-pool", bug="value", family="values", mistake="sum-pool", hint="sums",
         what="squeezes with the sum over H x W",
         source=_cse("w = self.excitation(x.sum(dim=(2, 3)))\n"
                     "return w[:, :, None, None]")),
    dict(name="add-gate", bug="value", family="values", mistake="add-not-multiply",
         hint="multiplies", what="x + gate(x) instead of x * gate(x)",
         source=_cse("w = self.excitation(global_avg_pool(x))\nreturn w[:, :, None, None]",
                     "return x + self.gate(x)")),
    dict(name="double-sigmoid", bug="value", family="values", mistake="double-sigmoid",
         hint="sigmoid is applied twice", what="applies a sigmoid to the Excitation's output",
         source=_cse("w = torch.sigmoid(self.excitation(global_avg_pool(x)))\n"
                     "return w[:, :, None, None]")),
    dict(name="batch-mixing-expand", bug="value", family="values", mistake="batch-mixing",
         hint="batch", what="averages over the batch too, then expands to (N, C)",
         source=_cse("z = x.mean(dim=(0, 2, 3)).expand(x.shape[0], -1)\n"
                     "return self.excitation(z)[:, :, None, None]")),
    dict(name="no-excitation", bug="value", family="values", mistake="no-excitation",
         hint="excitation MLP is skipped", what="uses sigmoid(mean) as the gate, skipping the MLP",
         source=_cse("return torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))")),
    dict(name="in-place-scale", bug="value", family="values", mistake="in-place",
         hint="in place", what="scales with x *= gate(x)",
         source=_cse("return self.excitation(global_avg_pool(x))[:, :, None, None]",
                     "x *= self.gate(x)\nreturn x")),
    dict(name="reduction-ignored", bug="value", family="shape", mistake="parameters",
         hint="pass the reduction on",
         what="builds Excitation(channels): the reduction argument is lost",
         source=_cse("return self.excitation(global_avg_pool(x))[:, :, None, None]",
                     init="self.excitation = Excitation(channels)")),
    dict(name="state-between-calls", bug="value", family="values", mistake="state",
         hint="between calls",
         what="caches the gate of the first call and reuses it for every later input",
         source=_cse("if getattr(self, '_cached', None) is None:\n"
                     "    self._cached = self.excitation(global_avg_pool(x))[:, :, None, None]\n"
                     "return self._cached")),
    # --- shape mistakes -------------------------------------------------------------------------
    dict(name="gate-not-broadcastable", bug="shape", family="shape", mistake="shape",
         hint="(N, C, 1, 1)", what="gate returns the (N, C) weights; forward reshapes them",
         source=_cse("return self.excitation(global_avg_pool(x))",
                     "return x * self.gate(x)[:, :, None, None]")),
    dict(name="forward-returns-gate", bug="shape", family="shape", mistake="shape",
         hint="forward returns the gate", what="forward returns gate(x) and forgets the scale",
         source=_cse("return self.excitation(global_avg_pool(x))[:, :, None, None]",
                     "return self.gate(x)")),
    dict(name="gate-expanded", bug="shape", family="shape", mistake="shape",
         hint="full (N, C, H, W)", what="gate returns the weights expanded to x's shape",
         source=_cse("w = self.excitation(global_avg_pool(x))\n"
                     "return w[:, :, None, None].expand_as(x)")),
    dict(name="batch-mean-gate", bug="shape", family="shape", mistake="shape",
         hint="batch",
         what="averages the squeezed vectors over the batch: one gate for all samples",
         source=_cse("z = x.mean(dim=(2, 3)).mean(dim=0, keepdim=True)\n"
                     "return self.excitation(z)[:, :, None, None]")),
    dict(name="keepdim-into-mlp", bug="shape", family="shape", mistake="error",
         hint="shapes do not fit", what="feeds the (N, C, 1, 1) mean to the Excitation",
         source=_cse("return self.excitation(x.mean(dim=(2, 3), keepdim=True))")),
    # --- gradient mistakes ----------------------------------------------------------------------
    dict(name="detached-gate", bug="gradient", family="gradient", mistake=("no-grad", "detached"),
         hint="gradient", what="multiplies by gate(x).detach()",
         source=_cse("return self.excitation(global_avg_pool(x))[:, :, None, None]",
                     "return x * self.gate(x).detach()")),
    dict(name="no-grad-gate", bug="gradient", family="gradient", mistake=("no-grad", "detached"),
         hint="gradient", what="computes the gate under torch.no_grad()",
         source=_cse("with torch.no_grad():\n"
                     "    w = self.excitation(global_avg_pool(x))\n"
                     "return w[:, :, None, None]")),
    # --- device mistakes ------------------------------------------------------------------------
    dict(name="view-squeeze", bug="device", family="device", mistake="device", hint=".reshape()",
         what="squeezes with x.view(n, c, -1).mean(-1): fails on channels_last input",
         source=_cse("n, c = x.shape[:2]\nz = x.view(n, c, -1).mean(dim=-1)\n"
                     "return self.excitation(z).view(n, c, 1, 1)")),
    dict(name="ones-on-cpu", bug="device", family="device", mistake="device",
         hint="device=x.device", what="builds the gate from torch.ones(...) made on the CPU",
         source=_cse("n, c = x.shape[:2]\nscale = torch.ones(n, c, 1, 1)\n"
                     "return scale * self.excitation(global_avg_pool(x)).view(n, c, 1, 1)")),
    dict(name="cpu-output", bug="device", family="device", mistake="device", hint=".cpu()",
         what="returns the output with .cpu()",
         source=_cse("return self.excitation(global_avg_pool(x))[:, :, None, None]",
                     "return (x * self.gate(x)).cpu()")),
    dict(name="float32-gate", bug="device", family="values", mistake="dtype",
         hint="hard-coded dtype", what="casts the gate with .float()",
         source=_cse("return self.excitation(global_avg_pool(x)).float()[:, :, None, None]")),
    dict(name="cuda-excitation", bug="device", family="shape", mistake="error", hint="x.device",
         what="moves the excitation to the GPU in __init__",
         source=_cse("return self.excitation(global_avg_pool(x))[:, :, None, None]",
                     init="self.excitation = self.excitation.cuda()")),
    # --- correct, in different styles -----------------------------------------------------------
    dict(name="view", correct=True, style="global_avg_pool + view(n, c, 1, 1)",
         source=_cse("n, c = x.shape[:2]\nw = self.excitation(global_avg_pool(x))  # (N, C)\n"
                     "return w.view(n, c, 1, 1)")),
    dict(name="unsqueeze", correct=True, style="mean over (2, 3), unsqueeze twice",
         source=_cse("w = self.excitation(x.mean(dim=(2, 3)))\n"
                     "return w.unsqueeze(-1).unsqueeze(-1)")),
    dict(name="einsum", correct=True, style="flatten + mean, einsum for the scale",
         source=_cse("return self.excitation(x.flatten(2).mean(-1))[..., None, None]",
                     "w = self.gate(x)[:, :, 0, 0]\nreturn torch.einsum('nchw,nc->nchw', x, w)")),
    dict(name="pool-module", correct=True,
         style="nn.AdaptiveAvgPool2d module, reshape, torch.mul; a 0-dim CPU constant",
         source=_cse("n, c = x.shape[:2]\nz = self.pool(x).reshape(n, c) * torch.tensor(1.0)\n"
                     "return self.excitation(z).reshape(n, c, 1, 1)",
                     "return torch.mul(x, self.gate(x))",
                     init="self.pool = nn.AdaptiveAvgPool2d(1)")),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.ChannelSE)",
         source="from scse_ref import ChannelSE\n"),
]
