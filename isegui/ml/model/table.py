"""The table of model builders, filled by the `register` decorator where each builder is
defined (ml.model.builders); ml.model.registry looks them up. Apart from both so neither
imports the other in a circle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from torch import nn

Builder: TypeAlias = Callable[..., nn.Module]  # build(num_classes=..., size=...) -> model


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    build: Builder
    default_lr: float
    # torchvision weight enums whose files, found locally, can initialise this model
    pretrained: tuple[Any, ...] = ()


_MODELS: dict[str, ModelInfo] = {}


def register(name: str, *, description: str, default_lr: float,
             pretrained: tuple[Any, ...] = ()) -> Callable[[Builder], Builder]:
    def wrap(build: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = ModelInfo(name, description, build, default_lr, pretrained)
        return build
    return wrap
