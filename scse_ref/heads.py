"""Classifier heads built on global average pooling (lesson 01 of the course)."""
from __future__ import annotations

import torch
from torch import nn

from ._validate import positive_int, tensor_input
from .functional import _spatial_mean
from .modules import _CONVS, _check_spatial_dims


class GAPHead(nn.Module):
    r"""A classifier head without fully connected layers: one map per class, averaged.

    A 1x1 convolution turns the :math:`C` feature maps into :math:`K` class maps, and global
    average pooling turns each class map into one score (Lin et al., *Network in Network*, 2014):

    .. math::
        s_{n,k} = \frac{1}{|S|} \sum_{p \in S} \Big( \sum_{c} w_{k,c}\, x_{n,c,p} + b_k \Big)
                = \sum_{c} w_{k,c}\, \text{GAP}(x)_{n,c} + b_k

    Both steps are linear, so averaging first and applying the weights to the :math:`C` averages
    gives the same scores: this head is the ``avgpool`` + ``fc`` of ResNet, with
    :math:`K (C + 1)` parameters whatever the size of the map. The class maps ``conv(x)`` before
    the average are the *class activation maps* (CAM, Zhou et al. 2016). The scores are logits:
    apply a softmax (or give them to ``nn.CrossEntropyLoss``) for probabilities.

    Args:
        channels: number of input channels :math:`C`.
        num_classes: number of classes :math:`K`.
        spatial_dims: 1, 2 or 3: the convolution is ``Conv1d``, ``Conv2d`` or ``Conv3d``. Default: 2.
        bias: whether the convolution has a bias (one per class). Default: ``True``.

    Shape:
        - Input: :math:`(N, C, *)` with ``spatial_dims`` spatial dims
        - Output: :math:`(N, K)`, the class scores

    Examples:
        >>> head = GAPHead(512, 1000)
        >>> head
        GAPHead(
          channels=512, num_classes=1000, spatial_dims=2
          (conv): Conv2d(512, 1000, kernel_size=(1, 1), stride=(1, 1))
        )
        >>> head(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 1000])
        >>> sum(p.numel() for p in head.parameters())   # 512 * 1000 + 1000
        513000
    """

    def __init__(self, channels: int, num_classes: int, *, spatial_dims: int = 2,
                 bias: bool = True):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.num_classes = positive_int("num_classes", num_classes)
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.conv = _CONVS[self.spatial_dims](self.channels, self.num_classes, kernel_size=1,
                                              bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="GAPHead", channels=self.channels, ndim=self.spatial_dims + 2)
        return _spatial_mean(self.conv(x))        # (N, K, *spatial) -> (N, K)

    def extra_repr(self) -> str:
        bias = "" if self.conv.bias is not None else ", bias=False"
        return (f"channels={self.channels}, num_classes={self.num_classes}, "
                f"spatial_dims={self.spatial_dims}{bias}")
