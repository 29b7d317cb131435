"""The reference modules: excitation MLP, channel SE (cSE), spatial SE (sSE) and scSE.

Attribute and parameter names are part of the course's contract: the grader copies weights between a
student's module and these through ``state_dict`` keys (``fc1.weight``, ``excitation.fc1.weight``,
``conv.weight``, ``cse.excitation.fc1.weight``, ``sse.conv.weight``, ...).

Each public entry point (``forward``, ``gate``) checks its input once, before any tensor work. A
module built from others runs their unchecked steps (``Excitation._excite``, ``ChannelSE._gate``,
``SpatialSE._gate``), so one call of ``SCSE`` checks its input once, not once per part.
"""
from __future__ import annotations

import torch
from torch import nn

from ._fused import ScaleAdd, Squeeze
from ._validate import positive_int, tensor_input
from .functional import _spatial_mean, reduced_channels
from .layers import LayerType, create_layer, layer_name

#: Aggregation modes of :class:`SCSE`, with where each comes from.
MODES = {
    "add": "cSE(x) + sSE(x): the seed tutorial, segmentation_models_pytorch, Keras reference",
    "max": "max(cSE(x), sSE(x)) elementwise (max-out): the scSE authors' code, fvcore",
    "mul": "cSE(x) * sSE(x) elementwise",
    "concat": "cat([cSE(x), sSE(x)], dim=1): 2C output channels",
}

_CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _hidden_width(channels: int, reduction: int, rd_channels: int | None,
                  rd_divisor: int | None) -> int:
    if rd_divisor is not None:
        positive_int("rd_divisor", rd_divisor)
    hidden = reduced_channels(channels, reduction, divisor=rd_divisor)
    return hidden if rd_channels is None else positive_int("rd_channels", rd_channels)


def _autocast_on(x: torch.Tensor) -> bool:
    kind = x.device.type
    return torch.amp.is_autocast_available(kind) and torch.is_autocast_enabled(kind)


def _check_spatial_dims(spatial_dims) -> int:
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int) \
            or spatial_dims not in _CONVS:
        raise ValueError(f"spatial_dims must be 1, 2 or 3 (an int), got {spatial_dims!r}")
    return spatial_dims


class Excitation(nn.Module):
    r"""The excitation of squeeze-and-excitation: a bottleneck MLP from channel statistics to gates.

    .. math::
        e(z) = \sigma\big(W_2\, \delta(W_1 z + b_1) + b_2\big), \qquad
        W_1 \in \mathbb{R}^{C_r \times C},\; W_2 \in \mathbb{R}^{C \times C_r}

    with :math:`\delta` = ReLU, :math:`\sigma` = sigmoid and
    :math:`C_r` = :func:`~scse_ref.reduced_channels` ``(C, r)``. The sigmoid (not a softmax) lets
    several channels be kept at once: channels do not compete for a share of one.

    Args:
        channels: number of channels :math:`C`.
        reduction: reduction ratio :math:`r`; the hidden width is ``max(1, C // r)``. Default: 16.
        rd_channels: the hidden width, overriding ``reduction`` (timm's name).
        rd_divisor: round the hidden width to a multiple of this, as timm does (``8`` for parity).
        bias: whether ``fc1`` and ``fc2`` have biases. Default: ``True``.
        act_layer: the activation :math:`\delta`: a name (``"relu"``), a class or a factory.
        gate_layer: the gate :math:`\sigma`: a name (``"sigmoid"``, ``"hard_sigmoid"``), a class or
            a factory.

    Shape:
        - Input: :math:`(N, C)`
        - Output: :math:`(N, C)`, values in :math:`(0, 1)` with the default gate.

    Examples:
        >>> e = Excitation(64, reduction=16)
        >>> e
        Excitation(
          channels=64, hidden=4, reduction=16, bias=True, act=relu, gate=sigmoid
          (fc1): Linear(in_features=64, out_features=4, bias=True)
          (act): ReLU()
          (fc2): Linear(in_features=4, out_features=64, bias=True)
          (gate_act): Sigmoid()
        )
        >>> w = e(torch.randn(2, 64))
        >>> w.shape, bool(((w > 0) & (w < 1)).all())
        (torch.Size([2, 64]), True)
    """

    def __init__(self, channels: int, reduction: int = 16, *, rd_channels: int | None = None,
                 rd_divisor: int | None = None, bias: bool = True,
                 act_layer: LayerType = "relu", gate_layer: LayerType = "sigmoid"):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.reduction = positive_int("reduction", reduction)
        self.hidden = _hidden_width(self.channels, self.reduction, rd_channels, rd_divisor)
        act = create_layer(act_layer, argument="act_layer")          # checked before any weight
        gate_act = create_layer(gate_layer, argument="gate_layer")
        self.fc1 = nn.Linear(self.channels, self.hidden, bias=bias)
        self.act = act
        self.fc2 = nn.Linear(self.hidden, self.channels, bias=bias)
        self.gate_act = gate_act

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tensor_input(z, who="Excitation", channels=self.channels, ndim=2)
        return self._excite(z)

    def _excite(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without the input check: ``(N, C) -> (N, C)``."""
        return self.gate_act(self.fc2(self.act(self.fc1(z))))

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, hidden={self.hidden}, reduction={self.reduction}, "
                f"bias={self.fc1.bias is not None}, act={layer_name(self.act)}, "
                f"gate={layer_name(self.gate_act)}")


class ChannelSE(nn.Module):
    r"""Channel squeeze-and-excitation (cSE, Hu et al. 2018): rescale each channel by a learned gate.

    .. math::
        \text{gate}(x)_{n,c} = e\big(\text{GAP}(x)\big)_{n,c}, \qquad
        y = x \odot \text{gate}(x)

    where GAP is :func:`~scse_ref.global_avg_pool` (the *squeeze*), :math:`e` the
    :class:`Excitation` MLP and :math:`\odot` the product broadcast over space (the *scale*).
    Works for any number of spatial dims.

    Args:
        channels: number of channels :math:`C`.
        reduction: reduction ratio :math:`r` of the excitation. Default: 16.
        rd_channels, rd_divisor, bias, act_layer, gate_layer: passed to :class:`Excitation`.

    Shape:
        - Input: :math:`(N, C, *)` with one or more spatial dims
        - ``gate(x)``: :math:`(N, C, 1, \dots, 1)`
        - Output: :math:`(N, C, *)`, same as the input

    Examples:
        >>> cse = ChannelSE(16, reduction=4)
        >>> x = torch.randn(2, 16, 8, 8)
        >>> cse.gate(x).shape, cse(x).shape
        (torch.Size([2, 16, 1, 1]), torch.Size([2, 16, 8, 8]))
    """

    def __init__(self, channels: int, reduction: int = 16, *, rd_channels: int | None = None,
                 rd_divisor: int | None = None, bias: bool = True,
                 act_layer: LayerType = "relu", gate_layer: LayerType = "sigmoid"):
        super().__init__()
        self.excitation = Excitation(channels, reduction, rd_channels=rd_channels,
                                     rd_divisor=rd_divisor, bias=bias, act_layer=act_layer,
                                     gate_layer=gate_layer)

    @property
    def channels(self) -> int:
        return self.excitation.channels

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The channel weights of ``x``: ``(N, C, *spatial) -> (N, C, 1, ..., 1)``."""
        self._check(x)
        return self._gate(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return x * self._gate(x)

    def _check(self, x) -> None:
        tensor_input(x, who="ChannelSE", channels=self.channels)

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`gate` without the input check."""
        w = self.excitation._excite(_spatial_mean(x))    # squeeze, excite: (N, C)
        return w.view(*w.shape, *(1,) * (x.dim() - 2))  # (N, C) -> (N, C, 1, ..., 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.excitation.reduction}"


class SpatialSE(nn.Module):
    r"""Spatial squeeze-and-excitation (sSE, Roy et al. 2018): rescale each position by a learned gate.

    .. math::
        \text{gate}(x)_{n,1,s} = \sigma\Big(\sum_{c} w_c\, x_{n,c,s} + b\Big), \qquad
        y = x \odot \text{gate}(x)

    The sum is a 1x1 convolution from :math:`C` channels to one map: a per-position weighted sum of
    channels. The one map is shared by every channel.

    Args:
        channels: number of channels :math:`C`.
        spatial_dims: 1, 2 or 3: the convolution is ``Conv1d``, ``Conv2d`` or ``Conv3d``. Default: 2.
        bias: whether the convolution has a bias. Default: ``True``.
        gate_layer: the gate :math:`\sigma`: a name, a class or a factory. Default: ``"sigmoid"``.

    Shape:
        - Input: :math:`(N, C, *)` with ``spatial_dims`` spatial dims
        - ``gate(x)``: :math:`(N, 1, *)`
        - Output: :math:`(N, C, *)`, same as the input

    Examples:
        >>> sse = SpatialSE(16)
        >>> x = torch.randn(2, 16, 8, 6)
        >>> sse.gate(x).shape, sse(x).shape
        (torch.Size([2, 1, 8, 6]), torch.Size([2, 16, 8, 6]))
        >>> SpatialSE(8, spatial_dims=3)(torch.randn(1, 8, 4, 4, 4)).shape
        torch.Size([1, 8, 4, 4, 4])
    """

    def __init__(self, channels: int, *, spatial_dims: int = 2, bias: bool = True,
                 gate_layer: LayerType = "sigmoid"):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        gate_act = create_layer(gate_layer, argument="gate_layer")   # checked before any weight
        self.conv = _CONVS[self.spatial_dims](self.channels, 1, kernel_size=1, bias=bias)
        self.gate_act = gate_act

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The spatial map of ``x``: ``(N, C, *spatial) -> (N, 1, *spatial)``."""
        self._check(x)
        return self._gate(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return x * self._gate(x)

    def _check(self, x) -> None:
        tensor_input(x, who="SpatialSE", channels=self.channels, ndim=self.spatial_dims + 2)

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`gate` without the input check."""
        return self.gate_act(self.conv(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, spatial_dims={self.spatial_dims}"


class SCSE(nn.Module):
    r"""Concurrent spatial and channel squeeze-and-excitation (scSE, Roy et al. 2018).

    cSE and sSE run in parallel on the same input and their outputs are combined:

    .. math::
        \text{add}: x \odot g_c + x \odot g_s, \quad
        \text{max}: \max(x \odot g_c,\, x \odot g_s), \quad
        \text{mul}: (x \odot g_c) \odot (x \odot g_s), \quad
        \text{concat}: [x \odot g_c;\, x \odot g_s]

    with :math:`g_c` = ``cse.gate(x)`` and :math:`g_s` = ``sse.gate(x)``. See :data:`MODES` for
    which project uses which. In ``"add"`` mode the module computes
    :math:`x \odot (g_c + g_s)` with one product (``fused=True``), which equals the two-branch
    form and moves fewer bytes (``bench/bench_scse.py`` measures it).

    Args:
        channels: number of channels :math:`C`.
        reduction: reduction ratio of the channel excitation. Default: 16.
        mode: ``"add"``, ``"max"``, ``"mul"`` or ``"concat"``. Default: ``"add"``.
        spatial_dims: 1, 2 or 3 spatial dims. Default: 2.
        rd_channels, rd_divisor, act_layer: passed to the channel :class:`Excitation`.
        bias: whether the excitation's linear layers and the spatial convolution have biases.
        gate_layer: the gate of both branches. Default: ``"sigmoid"``.
        fused: use the fused ``"add"`` path (no effect in the other modes, nor under autocast,
            where the two-branch form runs so that autocast picks the dtypes). Default: ``True``.

    Shape:
        - Input: :math:`(N, C, *)` with ``spatial_dims`` spatial dims
        - Output: :math:`(N, C, *)`; :math:`(N, 2C, *)` in ``"concat"`` mode

    Examples:
        >>> model = SCSE(16)            # the seed tutorial's demo
        >>> model(torch.randn(1, 16, 64, 64)).shape
        torch.Size([1, 16, 64, 64])
        >>> SCSE(16, mode="concat")(torch.randn(1, 16, 5, 5)).shape
        torch.Size([1, 32, 5, 5])
        >>> SCSE(16, mode="avg")
        Traceback (most recent call last):
            ...
        ValueError: mode='avg' is not an scSE aggregation; use one of 'add', 'max', 'mul', 'concat'
    """

    def __init__(self, channels: int, reduction: int = 16, mode: str = "add", *,
                 spatial_dims: int = 2, rd_channels: int | None = None,
                 rd_divisor: int | None = None, bias: bool = True,
                 act_layer: LayerType = "relu", gate_layer: LayerType = "sigmoid",
                 fused: bool = True):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not an scSE aggregation; use one of "
                             + ", ".join(repr(m) for m in MODES))
        _check_spatial_dims(spatial_dims)                            # before the cSE's weights
        self.mode = mode
        self.fused = bool(fused)
        self.cse = ChannelSE(channels, reduction, rd_channels=rd_channels, rd_divisor=rd_divisor,
                             bias=bias, act_layer=act_layer, gate_layer=gate_layer)
        self.sse = SpatialSE(channels, spatial_dims=spatial_dims, bias=bias,
                             gate_layer=gate_layer)

    @property
    def channels(self) -> int:
        return self.cse.channels

    @property
    def out_channels(self) -> int:
        return 2 * self.channels if self.mode == "concat" else self.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="SCSE", channels=self.channels, ndim=self.sse.spatial_dims + 2)
        if self.mode == "add" and self.fused and not _autocast_on(x):
            return self._forward_fused(x)
        xc = x * self.cse._gate(x)
        xs = x * self.sse._gate(x)
        if self.mode == "add":
            return xc + xs
        if self.mode == "max":
            return torch.maximum(xc, xs)
        if self.mode == "mul":
            return xc * xs
        return torch.cat([xc, xs], dim=1)

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        ones = (1,) * (x.dim() - 2)
        conv = self.sse.conv
        z, s = Squeeze.apply(x, conv.weight)          # (N, C), (N, 1, *spatial)
        if conv.bias is not None:
            s = s + conv.bias.view(1, 1, *ones)
        gate_c = self.cse.excitation._excite(z).view(n, c, *ones)
        gate_s = self.sse.gate_act(s)
        return ScaleAdd.apply(x, gate_c, gate_s)      # x * (gate_c + gate_s)

    def extra_repr(self) -> str:
        fused = f", fused={self.fused}" if self.mode == "add" else ""
        return (f"channels={self.channels}, reduction={self.cse.excitation.reduction}, "
                f"mode={self.mode!r}{fused}")
