"""Where an SE block goes in a network: a small residual block with the SENet integration variants.

Hu et al. (SENet, TPAMI version, Table 14) put the SE unit on the residual branch of a ResNet
block, just before the shortcut addition, and compared three other places on SE-ResNet-50
(ImageNet top-1 error, %): standard 22.28, SE-PRE 22.23, SE-POST 22.78, SE-Identity 22.20.
The unit is robust to where it sits as long as it acts before the two branches are added;
after the addition (SE-POST) it also scales the identity path, and the error rises.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import tensor_input
from .modules import SCSE, ChannelSE

#: Places of the SE unit in a residual block (Hu et al., SENet, TPAMI version, Fig. 5 and
#: Table 14), with ``F`` the residual branch and ``S`` the shortcut: in :class:`SEResidualBlock`
#: ``F(x) = conv2(relu(conv1(x)))`` and ``S`` the identity; in :class:`~scse_ref.Bottleneck`
#: ``S`` is the identity or a projection. The one table of both blocks.
PLACEMENTS = {
    "standard": "relu(se(F(x)) + S(x)): on the residual branch, just before the addition "
                "(SENet, the seed)",
    "pre": "relu(F(se(x)) + S(x)): SE-PRE, at the input of the residual branch",
    "post": "se(relu(F(x) + S(x))): SE-POST, after the addition and its ReLU",
    "identity": "relu(F(x) + se(S(x))): SE-Identity, on the shortcut, parallel to the branch",
}



def _check_placement(placement: str) -> str:
    if placement not in PLACEMENTS:
        raise ValueError(f"placement={placement!r} is not an SE placement; use one of "
                         + ", ".join(repr(p) for p in PLACEMENTS))
    return placement


#: Attention units :class:`SEResidualBlock` can hold.
ATTENTIONS = {"cse": ChannelSE, "scse": SCSE}


class SEResidualBlock(nn.Module):
    r"""A residual block (two 3x3 convolutions, no normalisation) with an SE unit.

    .. math::
        F(x) = W_2 * \delta(W_1 * x + b_1) + b_2, \qquad
        y = \delta\big(x + \text{se}(F(x))\big)

    with :math:`\delta` = ReLU, :math:`*` a 3x3 convolution with padding 1 (the map keeps its
    size) and ``se`` a :class:`~scse_ref.ChannelSE` (or :class:`~scse_ref.SCSE`). ``placement``
    moves the SE unit to the other places SENet compared (see :data:`PLACEMENTS`):
    ``"pre"`` :math:`\delta(x + F(\text{se}(x)))`, ``"post"`` :math:`\text{se}(\delta(x + F(x)))`,
    ``"identity"`` :math:`\delta(\text{se}(x) + F(x))`. Every placement has the same parameters.

    There is no BatchNorm, so each sample's output depends on that sample alone, in training
    mode too.

    Args:
        channels: number of channels :math:`C` (input and output).
        reduction: reduction ratio of the SE unit. Default: 16.
        placement: ``"standard"``, ``"pre"``, ``"post"`` or ``"identity"``. Default:
            ``"standard"``.
        attention: ``"cse"`` (:class:`~scse_ref.ChannelSE`) or ``"scse"``
            (:class:`~scse_ref.SCSE` in ``"add"`` mode). Default: ``"cse"``.

    Shape:
        - Input: :math:`(N, C, H, W)`
        - Output: :math:`(N, C, H, W)`

    Examples:
        >>> block = SEResidualBlock(16, reduction=4)
        >>> block
        SEResidualBlock(
          channels=16, placement='standard'
          (conv1): Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (conv2): Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
          (se): ChannelSE(
            channels=16, reduction=4
            (excitation): Excitation(
              channels=16, hidden=4, reduction=4, bias=True, act=relu, gate=sigmoid
              (fc1): Linear(in_features=16, out_features=4, bias=True)
              (act): ReLU()
              (fc2): Linear(in_features=4, out_features=16, bias=True)
              (gate_act): Sigmoid()
            )
          )
        )
        >>> block(torch.randn(2, 16, 7, 5)).shape
        torch.Size([2, 16, 7, 5])
        >>> SEResidualBlock(16, placement="inside")
        Traceback (most recent call last):
            ...
        ValueError: placement='inside' is not an SE placement; use one of 'standard', 'pre', 'post', 'identity'
    """

    def __init__(self, channels: int, reduction: int = 16, *, placement: str = "standard",
                 attention: str = "cse"):
        super().__init__()
        _check_placement(placement)
        if attention not in ATTENTIONS:
            raise ValueError(f"attention={attention!r} is not known; use one of "
                             + ", ".join(repr(a) for a in ATTENTIONS))
        self.placement = placement
        se = ATTENTIONS[attention](channels, reduction)   # validates channels and reduction
        self.conv1 = nn.Conv2d(se.channels, se.channels, 3, padding=1)
        self.conv2 = nn.Conv2d(se.channels, se.channels, 3, padding=1)
        self.se = se

    @property
    def channels(self) -> int:
        return self.se.channels

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch without the SE unit: ``conv2(relu(conv1(x)))``."""
        return self.conv2(F.relu(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="SEResidualBlock", channels=self.channels, ndim=4)
        if self.placement == "standard":
            return F.relu(x + self.se(self.residual(x)))
        if self.placement == "pre":
            return F.relu(x + self.residual(self.se(x)))
        if self.placement == "post":
            return self.se(F.relu(x + self.residual(x)))
        return F.relu(self.se(x) + self.residual(x))        # identity

    def extra_repr(self) -> str:
        return f"channels={self.channels}, placement={self.placement!r}"
