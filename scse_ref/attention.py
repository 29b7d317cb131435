r"""Two later channel attentions: ECA-Net's and CBAM's (lessons 02 and 04 of the course).

- :class:`ECA` (Wang et al., *ECA-Net: Efficient Channel Attention for Deep Convolutional Neural
  Networks*, CVPR 2020): cSE without the bottleneck. The squeezed vector is filtered by a 1-D
  convolution across the channels, so each gate sees its channel and a few neighbours, with no
  reduction (no ``C // r`` to get wrong) and :math:`k` weights in all. The kernel size :math:`k` is
  derived from :math:`C` (:func:`eca_kernel_size`).
- :class:`CBAM` (Woo et al., *CBAM: Convolutional Block Attention Module*, ECCV 2018): a channel
  gate from the average *and* the maximum of each map through one shared MLP, then, on the
  rescaled map, a spatial gate from the channel-wise mean and maximum through a 7x7 convolution.

Attribute and parameter names are part of the course's contract, as in :mod:`scse_ref.modules`:
``conv.weight`` for ECA; ``fc1.*``, ``fc2.*`` and ``conv.*`` for CBAM.

>>> ECA(256)
ECA(channels=256, kernel_size=5)
>>> CBAM(64)(torch.randn(2, 64, 8, 8)).shape
torch.Size([2, 64, 8, 8])
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ._validate import positive_int, tensor_input
from .functional import global_avg_pool, reduced_channels
from .layers import LayerType, create_layer, layer_name


def _positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    r"""The kernel size of ECA's 1-D convolution for ``channels`` channels (ECA-Net, Eq. 12).

    .. math::
        k = \psi(C) = \left| \frac{\log_2 C}{\gamma} + \frac{b}{\gamma} \right|_{odd}

    where :math:`|t|_{odd}` is the odd number nearest to :math:`t` (a tie, at an even
    :math:`t`, goes up): the floor of :math:`t`, plus one when it is even. More channels, a wider
    neighbourhood: 3 up to 127 channels, 5 from 128, 7 from 2048 (with :math:`\gamma = 2`,
    :math:`b = 1`). For :math:`C \le 4` the rule gives 1: each gate then sees its own channel
    only. timm's ``EcaModule`` never goes below 3.

    Args:
        channels: number of channels :math:`C` (positive int).
        gamma: :math:`\gamma` of the mapping. Default: 2.
        beta: :math:`b` of the mapping. Default: 1.

    Examples:
        >>> [eca_kernel_size(c) for c in (4, 8, 64, 128, 256, 512, 1024, 2048)]
        [1, 3, 3, 5, 5, 5, 5, 7]
    """
    channels = positive_int("channels", channels)
    gamma = _positive_number("gamma", gamma)
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise ValueError(f"beta must be a number, got {beta!r}")
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    r"""Efficient channel attention (ECA-Net): cSE's gate from a 1-D convolution, no bottleneck.

    .. math::
        z = \text{GAP}(x) \in \mathbb{R}^{C}, \qquad
        \text{gate}(x)_c = \sigma\Big(\sum_{j=-(k-1)/2}^{(k-1)/2} w_j\, z_{c+j}\Big), \qquad
        y = x \odot \text{gate}(x)

    with :math:`z_{c+j} = 0` outside :math:`1 \dots C` (zero padding). The same :math:`k`
    weights slide along the channel axis: each channel's gate depends on its :math:`k - 1`
    neighbours in channel order, which the authors call local cross-channel interaction. There
    is no reduction ratio and no bias: the module has :math:`k` parameters.

    Args:
        channels: number of channels :math:`C`.
        kernel_size: an odd kernel size :math:`k`; ``None`` derives it from :math:`C`
            (:func:`eca_kernel_size`). Default: ``None``.
        gamma, beta: the constants of :func:`eca_kernel_size`. Default: 2 and 1.
        gate_layer: the gate :math:`\sigma`: a name, a class or a factory. Default: ``"sigmoid"``.

    Shape:
        - Input: :math:`(N, C, *)` with one or more spatial dims
        - ``gate(x)``: :math:`(N, C, 1, \dots, 1)`
        - Output: :math:`(N, C, *)`, same as the input

    Examples:
        >>> eca = ECA(64)
        >>> eca
        ECA(channels=64, kernel_size=3)
        >>> x = torch.randn(2, 64, 7, 5)
        >>> eca.gate(x).shape, eca(x).shape
        (torch.Size([2, 64, 1, 1]), torch.Size([2, 64, 7, 5]))
        >>> sum(p.numel() for p in eca.parameters())
        3
        >>> ECA(64, kernel_size=4)
        Traceback (most recent call last):
            ...
        ValueError: kernel_size must be odd (the window is centred on its channel), got 4
    """

    def __init__(self, channels: int, kernel_size: int | None = None, *, gamma: float = 2,
                 beta: float = 1, gate_layer: LayerType = "sigmoid"):
        super().__init__()
        self.channels = positive_int("channels", channels)
        if kernel_size is None:
            kernel_size = eca_kernel_size(self.channels, gamma, beta)
        kernel_size = positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd (the window is centred on its channel), "
                             f"got {kernel_size}")
        self.kernel_size = kernel_size
        gate_act = create_layer(gate_layer, argument="gate_layer")   # checked before any weight
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.gate_act = gate_act

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The channel weights of ``x``: ``(N, C, *spatial) -> (N, C, 1, ..., 1)``."""
        tensor_input(x, who="ECA", channels=self.channels)
        n, c = x.shape[:2]
        z = global_avg_pool(x).view(n, 1, c)                     # the channels as a sequence
        w = self.gate_act(self.conv(z))                          # (N, 1, C)
        return w.view(n, c, *(1,) * (x.dim() - 2))               # (N, C, 1, ..., 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)

    def extra_repr(self) -> str:
        gate = "" if isinstance(self.gate_act, nn.Sigmoid) else f", gate={layer_name(self.gate_act)}"
        return f"channels={self.channels}, kernel_size={self.kernel_size}{gate}"

    def __repr__(self) -> str:  # one line: the convolution is described by extra_repr
        return f"{type(self).__name__}({self.extra_repr()})"


class CBAM(nn.Module):
    r"""Convolutional block attention module (CBAM): a channel gate, then a spatial gate.

    .. math::
        M_c(x) &= \sigma\big(\text{MLP}(\text{AvgPool}(x)) + \text{MLP}(\text{MaxPool}(x))\big)
                  \in (0, 1)^{N \times C \times 1 \times 1} \\
        x' &= x \odot M_c(x) \\
        M_s(x') &= \sigma\big(f^{k \times k}([\text{mean}_c(x');\ \max_c(x')])\big)
                  \in (0, 1)^{N \times 1 \times H \times W} \\
        y &= x' \odot M_s(x')

    ``AvgPool`` / ``MaxPool`` pool each map over its positions (``(N, C)``); the **one** MLP,
    :math:`\text{fc2}(\delta(\text{fc1}(\cdot)))` with :math:`C_r =`
    :func:`~scse_ref.reduced_channels` ``(C, r)`` hidden units, is applied to both and the two
    results are added before the sigmoid. :math:`\text{mean}_c` / :math:`\max_c` pool over the
    channels at each position, and are concatenated in that order (mean first) into a 2-channel
    map that a :math:`k \times k` convolution (padding :math:`k // 2`) turns into one logit map.

    The paper's own code has biases in the MLP and a BatchNorm after the spatial convolution;
    here the convolution has a bias instead (equal to a BatchNorm in evaluation mode folded into
    the convolution), so that each sample's output depends on that sample alone.

    Args:
        channels: number of channels :math:`C`.
        reduction: reduction ratio :math:`r` of the shared MLP. Default: 16.
        kernel_size: odd size of the spatial convolution. Default: 7.
        rd_channels: the hidden width, overriding ``reduction`` (timm's name).
        rd_divisor: round the hidden width to a multiple of this, as timm does.
        bias: whether ``fc1`` and ``fc2`` have biases. Default: ``True``.
        act_layer: the MLP's activation :math:`\delta`. Default: ``"relu"``.
        gate_layer: the gate :math:`\sigma` of both gates. Default: ``"sigmoid"``.

    Shape:
        - Input: :math:`(N, C, H, W)`
        - ``channel_gate(x)``: :math:`(N, C, 1, 1)`; ``spatial_gate(x)``: :math:`(N, 1, H, W)`
        - Output: :math:`(N, C, H, W)`

    Examples:
        >>> cbam = CBAM(64, reduction=16)
        >>> cbam
        CBAM(channels=64, hidden=4, reduction=16, kernel_size=7)
        >>> x = torch.randn(2, 64, 9, 6)
        >>> cbam.channel_gate(x).shape, cbam.spatial_gate(x).shape
        (torch.Size([2, 64, 1, 1]), torch.Size([2, 1, 9, 6]))
        >>> sum(p.numel() for p in cbam.parameters())      # (64*4 + 4) + (4*64 + 64) + (2*49 + 1)
        679
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, *,
                 rd_channels: int | None = None, rd_divisor: int | None = None,
                 bias: bool = True, act_layer: LayerType = "relu",
                 gate_layer: LayerType = "sigmoid"):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.reduction = positive_int("reduction", reduction)
        self.kernel_size = positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd (padding kernel_size // 2 keeps H and W), "
                             f"got {kernel_size}")
        if rd_channels is not None:
            self.hidden = positive_int("rd_channels", rd_channels)
        else:
            divisor = None if rd_divisor is None else positive_int("rd_divisor", rd_divisor)
            self.hidden = reduced_channels(self.channels, self.reduction, divisor=divisor)
        act = create_layer(act_layer, argument="act_layer")          # checked before any weight
        gate_act = create_layer(gate_layer, argument="gate_layer")
        self.fc1 = nn.Linear(self.channels, self.hidden, bias=bias)
        self.act = act
        self.fc2 = nn.Linear(self.hidden, self.channels, bias=bias)
        self.conv = nn.Conv2d(2, 1, self.kernel_size, padding=self.kernel_size // 2)
        self.gate_act = gate_act

    def _mlp(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(z)))

    def channel_gate(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`M_c(x)`: ``(N, C, H, W) -> (N, C, 1, 1)``, one shared MLP on both squeezes."""
        tensor_input(x, who="CBAM", channels=self.channels, ndim=4)
        n, c = x.shape[:2]
        logits = self._mlp(x.mean(dim=(2, 3))) + self._mlp(x.amax(dim=(2, 3)))   # (N, C)
        return self.gate_act(logits).view(n, c, 1, 1)

    def spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`M_s(x)`: ``(N, C, H, W) -> (N, 1, H, W)``, from the channel-wise mean and max."""
        tensor_input(x, who="CBAM", channels=self.channels, ndim=4)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.gate_act(self.conv(pooled))                  # (N, 2, H, W) -> (N, 1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel_gate(x)                             # channel first ...
        return x * self.spatial_gate(x)                          # ... then space, on the result

    def extra_repr(self) -> str:
        bias = "" if self.fc1.bias is not None else ", bias=False"
        return (f"channels={self.channels}, hidden={self.hidden}, reduction={self.reduction}, "
                f"kernel_size={self.kernel_size}{bias}")

    def __repr__(self) -> str:  # one line: the layers are described by extra_repr
        return f"{type(self).__name__}({self.extra_repr()})"
