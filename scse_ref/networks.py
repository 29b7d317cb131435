r"""Attention in networks: SE units in ResNet, Inception and U-Net blocks (lesson 05 of the course).

Hu et al. (SENet) add a squeeze-and-excitation unit to an existing block without changing the
block: in a ResNet bottleneck it rescales the residual branch just before the shortcut is added, in
an Inception module it rescales the concatenated output. Their TPAMI paper (Table 14) also moved the
unit to three other places of the residual block (see :data:`~scse_ref.blocks.PLACEMENTS`). Roy et
al. put an scSE unit after every encoder and decoder block of a U-Net.

These modules exist so that the course computes what those papers report from code: the parameter
counts of ResNet-50 (25,557,032, torchvision's and timm's) and SE-ResNet-50 (28,088,024, timm's
``seresnet50``) come from :func:`resnet50` and :func:`se_resnet50`, not from a formula; build them
on the ``meta`` device to count without allocating memory.

>>> with torch.device("meta"):
...     print(count_parameters(resnet50()), count_parameters(se_resnet50()))
25557032 28088024
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import positive_int, tensor_input
from .blocks import PLACEMENTS, _check_placement
from .modules import SCSE, ChannelSE, SpatialSE

#: :data:`~scse_ref.blocks.PLACEMENTS`, the places of the SE unit in a residual block, under the
#: name lesson 05 uses: one table, not a copy.
SE_PLACEMENTS = PLACEMENTS

#: Attention units a :class:`UNetBlock` can end with.
UNET_ATTENTIONS = ("none", "cse", "sse", "scse")


def count_parameters(module: nn.Module) -> int:
    """The number of parameters of ``module`` (learned or not): the sum of their ``numel``.

    Works for modules built on the ``meta`` device, which hold no memory.

    Examples:
        >>> count_parameters(nn.Linear(10, 3))   # 10 * 3 weights + 3 biases
        33
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters())


def attention_unit(kind: str, channels: int, reduction: int = 16) -> nn.Module:
    """The attention unit named ``kind`` for ``channels`` channels.

    ``"none"``: ``nn.Identity()``; ``"cse"``: :class:`~scse_ref.ChannelSE`;
    ``"sse"``: :class:`~scse_ref.SpatialSE`; ``"scse"``: :class:`~scse_ref.SCSE` (``"add"``).

    Examples:
        >>> type(attention_unit("sse", 8)).__name__, type(attention_unit("none", 8)).__name__
        ('SpatialSE', 'Identity')
        >>> attention_unit("gate", 8)
        Traceback (most recent call last):
            ...
        ValueError: attention='gate' is not known; use one of 'none', 'cse', 'sse', 'scse'
    """
    if kind not in UNET_ATTENTIONS:
        raise ValueError(f"attention={kind!r} is not known; use one of "
                         + ", ".join(repr(a) for a in UNET_ATTENTIONS))
    channels = positive_int("channels", channels)
    reduction = positive_int("reduction", reduction)
    if kind == "none":
        return nn.Identity()
    if kind == "cse":
        return ChannelSE(channels, reduction)
    if kind == "sse":
        return SpatialSE(channels)
    return SCSE(channels, reduction)


class Bottleneck(nn.Module):
    r"""ResNet's bottleneck block (torchvision/timm layout), optionally with an SE unit.

    .. math::
        F(x) = \text{bn}_3 W_3 * \delta\big(\text{bn}_2 W_2 *_s \delta(\text{bn}_1 W_1 * x)\big),
        \qquad y = \delta\big(\text{se}(F(x)) + S(x)\big)

    with :math:`W_1` a 1x1 convolution to ``planes`` channels, :math:`W_2` a 3x3 convolution
    with stride :math:`s` (ResNet v1.5: the stride sits in the 3x3 convolution), :math:`W_3` a 1x1
    convolution to ``4 * planes`` channels, :math:`\delta` = ReLU, and the shortcut
    :math:`S` the identity, or a 1x1 convolution with stride :math:`s` (+ BatchNorm) when the
    shape changes (``stride != 1`` or ``in_channels != 4 * planes``). ``placement`` moves the SE
    unit to the other places SENet tried (:data:`~scse_ref.blocks.PLACEMENTS`). The SE unit is a
    :class:`~scse_ref.ChannelSE` (Linear layers with biases; timm's 1x1 convolutions have the same
    parameters) on the width it sees: ``4 * planes``, or ``in_channels`` for ``"pre"``.

    Args:
        in_channels: channels of the input.
        planes: width of the 3x3 convolution; the block outputs ``4 * planes`` channels.
        stride: stride of the 3x3 convolution and of the projection. Default: 1.
        se: add an SE unit. Default: ``False``.
        reduction: reduction ratio of the SE unit. Default: 16.
        rd_divisor: round the SE hidden width as timm does (``8``); ``None``: ``max(1, C // r)``.
        placement: ``"standard"``, ``"pre"``, ``"post"`` or ``"identity"``. Default:
            ``"standard"``.
        norm: BatchNorm after every convolution (and convolutions without bias), as in ResNet.
            ``False``: no normalisation, convolutions with biases (each sample's output then
            depends on that sample alone, in training mode too). Default: ``True``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, 4 \cdot planes, \lceil H / s \rceil, \lceil W / s \rceil)`

    Examples:
        >>> block = Bottleneck(256, 64, se=True)
        >>> block
        Bottleneck(
          in_channels=256, planes=64, out_channels=256, stride=1, se=True, placement='standard'
          (conv1): Conv2d(256, 64, kernel_size=(1, 1), stride=(1, 1), bias=False)
          (bn1): BatchNorm2d(64, ...)
          (conv2): Conv2d(64, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
          (bn2): BatchNorm2d(64, ...)
          (conv3): Conv2d(64, 256, kernel_size=(1, 1), stride=(1, 1), bias=False)
          (bn3): BatchNorm2d(256, ...)
          (se): ChannelSE(
            channels=256, reduction=16
            (excitation): Excitation(
              channels=256, hidden=16, reduction=16, bias=True, act=relu, gate=sigmoid
              ...
            )
          )
        )
        >>> count_parameters(block.se)          # 2 * 256 * 16 weights + 16 + 256 biases
        8464
        >>> Bottleneck(64, 128, stride=2)(torch.randn(1, 64, 9, 9)).shape
        torch.Size([1, 512, 5, 5])
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, *, se: bool = False,
                 reduction: int = 16, rd_divisor: int | None = None,
                 placement: str = "standard", norm: bool = True):
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.planes = positive_int("planes", planes)
        self.stride = positive_int("stride", stride)
        positive_int("reduction", reduction)
        self.placement = _check_placement(placement)
        self.out_channels = self.expansion * self.planes
        bias = not norm

        def bn(c):
            return nn.BatchNorm2d(c) if norm else nn.Identity()

        self.conv1 = nn.Conv2d(self.in_channels, self.planes, 1, bias=bias)
        self.bn1 = bn(self.planes)
        self.conv2 = nn.Conv2d(self.planes, self.planes, 3, stride=self.stride, padding=1,
                               bias=bias)
        self.bn2 = bn(self.planes)
        self.conv3 = nn.Conv2d(self.planes, self.out_channels, 1, bias=bias)
        self.bn3 = bn(self.out_channels)
        self.se = None
        if se:
            width = self.in_channels if placement == "pre" else self.out_channels
            self.se = ChannelSE(width, reduction, rd_divisor=rd_divisor)
        self.downsample = None
        if self.stride != 1 or self.in_channels != self.out_channels:
            proj = nn.Conv2d(self.in_channels, self.out_channels, 1, stride=self.stride, bias=bias)
            self.downsample = nn.Sequential(proj, nn.BatchNorm2d(self.out_channels)) if norm \
                else proj

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch ``F`` without the SE unit."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut ``S``: the identity, or the projection when the shape changes."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="Bottleneck", channels=self.in_channels, ndim=4)
        se = self.se
        if se is None:
            return F.relu(self.residual(x) + self.shortcut(x))
        if self.placement == "standard":
            return F.relu(se(self.residual(x)) + self.shortcut(x))
        if self.placement == "pre":
            return F.relu(self.residual(se(x)) + self.shortcut(x))
        if self.placement == "post":
            return se(F.relu(self.residual(x) + self.shortcut(x)))
        return F.relu(self.residual(x) + se(self.shortcut(x)))          # identity

    def extra_repr(self) -> str:
        where = f", placement={self.placement!r}" if self.se is not None else ""
        return (f"in_channels={self.in_channels}, planes={self.planes}, "
                f"out_channels={self.out_channels}, stride={self.stride}, "
                f"se={self.se is not None}{where}")


class ResNet(nn.Module):
    r"""A ResNet of :class:`Bottleneck` blocks in torchvision's and timm's layout, optionally with
    SE units (SE-ResNet, Hu et al.).

    Stem: 7x7 convolution with stride 2 to 64 channels, BatchNorm, ReLU, 3x3 max-pooling with
    stride 2. Then four stages of ``layers[i]`` bottlenecks of width ``64 * 2**i`` (outputs
    256, 512, 1024, 2048 channels); the first block of stages 2-4 has stride 2. Head: global
    average pooling and a fully connected layer to ``num_classes``.

    Args:
        layers: blocks per stage; ``(3, 4, 6, 3)`` is ResNet-50. Default: ResNet-50.
        num_classes: outputs of the classifier. Default: 1000.
        in_channels: channels of the image. Default: 3.
        se: add an SE unit to every block. Default: ``False``.
        reduction: reduction ratio of the SE units. Default: 16.
        rd_divisor: rounding of the SE hidden width: ``8`` as timm's ``seresnet50``; ``None``
            for ``max(1, C // r)``. The two agree for every block of ResNet-50 at
            ``reduction`` <= 32 (except SE-PRE's first block, which sees 64 channels).
            Default: 8.
        placement: where the SE unit sits in each block (:data:`~scse_ref.blocks.PLACEMENTS`).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, \text{num\_classes})`

    Examples:
        >>> with torch.device("meta"):
        ...     r50, se50 = resnet50(), se_resnet50()
        >>> count_parameters(r50), count_parameters(se50)
        (25557032, 28088024)
        >>> ResNet((1, 1, 1, 1), num_classes=10)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, layers=(3, 4, 6, 3), *, num_classes: int = 1000, in_channels: int = 3,
                 se: bool = False, reduction: int = 16, rd_divisor: int | None = 8,
                 placement: str = "standard"):
        super().__init__()
        layers = tuple(layers)
        if len(layers) != 4:
            raise ValueError(f"layers must give the blocks of 4 stages, got {layers!r}")
        self.layers = tuple(positive_int("layers[i]", n) for n in layers)
        self.in_channels = positive_int("in_channels", in_channels)
        self.num_classes = positive_int("num_classes", num_classes)
        self.se = bool(se)
        self.placement = _check_placement(placement)
        self.conv1 = nn.Conv2d(self.in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        width = 64
        for i, blocks in enumerate(self.layers):
            planes = 64 * 2 ** i
            stage = []
            for j in range(blocks):
                stage.append(Bottleneck(width, planes, stride=2 if (i > 0 and j == 0) else 1,
                                        se=se, reduction=reduction, rd_divisor=rd_divisor,
                                        placement=placement))
                width = planes * Bottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.fc = nn.Linear(width, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="ResNet", channels=self.in_channels, ndim=4)
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))          # global average pooling: (N, C, H, W) -> (N, C)

    def extra_repr(self) -> str:
        where = f", placement={self.placement!r}" if self.se else ""
        return f"layers={self.layers}, num_classes={self.num_classes}, se={self.se}{where}"


def resnet50(**kwargs) -> ResNet:
    """ResNet-50 (He et al. 2016; torchvision's ``resnet50``, timm's ``resnet50``): 25,557,032
    parameters. Keyword arguments go to :class:`ResNet`."""
    return ResNet((3, 4, 6, 3), **kwargs)


def se_resnet50(reduction: int = 16, *, placement: str = "standard", rd_divisor: int | None = 8,
                **kwargs) -> ResNet:
    """SE-ResNet-50 (Hu et al.; timm's ``seresnet50``): ResNet-50 with an SE unit of reduction
    ``reduction`` in every bottleneck: 28,088,024 parameters at ``reduction=16``."""
    return ResNet((3, 4, 6, 3), se=True, reduction=reduction, placement=placement,
                  rd_divisor=rd_divisor, **kwargs)


def _conv_relu(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU()]


class InceptionBlock(nn.Module):
    r"""GoogLeNet's Inception module, optionally followed by an SE unit (SE-Inception, SENet Fig. 2).

    Four branches see the same input and their outputs are concatenated on the channel axis:

    .. math::
        y = \big[\,b_1(x);\; b_2(x);\; b_3(x);\; b_4(x)\,\big], \qquad
        \text{SE-Inception: } y \leftarrow \text{se}(y)

    with :math:`b_1` a 1x1 convolution, :math:`b_2` a 1x1 reduction then a 3x3 convolution,
    :math:`b_3` a 1x1 reduction then a 5x5 convolution, :math:`b_4` 3x3 max-pooling (stride 1)
    then a 1x1 projection; every convolution is followed by a ReLU. There is no shortcut, so the SE
    unit simply rescales the concatenated output: one gate per channel of every branch.

    Args:
        in_channels: channels of the input.
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: the widths, in GoogLeNet's table's
            order.
        se: add an SE unit on the output. Default: ``False``.
        reduction: reduction ratio of the SE unit. Default: 16.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, ch1x1 + ch3x3 + ch5x5 + pool\_proj, H, W)`

    Examples:
        >>> block = InceptionBlock(192, 64, 96, 128, 16, 32, 32, se=True)   # GoogLeNet's 3a
        >>> block
        InceptionBlock(
          in_channels=192, out_channels=256, se=True
          (branch1): Sequential(
            (0): Conv2d(192, 64, kernel_size=(1, 1), stride=(1, 1))
            (1): ReLU()
          )
          ...
          (se): ChannelSE(
            channels=256, reduction=16
            ...
          )
        )
        >>> block(torch.randn(1, 192, 7, 7)).shape
        torch.Size([1, 256, 7, 7])
        >>> count_parameters(block.se)
        8464
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, *, se: bool = False, reduction: int = 16):
        super().__init__()
        names = ("in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
        values = (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        cin, c1, c3r, c3, c5r, c5, cp = (positive_int(n, v) for n, v in zip(names, values))
        positive_int("reduction", reduction)
        self.in_channels = cin
        self.out_channels = c1 + c3 + c5 + cp
        self.branch1 = nn.Sequential(*_conv_relu(cin, c1, 1))
        self.branch2 = nn.Sequential(*_conv_relu(cin, c3r, 1), *_conv_relu(c3r, c3, 3))
        self.branch3 = nn.Sequential(*_conv_relu(cin, c5r, 1), *_conv_relu(c5r, c5, 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     *_conv_relu(cin, cp, 1))
        self.se = ChannelSE(self.out_channels, reduction) if se else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="InceptionBlock", channels=self.in_channels, ndim=4)
        y = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)
        return y if self.se is None else self.se(y)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"se={self.se is not None}")


class UNetBlock(nn.Module):
    r"""A U-Net block: two 3x3 convolutions, each followed by instance normalisation and a ReLU,
    then an attention unit.

    .. math::
        y = \text{att}\Big(\delta\big(\text{IN}_2(W_2 * \delta(\text{IN}_1(W_1 * x)))\big)\Big)

    with 3x3 convolutions without bias (padding 1: the map keeps its size), :math:`\text{IN}`
    ``nn.InstanceNorm2d(affine=True)`` (nnU-Net's choice: it normalises each channel of each
    sample over its own map, so a sample's output never depends on the rest of the batch, and the
    normalisation's shift makes a convolution bias redundant), :math:`\delta` = ReLU and ``att``
    one of :data:`UNET_ATTENTIONS` (:func:`attention_unit`): Roy et al. put scSE after every
    encoder and decoder block of their U-Nets.

    Args:
        in_channels: channels of the input.
        out_channels: channels of both convolutions and of the output.
        attention: ``"none"``, ``"cse"``, ``"sse"`` or ``"scse"``. Default: ``"none"``.
        reduction: reduction ratio of the channel excitation. Default: 2 (the scSE authors'
            code; a U-Net's narrow layers have few channels to spare).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` with :math:`H W > 1` (instance normalisation needs
          more than one position)
        - Output: :math:`(N, C_{out}, H, W)`

    Examples:
        >>> block = UNetBlock(3, 8, attention="scse")
        >>> block
        UNetBlock(
          in_channels=3, out_channels=8, attention='scse'
          (conv1): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
          (norm1): InstanceNorm2d(8, ...)
          (conv2): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
          (norm2): InstanceNorm2d(8, ...)
          (attention): SCSE(
            channels=8, reduction=2, mode='add', fused=True
            ...
          )
        )
        >>> UNetBlock(3, 8, attention="cse")(torch.randn(2, 3, 5, 7)).shape
        torch.Size([2, 8, 5, 7])
    """

    def __init__(self, in_channels: int, out_channels: int, *, attention: str = "none",
                 reduction: int = 2):
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.attention_kind = attention
        att = attention_unit(attention, self.out_channels, reduction)   # validates both
        c = self.out_channels
        self.conv1 = nn.Conv2d(self.in_channels, c, 3, padding=1, bias=False)
        self.norm1 = nn.InstanceNorm2d(c, affine=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.norm2 = nn.InstanceNorm2d(c, affine=True)
        self.attention = att

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The block without its attention unit."""
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="UNetBlock", channels=self.in_channels, ndim=4)
        return self.attention(self.features(x))

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"attention={self.attention_kind!r}")


class TinyUNet(nn.Module):
    r"""A small U-Net (Ronneberger et al. 2015) whose every block ends with an attention unit.

    Encoder: one :class:`UNetBlock` per entry of ``widths``, with 2x2 max-pooling between them
    (the last is the bottom of the U). Decoder: at each level a 2x2 transposed convolution with
    stride 2 halves the channels and doubles the size, the encoder's map of that level is
    concatenated (the skip connection), and a :class:`UNetBlock` mixes the two. A 1x1
    convolution gives one logit map per class.

    Args:
        in_channels: channels of the image. Default: 1.
        num_classes: output maps (one logit per pixel and class). Default: 1.
        widths: channels of each level, from the top. Default: ``(8, 16, 32)``.
            ``(64, 128, 256, 512, 1024)`` is the original U-Net's.
        attention: the unit every block ends with (:data:`UNET_ATTENTIONS`). Default: ``"none"``.
        reduction: reduction ratio of the channel excitation. Default: 2.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` with :math:`H` and :math:`W` multiples of
          :math:`2^{\text{len(widths)} - 1}`
        - Output: :math:`(N, \text{num\_classes}, H, W)`

    Examples:
        >>> net = TinyUNet(attention="scse")
        >>> net
        TinyUNet(
          in_channels=1, num_classes=1, widths=(8, 16, 32), attention='scse'
          (encoders): ModuleList(
            (0): UNetBlock(
              in_channels=1, out_channels=8, attention='scse'
              ...
          (head): Conv2d(8, 1, kernel_size=(1, 1), stride=(1, 1))
        )
        >>> net(torch.randn(2, 1, 32, 32)).shape
        torch.Size([2, 1, 32, 32])
        >>> count_parameters(TinyUNet()), count_parameters(net)
        (29481, 31350)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, widths=(8, 16, 32), *,
                 attention: str = "none", reduction: int = 2):
        super().__init__()
        widths = tuple(widths)
        if len(widths) < 2:
            raise ValueError(f"widths must give at least 2 levels, got {widths!r}")
        self.widths = tuple(positive_int("widths[i]", w) for w in widths)
        self.in_channels = positive_int("in_channels", in_channels)
        self.num_classes = positive_int("num_classes", num_classes)
        self.attention_kind = attention
        blocks, cin = [], self.in_channels
        for w in self.widths:
            blocks.append(UNetBlock(cin, w, attention=attention, reduction=reduction))
            cin = w
        self.encoders = nn.ModuleList(blocks)
        pairs = list(zip(self.widths[:-1], self.widths[1:]))[::-1]     # from the bottom up
        self.ups = nn.ModuleList(nn.ConvTranspose2d(deep, w, 2, stride=2) for w, deep in pairs)
        self.decoders = nn.ModuleList(UNetBlock(2 * w, w, attention=attention,
                                                reduction=reduction) for w, _ in pairs)
        self.head = nn.Conv2d(self.widths[0], self.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensor_input(x, who="TinyUNet", channels=self.in_channels, ndim=4)
        step = 2 ** (len(self.widths) - 1)
        if x.shape[-2] % step or x.shape[-1] % step:
            raise ValueError(f"TinyUNet: H and W must be multiples of {step} for "
                             f"{len(self.widths)} levels, got {tuple(x.shape[-2:])}")
        skips = []
        for i, block in enumerate(self.encoders):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, block, skip in zip(self.ups, self.decoders, skips[-2::-1]):
            x = block(torch.cat([skip, up(x)], dim=1))
        return self.head(x)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"widths={self.widths}, attention={self.attention_kind!r}")
