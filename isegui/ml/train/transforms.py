"""Augmentation: transforms.v2 applied jointly to the image and its instance masks (boxes are
recomputed from the masks afterwards, so rotation by any angle keeps them tight), as the run's
spec asks (ml.train.spec.AugmentConfig)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from torchvision import tv_tensors
from torchvision.transforms import v2 as T

from isegui.ml.train.spec import AugmentConfig

# (image, masks) -> both transformed alike; tv_tensors, which torchvision leaves untyped
Augment: TypeAlias = Callable[[Any, Any], tuple[Any, Any]]

def build_augment(config: AugmentConfig) -> Augment | None:
    """A v2 pipeline taking (Image, Mask) and returning both transformed alike."""
    steps = []
    if config.flip:
        steps += [T.RandomHorizontalFlip(0.5), T.RandomVerticalFlip(0.5)]
    if config.rotate > 0 or tuple(config.scale) != (1.0, 1.0):
        # one affine warp does both; corners that come in from outside are black
        steps.append(T.RandomAffine(degrees=config.rotate, scale=tuple(config.scale),
                                    fill={tv_tensors.Image: 0, tv_tensors.Mask: 0}))
    if config.color > 0:
        c = config.color
        steps.append(T.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 4)))
    return T.Compose(steps) if steps else None
