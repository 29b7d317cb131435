"""Mutants of ``SCSE(channels, reduction=16, mode="add")``: cSE and sSE in parallel, combined by
add, max, mul or concat. The notebook provides ``ChannelSE`` and ``SpatialSE`` (the reference's)."""

EXERCISE = "scse"
DEFINES = "SCSE"
PREAMBLE = """\
import torch
import torch.nn.functional as F
from torch import nn
from scse_ref import ChannelSE, SpatialSE
"""

_CHECK = '''if mode not in ("add", "max", "mul", "concat"):
    raise ValueError(f"unknown mode {mode!r}")'''
_BRANCHES = '''self.cse = ChannelSE(channels, reduction)
self.sse = SpatialSE(channels)
self.mode = mode'''
_IF_CHAIN = '''a, b = self.cse(x), self.sse(x)
if self.mode == "add":
    return a + b
if self.mode == "max":
    return torch.maximum(a, b)
if self.mode == "mul":
    return a * b
return torch.cat([a, b], dim=1)'''


def _scse(forward: str, init: str = _CHECK + "\n" + _BRANCHES) -> str:
    """An SCSE with these bodies of ``__init__`` (after super) and ``forward``."""
    pad = "\n        "
    return f'''
class SCSE(nn.Module):
    def __init__(self, channels, reduction=16, mode="add"):
        super().__init__()
        {pad.join(init.splitlines())}

    def forward(self, x):
        {pad.join(forward.splitlines())}
'''


def _replace(old: str, new: str) -> str:
    """The if-chain forward with one line changed into ``new`` (one or more lines)."""
    for line in _IF_CHAIN.splitlines():
        if old in line:
            indent = line[:len(line) - len(line.lstrip())]
            lines = line.replace(old, new).splitlines()
            return _IF_CHAIN.replace(line, "\n".join([lines[0]] + [indent + x for x in lines[1:]]))
    raise ValueError(old)


MUTANTS = [
    # --- value mistakes -------------------------------------------------------------------------
    dict(name="mode-ignored", bug="value", family="shape", mistake="shape",
         hint="self.mode", what="stores the mode but always adds",
         source=_scse("return self.cse(x) + self.sse(x)")),
    dict(name="concat-order", bug="value", family="values", mistake="concat-order",
         hint="wrong order", what="concatenates sSE's output first",
         source=_scse(_replace("torch.cat([a, b], dim=1)", "torch.cat([b, a], dim=1)"))),
    dict(name="max-of-gates", bug="value", family="values", mistake="max-of-gates",
         hint="maximum of the two gates", what="'max' takes the maximum of the gates, then scales",
         source=_scse(_replace("return torch.maximum(a, b)",
                               "return x * torch.maximum(self.cse.gate(x), self.sse.gate(x))"))),
    dict(name="mul-of-gates", bug="value", family="values", mistake="mul-of-gates",
         hint="multiplies the gates", what="'mul' multiplies the gates, then scales once",
         source=_scse(_replace("return a * b", "return x * self.cse.gate(x) * self.sse.gate(x)"))),
    dict(name="residual", bug="value", family="values", mistake="residual",
         hint="x is added", what="adds x to the result (a residual connection)",
         source=_scse(_replace("return a + b", "return x + a + b"))),
    dict(name="average", bug="value", family="values", mistake="average", hint="averaged",
         what="averages the two branches in 'add' mode",
         source=_scse(_replace("return a + b", "return (a + b) / 2"))),
    dict(name="swapped-max-mul", bug="value", family="values", mistake="swapped-max-mul",
         hint="swapped", what="'max' multiplies and 'mul' takes the maximum",
         source=_scse(_IF_CHAIN.replace('"max"', '"tmp"').replace('"mul"', '"max"')
                      .replace('"tmp"', '"mul"'))),
    dict(name="sequential", bug="value", family="values", mistake="sequential",
         hint="in parallel", what="runs sSE on cSE's output instead of on x",
         source=_scse(_replace("a, b = self.cse(x), self.sse(x)",
                               "a = self.cse(x)\nb = self.sse(a)"))),
    dict(name="mode-misspelt", bug="value", family="values", mistake="mode-ignored",
         hint="self.mode", what="compares with 'maximum': the 'max' mode falls through to add",
         source=_scse('''a, b = self.cse(x), self.sse(x)
if self.mode == "maximum":
    return torch.maximum(a, b)
if self.mode == "mul":
    return a * b
if self.mode == "concat":
    return torch.cat([a, b], dim=1)
return a + b''')),
    dict(name="reduction-not-passed", bug="value", family="shape", mistake="parameters",
         hint="pass the reduction on",
         what="builds ChannelSE(channels): the reduction argument is lost",
         source=_scse(_IF_CHAIN, init=_CHECK + "\n" + _BRANCHES.replace(
             "ChannelSE(channels, reduction)", "ChannelSE(channels)"))),
    # --- shape mistakes -------------------------------------------------------------------------
    dict(name="concat-batch-dim", bug="shape", family="shape", mistake="shape",
         hint="batch dim", what="concatenates on dim 0",
         source=_scse(_replace("torch.cat([a, b], dim=1)", "torch.cat([a, b])"))),
    dict(name="concat-as-add", bug="shape", family="shape", mistake="shape", hint="2C",
         what="'concat' stacks and sums the outputs: C channels",
         source=_scse(_replace("torch.cat([a, b], dim=1)", "torch.stack([a, b]).sum(dim=0)"))),
    dict(name="max-returns-tuple", bug="shape", family="shape", mistake="tuple",
         hint="(values, indices)", what="'max' returns torch.max(stack, dim=0): values and indices",
         source=_scse(_replace("return torch.maximum(a, b)",
                               "return torch.max(torch.stack([a, b]), dim=0)"))),
    dict(name="mode-checked-in-forward", bug="shape", family="shape", mistake="mode-unchecked",
         hint="in __init__", what="raises for an unknown mode only when forward runs",
         source=_scse(_IF_CHAIN.replace("return torch.cat([a, b], dim=1)",
                                        'if self.mode == "concat":\n'
                                        '    return torch.cat([a, b], dim=1)\n'
                                        'raise ValueError(f"unknown mode {self.mode!r}")'),
                      init=_BRANCHES)),
    dict(name="mode-keyerror", bug="shape", family="shape", mistake="mode-error",
         hint="ValueError", what="looks the mode up in a dict: an unknown mode raises KeyError",
         source=_scse("return self.combine(self.cse(x), self.sse(x))",
                      init=_BRANCHES + '''
self.combine = {"add": torch.add, "max": torch.maximum, "mul": torch.mul,
                "concat": lambda a, b: torch.cat([a, b], dim=1)}[mode]''')),
    dict(name="mode-assert", bug="shape", family="shape", mistake="mode-error",
         hint="ValueError",
         what="checks the mode with assert: an unknown mode raises AssertionError",
         source=_scse(_IF_CHAIN, init='assert mode in ("add", "max", "mul", "concat")\n'
                      + _BRANCHES)),
    # --- gradient mistakes ----------------------------------------------------------------------
    dict(name="detached-sse", bug="gradient", family="gradient", mistake=("no-grad", "detached"),
         hint="gradient", what="detaches the sSE branch",
         source=_scse(_replace("a, b = self.cse(x), self.sse(x)",
                               "a, b = self.cse(x), self.sse(x).detach()"))),
    dict(name="detached-input-sse", bug="gradient", family="gradient", mistake="gradient",
         hint="path from x to the output is cut", what="feeds x.detach() to the sSE branch",
         source=_scse(_replace("a, b = self.cse(x), self.sse(x)",
                               "a, b = self.cse(x), self.sse(x.detach())"))),
    # --- device mistakes ------------------------------------------------------------------------
    dict(name="cuda-in-init", bug="device", family="shape", mistake="error", hint="x.device",
         what="moves the module to the GPU with self.to('cuda')",
         source=_scse(_IF_CHAIN, init=_CHECK + "\n" + _BRANCHES + "\nself.to('cuda')")),
    dict(name="concat-into-cpu-buffer", bug="device", family="device", mistake="device",
         hint="device=x.device", what="'concat' fills a torch.empty made without device=",
         source=_scse(_replace("return torch.cat([a, b], dim=1)",
                               "n, c, h, w = x.shape\n"
                               "out = torch.empty(n, 2 * c, h, w, dtype=x.dtype)\n"
                               "out[:, :c] = a\nout[:, c:] = b\nreturn out"))),
    dict(name="mode-tensor-attribute", bug="device", family="device", mistake="plain-tensor",
         hint="register_buffer", what="keeps the branch weights of 'add' as a plain tensor",
         source=_scse(_replace("return a + b", "return self.weights[0] * a + self.weights[1] * b"),
                      init=_CHECK + "\n" + _BRANCHES + "\nself.weights = torch.ones(2)")),
    dict(name="max-by-mask-cpu-buffer", bug="device", family="device", mistake="device",
         hint="device=x.device",
         what="'max' by boolean masks into a torch.empty made without device= (data-dependent: "
              "the meta device cannot run it, the simulated device finds the mix)",
         source=_scse(_replace("return torch.maximum(a, b)",
                               "larger = a > b\n"
                               "out = torch.empty(x.shape, dtype=x.dtype)\n"
                               "out[larger] = a[larger]\n"
                               "out[~larger] = b[~larger]\n"
                               "return out"))),
    # --- correct, in different styles -----------------------------------------------------------
    dict(name="if-chain", correct=True, style="an if-chain on self.mode",
         source=_scse(_IF_CHAIN)),
    dict(name="max-by-mask", correct=True,
         style="'max' by a boolean mask, out[a > b] = a[a > b] (data-dependent: runs on a GPU, "
               "not on the meta device)",
         source=_scse(_replace("return torch.maximum(a, b)",
                               "out = b.clone()\n"
                               "larger = a > b\n"
                               "out[larger] = a[larger]\n"
                               "return out"))),
    dict(name="dict-of-functions", correct=True, style="a dict of functions chosen in __init__",
         source=_scse("return self.combine(self.cse(x), self.sse(x))", init='''
combine = {"add": torch.add, "max": torch.maximum, "mul": torch.mul,
           "concat": lambda a, b: torch.cat([a, b], dim=1)}
if mode not in combine:
    raise ValueError(f"mode must be one of {list(combine)}, got {mode!r}")
self.combine = combine[mode]
''' + _BRANCHES)),
    dict(name="gates-and-stack", correct=True,
         style="gates computed once; torch.stack/amax/prod; in-place add on a fresh tensor",
         source=_scse('''xc = x * self.cse.gate(x)
xs = x * self.sse.gate(x)
if self.mode == "add":
    out = xc.clone()
    out += xs
    return out
if self.mode == "concat":
    return torch.cat((xc, xs), 1)
both = torch.stack([xc, xs])
return both.amax(dim=0) if self.mode == "max" else both.prod(dim=0)''')),
    dict(name="fused-add-where", correct=True,
         style="x * (g_c + g_s) for add, torch.where for max, new_empty for concat",
         source=_scse('''gc, gs = self.cse.gate(x), self.sse.gate(x)
if self.mode == "add":
    return x * (gc + gs)
a, b = x * gc, x * gs
if self.mode == "max":
    return torch.where(a >= b, a, b)
if self.mode == "mul":
    return a * b
n, c = x.shape[:2]
out = x.new_empty(n, 2 * c, *x.shape[2:])
out[:, :c] = a
out[:, c:] = b
return out''')),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.SCSE)",
         source="from scse_ref import SCSE\n"),
]
