"""The model a window keeps loaded: the active run's torch predictor, read once and kept while
its checkpoint file stays the same, shared by Predict, the suggestions and the assisted tools.
torch is imported only when a model is first loaded, so the window starts without it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isegui.ml.model.torch_predictor import Predictor


class LoadedModel:
    """The last model a window's jobs loaded, kept while its checkpoint file stays the same:
    the next Predict starts at once instead of reading and building the model again."""

    def __init__(self) -> None:
        self._key: tuple[str, int, int, str, float] | None = None
        self._predictor: Predictor | None = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was read (for tests)

    def get(self, checkpoint: Path, device: str, threshold: float) -> Predictor:
        from isegui.ml.model.torch_predictor import Predictor
        stat = Path(checkpoint).stat()
        key = (str(checkpoint), stat.st_mtime_ns, stat.st_size, device, threshold)
        with self._lock:
            if key != self._key or self._predictor is None:
                self._predictor, self._key = None, None  # never keep two models at once
                self._predictor = Predictor.from_checkpoint(checkpoint, device, threshold)
                self._key = key
                self.loads += 1
            return self._predictor

    def current(self) -> Predictor | None:
        """The model loaded last (None before any), without loading one."""
        return self._predictor
