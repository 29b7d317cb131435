"""scse_ref: the reference implementation of the course, and a small library worth using.

Global average pooling, the excitation MLP, channel squeeze-and-excitation (cSE), spatial
squeeze-and-excitation (sSE) and their combination scSE, for 1-D, 2-D and 3-D inputs, with the
options of the field's implementations (timm's rounding of the reduced width, biases, activation
and gate layers, the four scSE aggregations) and a fused fast path for scSE's "add" mode.

The course's grader compares every exercise with these modules.

>>> import torch, scse_ref
>>> scse_ref.SCSE(16)(torch.randn(1, 16, 64, 64)).shape
torch.Size([1, 16, 64, 64])
"""
from .functional import global_avg_pool, make_divisible, reduced_channels
from .layers import LAYERS, create_layer
from .modules import MODES, SCSE, ChannelSE, Excitation, SpatialSE

__version__ = "0.1.0"
__all__ = [
    "global_avg_pool", "make_divisible", "reduced_channels", "create_layer", "LAYERS",
    "Excitation", "ChannelSE", "SpatialSE", "SCSE", "MODES",
]

# Lessons 03-04: reading a spatial map as data, and where an SE unit goes in a residual block.
from .blocks import ATTENTIONS, PLACEMENTS, SEResidualBlock  # noqa: E402
from .maps import kept_iou, kept_mask  # noqa: E402

__all__ += ["kept_mask", "kept_iou", "SEResidualBlock", "PLACEMENTS", "ATTENTIONS"]

from .heads import GAPHead  # noqa: E402  (lesson 01's classifier head)

__all__ += ["GAPHead"]

# Lessons 05-06: SE units in networks (ResNet-50, Inception, U-Net), a smoothed spatial gate.
from .networks import (SE_PLACEMENTS, UNET_ATTENTIONS, Bottleneck, InceptionBlock,  # noqa: E402
                       ResNet, TinyUNet, UNetBlock, attention_unit, count_parameters, resnet50,
                       se_resnet50)
from .smooth import SmoothSpatialSE, binomial_kernel  # noqa: E402

__all__ += ["SE_PLACEMENTS", "UNET_ATTENTIONS", "Bottleneck", "ResNet", "resnet50", "se_resnet50",
            "InceptionBlock", "UNetBlock", "TinyUNet", "attention_unit", "count_parameters",
            "SmoothSpatialSE", "binomial_kernel"]

# Lessons 02 and 04: two later channel attentions, beside cSE (ECA-Net) and beside scSE (CBAM).
from .attention import CBAM, ECA, eca_kernel_size  # noqa: E402

__all__ += ["ECA", "eca_kernel_size", "CBAM"]
