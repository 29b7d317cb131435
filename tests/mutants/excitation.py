"""Mutants of ``Excitation(channels, reduction=16)``: (N, C) -> (N, C),
fc1 -> ReLU -> fc2 -> sigmoid."""

EXERCISE = "excitation"
DEFINES = "Excitation"
PREAMBLE = """\
import math
import torch
import torch.nn.functional as F
from torch import nn
"""

MUTANTS = [
    # --- value mistakes -------------------------------------------------------------------------
    dict(name="softmax-gate", bug="value", family="values", mistake="softmax", hint="softmax",
         what="a softmax over the channels instead of a sigmoid",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return F.softmax(self.fc2(F.relu(self.fc1(z))), dim=1)
'''),
    dict(name="no-relu", bug="value", family="values", mistake="no-relu", hint="no ReLU",
         what="forgets the ReLU between the two layers",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(self.fc1(z)))
'''),
    dict(name="no-sigmoid", bug="value", family="values", mistake="no-sigmoid", hint="sigmoid",
         what="forgets the sigmoid at the end",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return self.fc2(F.relu(self.fc1(z)))
'''),
    dict(name="swapped-activations", bug="value", family="values",
         mistake="swapped-activations", hint="swapped",
         what="sigmoid after fc1 and ReLU after fc2",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return F.relu(self.fc2(torch.sigmoid(self.fc1(z))))
'''),
    dict(name="relu-on-input", bug="value", family="values", mistake="relu-on-input",
         hint="ReLU is applied to the input",
         what="applies the ReLU to z before fc1 instead of between the layers",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(self.fc1(F.relu(z))))
'''),
    dict(name="zero-width", bug="value", family="values", mistake="parameters",
         hint="max(1, channels // reduction)",
         what="hidden = channels // reduction, which is 0 when C < reduction",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="ceil-width", bug="value", family="values", mistake="parameters",
         hint="hidden width is 3",
         what="rounds the hidden width up with math.ceil",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = math.ceil(channels / reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="no-bias", bug="value", family="values", mistake="parameters", hint="bias",
         what="builds the layers with bias=False",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="sequential", bug="value", family="values", mistake="parameters",
         hint="self.fc1 and self.fc2", what="wraps the MLP in one nn.Sequential",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                 nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, z):
        return self.mlp(z)
'''),
    dict(name="dropout", bug="value", family="values", mistake="nondeterministic",
         hint="not deterministic", what="adds a dropout layer (active in training mode)",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(self.drop(torch.relu(self.fc1(z)))))
'''),
    dict(name="exp-sigmoid", bug="value", family="values", mistake="overflow",
         hint="exp(t) / (1 + exp(t))", what="writes the sigmoid as exp(t) / (1 + exp(t))",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        t = self.fc2(torch.relu(self.fc1(z)))
        return torch.exp(t) / (1 + torch.exp(t))
'''),
    # --- shape mistakes -------------------------------------------------------------------------
    dict(name="float-width", bug="shape", family="shape", mistake="error", hint="not an int",
         what="hidden = channels / reduction, a float",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels / reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="keepdim-output", bug="shape", family="shape", mistake="shape", hint="(N, C)",
         what="returns the weights as (N, C, 1, 1), ready for broadcasting",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
        return w.view(w.shape[0], w.shape[1], 1, 1)
'''),
    # --- gradient mistakes ----------------------------------------------------------------------
    dict(name="detached-hidden", bug="gradient", family="gradient", mistake="no-grad",
         hint="received no gradient", what="detaches the hidden activations",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = torch.relu(self.fc1(z)).detach()
        return torch.sigmoid(self.fc2(h))
'''),
    dict(name="no-grad-forward", bug="gradient", family="gradient", mistake="error",
         hint="not connected to autograd", what="runs forward under torch.no_grad()",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    @torch.no_grad()
    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="weight-data", bug="gradient", family="gradient", mistake="no-grad",
         hint="received no gradient", what="uses fc1.weight.data in F.linear, outside autograd",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = F.relu(F.linear(z, self.fc1.weight.data, self.fc1.bias.data))
        return torch.sigmoid(self.fc2(h))
'''),
    dict(name="rewrapped-tensor", bug="gradient", family="gradient", mistake="no-grad",
         hint="received no gradient", what="rebuilds the hidden tensor with torch.tensor(h)",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = torch.tensor(F.relu(self.fc1(z)))
        return torch.sigmoid(self.fc2(h))
'''),
    # --- device mistakes ------------------------------------------------------------------------
    dict(name="cuda-in-init", bug="device", family="shape", mistake="error", hint="x.device",
         what="moves the module to the GPU in __init__",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden).cuda()
        self.fc2 = nn.Linear(hidden, channels).cuda()

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="zeros-without-device", bug="device", family="device", mistake="device",
         hint="device=x.device",
         what="a hand-written ReLU against torch.zeros(...) made on the CPU",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = self.fc1(z)
        h = torch.maximum(h, torch.zeros(h.shape))
        return torch.sigmoid(self.fc2(h))
'''),
    dict(name="plain-tensor-attribute", bug="device", family="device", mistake="plain-tensor",
         hint="register_buffer", what="keeps a per-channel scale as a plain tensor attribute",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.scale = torch.ones(1)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z)))) * self.scale.to(z.dtype)
'''),
    dict(name="float-cast", bug="device", family="values", mistake="error", hint="dtype",
         what="casts the input to float32 with .float()",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z.float()))))
'''),
    dict(name="relu-by-mask-cpu-zeros", bug="device", family="device", mistake="device",
         hint="device=x.device",
         what="a ReLU by boolean mask into torch.zeros(...) made on the CPU (data-dependent: the "
              "meta device cannot run it, the simulated device finds the mix)",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = self.fc1(z)
        active = h > 0
        kept = torch.zeros(h.shape, dtype=h.dtype)
        kept[active] = h[active]
        return torch.sigmoid(self.fc2(kept))
'''),
    dict(name="relu-by-mask-counts-dead", bug="device", family="device", mistake="device",
         hint="moves data to the host",
         what="a ReLU by boolean mask that also counts the dead units with int(...) for a log: "
              "data-dependent, and a read on the host",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.dead_units = 0

    def forward(self, z):
        h = self.fc1(z)
        active = h > 0
        kept = torch.zeros_like(h)
        kept[active] = h[active]
        self.dead_units = int((~active).sum())
        return torch.sigmoid(self.fc2(kept))
'''),
    # --- correct, in different styles -----------------------------------------------------------
    dict(name="relu-by-mask", correct=True,
         style="a ReLU with a boolean mask, kept[h > 0] = h[h > 0] (data-dependent: runs on a "
               "GPU, not on the meta device)",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = self.fc1(z)
        active = h > 0
        kept = torch.zeros_like(h)
        kept[active] = h[active]
        return torch.sigmoid(self.fc2(kept))
'''),
    dict(name="relu-by-nonzero", correct=True,
         style="a ReLU from the indices of the positive units, nonzero(as_tuple=True), into "
               "h.new_zeros",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = self.fc1(z)
        rows, cols = (h > 0).nonzero(as_tuple=True)
        kept = h.new_zeros(h.shape)
        kept[rows, cols] = h[rows, cols]
        return torch.sigmoid(self.fc2(kept))
'''),
    dict(name="functional", correct=True, style="torch.relu / torch.sigmoid on nn.Linear",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
'''),
    dict(name="activation-modules", correct=True,
         style="nn.ReLU(inplace=True) and nn.Sigmoid modules",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, z):
        return self.sigmoid(self.fc2(self.relu(self.fc1(z))))
'''),
    dict(name="f-linear", correct=True, style="F.linear on the submodules' weights, clamp as ReLU",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        h = F.linear(z, self.fc1.weight, self.fc1.bias).clamp(min=0)
        return F.linear(h, self.fc2.weight, self.fc2.bias).sigmoid()
'''),
    dict(name="matmul-zeros-like", correct=True,
         style="z @ W.T + b, torch.maximum with torch.zeros_like, 1 / (1 + exp(-t))",
         source='''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, self.hidden)
        self.fc2 = nn.Linear(self.hidden, channels)

    def forward(self, z):
        h = z @ self.fc1.weight.T + self.fc1.bias
        h = torch.maximum(h, torch.zeros_like(h))
        t = h @ self.fc2.weight.T + self.fc2.bias
        return 1 / (1 + torch.exp(-t))
'''),
    dict(name="reference", correct=True, style="the reference itself (scse_ref.Excitation)",
         source="from scse_ref import Excitation\n"),
]
