"""What a training run carries from step to step and into its checkpoints (so a resumed run
continues exactly), and what it gives back when it ends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isegui.core.entities import RunStatus


@dataclass
class TrainResult:
    run_id: int | None
    status: RunStatus
    epochs: int
    steps: int
    best: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    validation: str = ""


@dataclass
class TrainState:
    """What a checkpoint carries so a resumed run continues exactly."""
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch already done (a cancel mid-epoch)
    step: int = 0
    elapsed: float = 0.0  # seconds of training so far, over all sessions
    best: list[float] = field(default_factory=lambda: [-math.inf, -math.inf])  # (mask mAP, -loss)
    best_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    lr_factor: float = 1.0
    bad_in_row: int = 0  # non-finite losses in a row
    skipped: int = 0  # steps skipped for a non-finite loss, in all
