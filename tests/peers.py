"""The peers of ``scse_ref``: loaders for ``tests/test_parity.py`` and ``bench/bench_scse.py``.

Where each peer comes from:

- MONAI and fvcore are installed normally (the ``test`` extra of ``pyproject.toml``) and imported as
  usual by the tests.
- timm, segmentation_models_pytorch (smp) and torchvision are installed by ``make setup``, without
  their dependencies, into ``.venv/peers`` (``requirements-peers.txt``), not on ``sys.path``.
  Their packages cannot be imported with the CPU build of torch 2.13.0: torchvision's compiled
  operators fail to register, and timm and smp import torchvision in their ``__init__``.
  :func:`load_peer_module` loads the one module file each test needs, from the installed wheel,
  without running any package ``__init__``.
- The seed tutorial's ``cSE_Module``, ``sSE_Module`` and ``scSE_Module`` (the tutorial this course
  grows from) are transcribed below as the tutorial writes them.

The scSE authors' code (ai-med/squeeze_and_excitation) and the Keras reference (titu1994) cannot be
installed; ``tests/test_parity.py`` writes their formulas in a few lines of torch instead.

>>> scSE_Module(channel=16)(torch.randn(1, 16, 64, 64)).shape    # the seed's own demo
torch.Size([1, 16, 64, 64])
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import sys
import types
from pathlib import Path

import torch  # the seed imports it too; used by the doctest above
import torch.nn as nn

#: Where ``make setup`` installs timm, segmentation_models_pytorch and torchvision (no deps).
PEERS_DIR = Path(sys.prefix) / "peers"

#: The private package under which peer module files are loaded: ``_scse_peers.timm.layers...``.
#: The name cannot collide with a real ``timm``/``torchvision``, and nothing under it is left in
#: ``sys.modules`` once a load returns.
_NAMESPACE = "_scse_peers"

#: The module file each peer's class lives in (a dotted path inside ``.venv/peers``).
TIMM_SE = "timm.layers.squeeze_excite"
SMP_MODULES = "segmentation_models_pytorch.base.modules"
TORCHVISION_MISC = "torchvision.ops.misc"
TIMM_ECA = "timm.layers.eca"
TIMM_CBAM = "timm.layers.cbam"


class PeerUnavailable(ImportError):
    """A peer of ``.venv/peers`` is not installed (tests skip with this message)."""


@functools.cache
def load_peer_module(dotted: str) -> types.ModuleType:
    """Load ``dotted`` (e.g. ``"timm.layers.squeeze_excite"``) from :data:`PEERS_DIR`.

    Every parent package (``timm``, ``timm.layers``) is registered in ``sys.modules`` as an empty
    shell whose ``__path__`` points into the installed wheel, so that the submodule and its relative
    imports (``from .helpers import make_divisible``, ``from ..utils import ...``) load from their
    own files while no package ``__init__`` runs. Everything is registered under the private
    :data:`_NAMESPACE` and removed from ``sys.modules`` again before returning: the returned module
    keeps what it imported in its globals, and other tests never see a half-loaded ``timm``.

    Raises:
        PeerUnavailable: if the package is not in :data:`PEERS_DIR` (run ``make setup``).
    """
    parts = dotted.split(".")
    if not (PEERS_DIR / parts[0]).is_dir():
        raise PeerUnavailable(f"{parts[0]} is not installed in {PEERS_DIR}: run `make setup` "
                              "(it installs requirements-peers.txt there)")
    try:
        for depth in range(len(parts)):                 # the namespace, then each parent package
            name = ".".join([_NAMESPACE, *parts[:depth]])
            shell = types.ModuleType(name)
            shell.__path__ = [str(PEERS_DIR.joinpath(*parts[:depth]))]
            shell.__package__ = name
            sys.modules[name] = shell
        return importlib.import_module(f"{_NAMESPACE}.{dotted}")
    finally:
        for name in [n for n in sys.modules if n == _NAMESPACE or n.startswith(_NAMESPACE + ".")]:
            del sys.modules[name]


def timm_se_module() -> type[nn.Module]:
    """timm's ``SEModule`` (``timm/layers/squeeze_excite.py``)."""
    return load_peer_module(TIMM_SE).SEModule


def timm_make_divisible():
    """The ``make_divisible`` that timm's ``SEModule`` rounds its hidden width with."""
    return load_peer_module(TIMM_SE).make_divisible


def timm_eca_module() -> type[nn.Module]:
    """timm's ``EcaModule`` (``timm/layers/eca.py``)."""
    return load_peer_module(TIMM_ECA).EcaModule


def timm_cbam_module() -> type[nn.Module]:
    """timm's ``CbamModule`` (``timm/layers/cbam.py``).

    Its spatial gate is a ``ConvNormAct``, whose module file imports
    ``torchvision.ops.misc.FrozenBatchNorm2d`` by absolute name. torchvision cannot be imported
    here (see above), so while the file loads, ``torchvision.ops.misc`` is torchvision's own
    ``ops/misc.py`` loaded from its wheel, registered under that name in empty parent shells, and
    removed again afterwards, with everything the load put in ``sys.modules``.
    """
    names = ("torchvision", "torchvision.ops", "torchvision.ops.misc")
    if any(name in sys.modules for name in names):       # a real torchvision: nothing to stand in
        return load_peer_module(TIMM_CBAM).CbamModule
    misc = load_peer_module(TORCHVISION_MISC)
    try:
        for name in names[:-1]:
            shell = types.ModuleType(name)
            shell.__path__ = []
            sys.modules[name] = shell
        sys.modules[names[-1]] = misc
        return load_peer_module(TIMM_CBAM).CbamModule
    finally:
        for name in names:
            sys.modules.pop(name, None)


def smp_scse_module() -> type[nn.Module]:
    """segmentation_models_pytorch's ``SCSEModule`` (``base/modules.py``)."""
    return load_peer_module(SMP_MODULES).SCSEModule


def torchvision_squeeze_excitation() -> type[nn.Module]:
    """torchvision's ``ops.SqueezeExcitation`` (``ops/misc.py``)."""
    return load_peer_module(TORCHVISION_MISC).SqueezeExcitation


def peer_version(distribution: str) -> str:
    """The installed version of ``distribution``, looked up in the venv and in :data:`PEERS_DIR`.

    >>> peer_version("torch").startswith("2.13.0")
    True
    """
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        pass
    found = importlib.metadata.distributions(name=distribution, path=[str(PEERS_DIR)])
    return next((dist.version for dist in found), "not installed")


# ------------------------------------------------------------------------------------------------
# The seed tutorial ("csSEnet注意力网络", a blog post on cSE, sSE and scSE), section 三 (scSE模块),
# transcribed as written: nn.Linear with bias, nn.ReLU(inplace=True), the hidden width
# `channel // ratio` (0 for channel < ratio), 2-D only, scSE = cSE(x) + sSE(x).
# Only the indentation (lost in the text) is restored; everything else is the tutorial's code.
# ------------------------------------------------------------------------------------------------

class cSE_Module(nn.Module):
    def __init__(self, channel,ratio = 16):
        super(cSE_Module, self).__init__()
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excitation = nn.Sequential(
                nn.Linear(in_features=channel, out_features=channel // ratio),
                nn.ReLU(inplace=True),
                nn.Linear(in_features=channel // ratio, out_features=channel),
                nn.Sigmoid()
            )
    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.squeeze(x).view(b, c)
        z = self.excitation(y).view(b, c, 1, 1)
        return x * z.expand_as(x)


class sSE_Module(nn.Module):
    def __init__(self, channel):
        super(sSE_Module, self).__init__()
        self.spatial_excitation = nn.Sequential(
                nn.Conv2d(in_channels=channel, out_channels=1, kernel_size=1,stride=1,padding=0),
                nn.Sigmoid()
            )
    def forward(self, x):
        z = self.spatial_excitation(x)
        return x * z.expand_as(x)


class scSE_Module(nn.Module):
    def __init__(self, channel,ratio = 16):
        super(scSE_Module, self).__init__()
        self.cSE = cSE_Module(channel,ratio)
        self.sSE = sSE_Module(channel)
    def forward(self, x):
        return self.cSE(x) + self.sSE(x)
