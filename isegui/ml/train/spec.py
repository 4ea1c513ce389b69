"""What a training run is asked to do: an immutable spec, also stored in the run's record, and
the augmentation it asks for (ml.train.transforms builds it). No torch here: the window and the
advice before a run read specs without loading it."""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

ANY_ANGLE = 180.0  # what `rotate` turns on: degrees either way
ZOOM = (0.75, 1.25)  # what `scale` turns on
MOST_SEED = 2**31 - 1
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
        if not (0 < values["scale"][0] <= values["scale"][1] < math.inf):
            raise ValueError("--augment: scale needs 0 < min <= max, e.g. scale=0.8:1.2")
        for key, most in (("rotate", 360.0), ("color", 1.0)):
            if not 0 <= values[key] <= most:  # nan and inf fail here too
                raise ValueError(f"--augment: {key} must be from 0 to {most:g}, not "
                                 f"{values[key]}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainSpec:
    project: Path
    model: str = "fast"
    size: int = 512  # the long side images are resized to, or the tile side
    tile: int | None = None  # tile side (0: whole images); None: chosen from the labels
    scale: float | None = None  # tiles' scale of the frame (1: camera px); None: chosen
    blobs: bool = True  # on tiles, small objects' classes are found as blobs (pixel by pixel)
    epochs: int | None = 30  # stop after this many epochs ...
    minutes: float | None = None  # ... or after this much wall-clock time (takes precedence)
    batch: int | None = None  # images per step; None: by device (ml.model.device.default_batch)
    lr: float | None = None  # None: the model's default
    weight_decay: float = 1e-4
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    device: str = "auto"
    init: str | None = None  # a weights file, or a run (id or name) to fine-tune from
    resume: str | None = None  # a run (id or name) to continue
    name: str | None = None
    seed: int = 0
    workers: int | None = None  # data loading processes; None: chosen for the machine
    val_fraction: float = 0.15  # hold-out share when the project has no val split
    amp: bool = True  # mixed precision on CUDA
    grad_clip: float = 10.0
    warmup_steps: int = 50
    max_steps: int | None = None  # stop after this many steps (smoke tests)
    pretrained_search: bool = True  # look for the model's pretrained file when init is None

    def __post_init__(self) -> None:
        if self.size < 64 or self.size > 4096:
            raise ValueError(f"--size must be between 64 and 4096, got {self.size}")
        if self.tile is not None and self.tile != 0 and not 64 <= self.tile <= 4096:
            raise ValueError(f"--tile must be 0 (whole images) or 64 to 4096, got {self.tile}")
        if self.scale is not None and not 0.05 <= self.scale <= 4:
            raise ValueError(f"--scale must be between 0.05 and 4, got {self.scale}")
        if self.batch is not None and self.batch < 1:
            raise ValueError("--batch must be at least 1")
        if not 0 <= self.seed <= MOST_SEED:  # numpy's and torch's generators take no more
            raise ValueError(f"--seed must be from 0 to {MOST_SEED}, not {self.seed}")
        if self.workers is not None and not 0 <= self.workers <= 64:
            raise ValueError(f"--workers must be from 0 (load in the training process) to 64, "
                             f"not {self.workers}")
        if self.minutes is None and (self.epochs is None or self.epochs < 1) and not self.resume:
            raise ValueError("give --epochs (at least 1) or --minutes")
        # NaN passes every comparison's "not", and a budget of inf minutes never ends
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"--minutes must be a number above 0, not {self.minutes}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr must be a number above 0, not {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"--weight-decay must be a number from 0 up, not "
                             f"{self.weight_decay}")

    def with_(self, **changes: Any) -> TrainSpec:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["project"] = str(self.project)
        out["augment"] = self.augment.as_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        data = dict(data)
        data["project"] = Path(data["project"])
        aug = data.get("augment") or {}
        data["augment"] = AugmentConfig(**{**aug, "scale": tuple(aug.get("scale", (1, 1)))}) \
            if aug else AugmentConfig()
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})
