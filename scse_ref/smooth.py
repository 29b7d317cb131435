r"""A spatial SE unit whose map is smoothed by a fixed filter (lesson 06 of the course).

The module exists to show how a module keeps a *fixed* tensor: the binomial filter is no parameter
(it is never trained) but must follow the module to every device and dtype and be saved with it,
so it is a registered buffer, as BlurPool's filter is (Zhang, *Making convolutional networks
shift-invariant again*, 2019). Every tensor ``forward`` creates is made on the input's device and
in its dtype, and nothing leaves the device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import positive_int, tensor_input


def binomial_kernel(dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The 3x3 binomial filter ``[1, 2, 1]^T [1, 2, 1] / 16`` as a ``(1, 1, 3, 3)`` kernel.

    Examples:
        >>> binomial_kernel()[0, 0] * 16
        tensor([[1., 2., 1.],
                [2., 4., 2.],
                [1., 2., 1.]])
    """
    k = torch.tensor([1.0, 2.0, 1.0], dtype=dtype, device=device)
    return (torch.outer(k, k) / 16).view(1, 1, 3, 3)


class SmoothSpatialSE(nn.Module):
    r"""Spatial squeeze-and-excitation with a smoothed map: neighbouring positions get similar gates.

    .. math::
        s = w^\top x + b, \qquad
        \tilde s = \frac{K \star s}{K \star \mathbf{1}}, \qquad
        y = x \odot \sigma(\tilde s)

    where :math:`s` is the 1x1 convolution of :class:`~scse_ref.SpatialSE` (one map,
    ``(N, 1, H, W)``), :math:`K` the 3x3 binomial filter (:func:`binomial_kernel`) applied with
    zero padding 1, and :math:`K \star \mathbf{1}` the same filter applied to a map of ones: at
    the border the window covers fewer positions, and the division turns every output into a
    weighted *average* of the positions the window covers (a normalised convolution), so the
    border is not pulled towards 0. In the interior :math:`K \star \mathbf{1} = 1`.

    The filter is a buffer named ``kernel`` (in ``state_dict``, moved by ``.to()``, never trained).

    Args:
        channels: number of channels :math:`C`.
        bias: whether the 1x1 convolution has a bias. Default: ``True``.

    Shape:
        - Input: :math:`(N, C, H, W)`
        - ``gate(x)``: :math:`(N, 1, H, W)`
        - Output: :math:`(N, C, H, W)`, same as the input

    Examples:
        >>> sse = SmoothSpatialSE(8)
        >>> sse
        SmoothSpatialSE(
          channels=8
          (conv): Conv2d(8, 1, kernel_size=(1, 1), stride=(1, 1))
        )
        >>> x = torch.randn(2, 8, 5, 7)
        >>> sse.gate(x).shape, sse(x).shape
        (torch.Size([2, 1, 5, 7]), torch.Size([2, 8, 5, 7]))
        >>> [name for name, _ in sse.named_buffers()], sse.double().kernel.dtype
        (['kernel'], torch.float64)
        >>> with torch.device("meta"):       # no tensor leaves the input's device
        ...     SmoothSpatialSE(8)(torch.randn(2, 8, 5, 7)).device
        device(type='meta')
    """

    def __init__(self, channels: int, *, bias: bool = True):
        super().__init__()
        self.channels = positive_int("channels", channels)
        self.conv = nn.Conv2d(self.channels, 1, kernel_size=1, bias=bias)
        self.register_buffer("kernel", binomial_kernel())

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The smoothed spatial map of ``x``: ``(N, C, H, W) -> (N, 1, H, W)``, in (0, 1)."""
        tensor_input(x, who="SmoothSpatialSE", channels=self.channels, ndim=4)
        s = self.conv(x)                                         # (N, 1, H, W)
        ones = torch.ones_like(s[:1])                            # (1, 1, H, W), s's device/dtype
        smooth = F.conv2d(s, self.kernel, padding=1) / F.conv2d(ones, self.kernel, padding=1)
        return torch.sigmoid(smooth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
