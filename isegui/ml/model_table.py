"""The table of model builders, filled by the `register` decorator where each builder is
defined (ml.models); ml.registry looks them up. Apart from both so neither imports the other
in a circle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    build: Callable[..., nn.Module]  # build(num_classes=..., size=...) -> model
    default_lr: float
    # torchvision weight enums whose files, found locally, can initialise this model
    pretrained: tuple = ()


_MODELS: dict[str, ModelInfo] = {}


def register(name: str, *, description: str, default_lr: float, pretrained: tuple = ()):
    def wrap(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = ModelInfo(name, description, build, default_lr, pretrained)
        return build
    return wrap
