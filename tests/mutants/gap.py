"""Mutants of ``global_avg_pool(x)``: (N, C, *spatial) -> (N, C), the mean over every position."""

EXERCISE = "global_avg_pool"
DEFINES = "global_avg_pool"
PREAMBLE = """\
import math
import numpy as np
import torch
import torch.nn.functional as F
"""

MUTANTS = [
    # --- value mistakes -------------------------------------------------------------------------
    dict(name="max-pool", bug="value", family="values", mistake="max-pool", hint="max pooling",
         what="the maximum over the positions instead of the mean",
         source='''
def global_avg_pool(x):
    return x.amax(dim=tuple(range(2, x.dim())))
'''),
    dict(name="sum", bug="value", family="values", mistake="sum", hint="sum over the positions",
         what="sums the positions and forgets to divide",
         source='''
def global_avg_pool(x):
    return x.sum(dim=tuple(range(2, x.dim())))
'''),
    dict(name="divide-by-width-squared", bug="value", family="values", mistake="wrong-count",
         hint="wrong number of positions",
         what="divides the sum by W * W, as if every map were square",
         source='''
def global_avg_pool(x):
    return x.sum(dim=tuple(range(2, x.dim()))) / x.shape[-1] ** (x.dim() - 2)
'''),
    dict(name="in-place-divide", bug="value", family="values", mistake="in-place",
         hint="in place", what="divides x in place before summing (x /= ...)",
         source='''
def global_avg_pool(x):
    x /= math.prod(x.shape[2:])
    return x.sum(dim=tuple(range(2, x.dim())))
'''),
    dict(name="hard-coded-float", bug="value", family="values", mistake="dtype",
         hint="hard-coded dtype", what="casts to float32 with .float()",
         source='''
def global_avg_pool(x):
    return x.float().mean(dim=tuple(range(2, x.dim())))
'''),
    # --- shape mistakes -------------------------------------------------------------------------
    dict(name="keepdim", bug="shape", family="shape", mistake="shape", hint="keepdim",
         what="keeps the spatial dims with size 1",
         source='''
def global_avg_pool(x):
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
'''),
    dict(name="only-4d", bug="shape", family="shape", mistake="error",
         hint="fixed number of dims", what="averages dims 2 and 3 only: 1-D and 3-D maps break",
         source='''
def global_avg_pool(x):
    return x.mean(dim=(2, 3))
'''),
    dict(name="last-two-dims", bug="shape", family="shape", mistake="shape",
         hint="not the last two dims",
         what="averages dims -2 and -1: for a 1-D map that takes the channels",
         source='''
def global_avg_pool(x):
    return x.mean(dim=(-2, -1))
'''),
    dict(name="unpack-hw", bug="shape", family="shape", mistake="error",
         hint="fixed number of dims", what="unpacks n, c, h, w = x.shape",
         source='''
def global_avg_pool(x):
    n, c, h, w = x.shape
    return x.sum(dim=(2, 3)) / (h * w)
'''),
    dict(name="mean-over-channels", bug="shape", family="shape", mistake="shape",
         hint="channels were averaged", what="flattens from dim 1, so the channels are averaged",
         source='''
def global_avg_pool(x):
    return x.flatten(1).mean(dim=1)
'''),
    dict(name="mean-over-batch", bug="shape", family="shape", mistake="shape",
         hint="batch was averaged", what="averages over dim 0 as well",
         source='''
def global_avg_pool(x):
    return x.mean(dim=(0, *range(2, x.dim())))
'''),
    dict(name="squeeze-all", bug="shape", family="shape", mistake="shape", hint="squeeze",
         what="adaptive pooling then .squeeze(): a batch of one loses its batch dim",
         source='''
def global_avg_pool(x):
    return F.adaptive_avg_pool2d(x, 1).squeeze()
'''),
    # --- gradient mistakes ----------------------------------------------------------------------
    dict(name="numpy-round-trip", bug="gradient", family="gradient", mistake="error",
         hint="numpy", what="computes the mean in numpy and converts back",
         source='''
def global_avg_pool(x):
    z = x.detach().numpy().mean(axis=tuple(range(2, x.dim())))
    return torch.from_numpy(z)
'''),
    dict(name="numpy-requires-grad", bug="gradient", family="gradient", mistake="error",
         hint="numpy", what="calls x.numpy() without detaching",
         source='''
def global_avg_pool(x):
    return torch.from_numpy(np.mean(x.numpy(), axis=tuple(range(2, x.dim()))))
'''),
    dict(name="item-loop", bug="gradient", family="gradient", mistake="error",
         hint="not connected to autograd", what="fills a new tensor with .item() values in a loop",
         source='''
def global_avg_pool(x):
    n, c = x.shape[:2]
    out = torch.zeros(n, c, dtype=x.dtype, device=x.device)
    for i in range(n):
        for j in range(c):
            out[i, j] = x[i, j].mean().item()
    return out
'''),
    dict(name="no-grad", bug="gradient", family="gradient", mistake="error",
         hint="not connected to autograd", what="computes the mean under torch.no_grad()",
         source='''
def global_avg_pool(x):
    with torch.no_grad():
        return x.mean(dim=tuple(range(2, x.dim())))
'''),
    # --- device mistakes ------------------------------------------------------------------------
    dict(name="view-not-reshape", bug="device", family="device", mistake="device",
         hint=".reshape()", what="x.view(n, c, -1): fails for channels_last and strided inputs",
         source='''
def global_avg_pool(x):
    return x.view(x.shape[0], x.shape[1], -1).mean(dim=2)
'''),
    dict(name="cpu-buffer", bug="device", family="device", mistake="device",
         hint="device=x.device", what="fills a torch.zeros made without device=",
         source='''
def global_avg_pool(x):
    n, c = x.shape[:2]
    out = torch.zeros(n, c, dtype=x.dtype)
    for j in range(c):
        out[:, j] = x[:, j].reshape(n, -1).mean(dim=1)
    return out
'''),
    dict(name="cpu-output", bug="device", family="device", mistake="device", hint=".cpu()",
         what="returns the result with .cpu()",
         source='''
def global_avg_pool(x):
    return x.mean(dim=tuple(range(2, x.dim()))).cpu()
'''),
    dict(name="cuda", bug="device", family="shape", mistake="error", hint="x.device",
         what="moves the input to the GPU with .cuda()",
         source='''
def global_avg_pool(x):
    return x.cuda().mean(dim=tuple(range(2, x.dim())))
'''),
    # --- correct, in different styles -----------------------------------------------------------
    dict(name="flatten-mean", correct=True, style="x.flatten(2).mean(-1)",
         source='''
def global_avg_pool(x):
    return x.flatten(2).mean(dim=-1)
'''),
    dict(name="sum-over-numel", correct=True, style="sum / number of positions",
         source='''
def global_avg_pool(x):
    dims = tuple(range(2, x.dim()))
    return x.sum(dim=dims) / math.prod(x.shape[2:])
'''),
    dict(name="adaptive-pool", correct=True, style="F.adaptive_avg_pool{1,2,3}d by rank",
         source='''
def global_avg_pool(x):
    pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
    return pool[x.dim() - 2](x, 1).flatten(1)
'''),
    dict(name="repeated-mean", correct=True, style="mean of the last dim until two are left",
         source='''
def global_avg_pool(x):
    while x.dim() > 2:
        x = x.mean(dim=-1)
    return x
'''),
    dict(name="cpu-scalar-constant", correct=True, style="reshape, sum, divide by a 0-dim tensor",
         source='''
def global_avg_pool(x):
    n, c = x.shape[:2]
    count = torch.tensor(x[0, 0].numel())     # a 0-dim CPU constant: legal on any device
    return x.reshape(n, c, -1).sum(dim=2) / count
'''),
    dict(name="einsum-ones", correct=True, style="einsum with x.new_ones",
         source='''
def global_avg_pool(x):
    flat = x.flatten(2)
    weights = x.new_ones(flat.shape[-1]) / flat.shape[-1]
    return torch.einsum("ncs,s->nc", flat, weights)
'''),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.global_avg_pool)",
         source="from scse_ref import global_avg_pool\n"),
]
