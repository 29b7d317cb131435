"""Resolving a layer argument given as a name, a class or a factory (as timm's ``get_act_layer``)."""
from __future__ import annotations

from typing import Callable, Union

from torch import nn

LayerType = Union[str, type, Callable[[], nn.Module]]

#: Names accepted wherever an activation or gate layer is asked for.
LAYERS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "mish": nn.Mish,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "hardsigmoid": nn.Hardsigmoid,
    "hard_swish": nn.Hardswish,
    "hardswish": nn.Hardswish,
    "identity": nn.Identity,
}


def create_layer(layer: LayerType, *, argument: str) -> nn.Module:
    """Build a parameter-free layer from a name in :data:`LAYERS`, an ``nn.Module`` class or a factory.

    Args:
        layer: ``"relu"``, ``nn.GELU``, ``lambda: nn.LeakyReLU(0.1)``, ...
        argument: the name of the argument being resolved, used in error messages.

    Examples:
        >>> create_layer("hard_sigmoid", argument="gate_layer")
        Hardsigmoid()
        >>> create_layer(nn.Tanh, argument="act_layer")
        Tanh()
    """
    if isinstance(layer, str):
        key = layer.lower().replace("-", "_")
        if key not in LAYERS:
            raise ValueError(f"{argument}={layer!r} is not a known layer; "
                             f"use one of {sorted(LAYERS)}, an nn.Module class or a factory")
        return LAYERS[key]()
    if isinstance(layer, nn.Module):
        raise TypeError(f"{argument} must be a class, a factory or a name, not a module instance "
                        f"({layer!r}): every block needs its own layer")
    if callable(layer):
        built = layer()
        if not isinstance(built, nn.Module):
            raise TypeError(f"{argument}={layer!r} built a {type(built).__name__}, "
                            "expected an nn.Module")
        return built
    raise TypeError(f"{argument} must be a name, an nn.Module class or a factory, "
                    f"got {layer!r} ({type(layer).__name__})")


def layer_name(module: nn.Module) -> str:
    """The short name of a layer for ``extra_repr``: ``"relu"`` for ``nn.ReLU()``."""
    for name, factory in LAYERS.items():
        if type(module) is factory:
            return name
    return type(module).__name__
