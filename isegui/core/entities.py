"""The glossary as types: Project data that the store keeps and every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from isegui.core.geometry import Shape


class Split(str, Enum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class ImageStatus(str, Enum):
    UNLABELED = "unlabeled"
    LABELED = "labeled"
    REVIEWED = "reviewed"


class Source(str, Enum):
    """Where an instance came from."""
    MANUAL = "manual"
    IMPORTED = "imported"
    ACCEPTED_PREDICTION = "accepted-prediction"


class RunStatus(str, Enum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class LabelClass:
    id: int
    name: str
    color: str  # "#rrggbb"


@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: str  # relative to the project folder, "/" separators (absolute only across drives)
    width: int  # after EXIF orientation
    height: int
    split: Split = Split.TRAIN
    status: ImageStatus = ImageStatus.UNLABELED


@dataclass(frozen=True)
class Instance:
    """One labeled object. `id` is unique within its image and never reused there."""
    image_id: int
    id: int
    class_id: int | None
    shape: Shape
    z: int = 0  # higher is on top; where a format needs one label per pixel, the upper wins
    track_id: int | None = None  # the same object across an image sequence
    source: Source = Source.MANUAL
    crowd: bool = False  # a region to ignore (COCO iscrowd, labelme __ignore__), not one object
    # who changed it last and when, and how many times it has been written (an edit names the
    # version it started from: a team store refuses it when someone changed it since)
    version: int = field(default=1, compare=False)
    edited_by: str | None = field(default=None, compare=False)
    edited_at: str | None = field(default=None, compare=False)
    created_by: str | None = field(default=None, compare=False)
    created_at: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Prediction:
    """A model's detection, kept apart from labels until accepted."""
    id: int
    image_id: int
    run_id: int | None
    class_id: int | None
    shape: Shape
    score: float


@dataclass(frozen=True)
class Run:
    """A training run: what it was asked to do, what it measured, where its checkpoint is."""
    id: int
    name: str
    created: str  # ISO 8601, UTC
    status: RunStatus = RunStatus.RUNNING
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # relative to the project folder
    finished: str | None = None


# A palette that stays readable over photos; classes take the next colour in turn.
MAX_CLASSES = 10_000  # in a project, a dataset isegui imports, a model's metadata

CLASS_COLORS = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080",
)


def default_color(index: int) -> str:
    return CLASS_COLORS[index % len(CLASS_COLORS)]
