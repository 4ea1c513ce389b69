"""Augmentation: transforms.v2 applied jointly to the image and its instance masks (boxes are
recomputed from the masks afterwards, so rotation by any angle keeps them tight)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

from torchvision import tv_tensors
from torchvision.transforms import v2 as T

# (image, masks) -> both transformed alike; tv_tensors, which torchvision leaves untyped
Augment: TypeAlias = Callable[[Any, Any], tuple[Any, Any]]

ANY_ANGLE = 180.0  # what `rotate` turns on: degrees either way
ZOOM = (0.75, 1.25)  # what `scale` turns on
JITTER = 0.2  # what `color` turns on


@dataclass(frozen=True)
class AugmentConfig:
    """The default is flips and colour jitter. Rotation by any angle and scale are there to
    turn on: in a first run of minutes on a CPU they cost more than they teach (5 minutes on
    the demo, bench/first_training.py: held-out mask mAP 0.43 with flips and colour, 0.38 with
    all four; the demo's parts lie at every angle either way)."""
    rotate: float = 0.0  # degrees either way; 180 is any angle, 0 is off
    flip: bool = True  # horizontal and vertical
    scale: tuple[float, float] = (1.0, 1.0)  # (1, 1) is off
    color: float = JITTER  # brightness/contrast/saturation jitter; 0 is off

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(rotate=0.0, flip=False, scale=(1.0, 1.0), color=0.0)

    @classmethod
    def parse(cls, text: str) -> AugmentConfig:
        """'default' (flip,color), 'all' (rotate,flip,scale,color), 'none', the names of
        those to turn on, or with values: 'rotate=30,scale=0.8:1.2,color=0.1' (what is not
        named is off)."""
        text = (text or "").strip().lower()
        if text in ("", "default"):
            return cls()
        if text == "all":
            return cls(rotate=ANY_ANGLE, scale=ZOOM)
        if text == "none":
            return cls.none()
        values = asdict(cls.none())
        for item in text.split(","):
            key, _, value = item.strip().partition("=")
            try:
                if key == "rotate":
                    values["rotate"] = float(value) if value else ANY_ANGLE
                elif key == "flip":
                    values["flip"] = True
                elif key == "scale":
                    lo, _, hi = value.partition(":")
                    values["scale"] = (float(lo), float(hi)) if value else ZOOM
                elif key == "color":
                    values["color"] = float(value) if value else JITTER
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(f"--augment: cannot read {item!r}; use e.g. "
                                 "'rotate,flip,scale,color', 'none' or 'rotate=30,scale=0.8:1.2'"
                                 ) from None
        if not (0 < values["scale"][0] <= values["scale"][1]):
            raise ValueError("--augment: scale needs 0 < min <= max, e.g. scale=0.8:1.2")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
