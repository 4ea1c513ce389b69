"""What a training run is asked to do: an immutable spec, also stored in the run's record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from isegui.ml.transforms import AugmentConfig


@dataclass(frozen=True)
class TrainSpec:
    project: Path
    model: str = "fast"
    size: int = 512  # the long side images are resized to, or the tile side
    tile: int | None = None  # tile side (0: whole images); None: chosen from the labels
    scale: float | None = None  # tiles' scale of the frame (1: camera px); None: chosen
    blobs: bool = True  # on tiles, classes whose objects never touch are found as blobs
    epochs: int | None = 30  # stop after this many epochs ...
    minutes: float | None = None  # ... or after this much wall-clock time (takes precedence)
    batch: int | None = None  # images per step; None: by device (ml.device.default_batch)
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
        if self.minutes is None and (self.epochs is None or self.epochs < 1) and not self.resume:
            raise ValueError("give --epochs (at least 1) or --minutes")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError("--minutes must be positive")
        if self.lr is not None and not self.lr > 0:
            raise ValueError("--lr must be positive")

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
