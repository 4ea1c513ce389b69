"""The model a window keeps loaded: the active run's torch predictor, read once and kept while
its checkpoint file stays the same, shared by Predict, the suggestions and the assisted tools.
torch is imported only when a model is first loaded, so the window starts without it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isegui.ml.model.torch_predictor import Predictor

Loader = Callable[[Path, str, float], "Predictor"]


def _read_checkpoint(checkpoint: Path, device: str, threshold: float) -> Predictor:
    from isegui.ml.model.torch_predictor import Predictor
    return Predictor.from_checkpoint(checkpoint, device, threshold)


class LoadedModel:
    """The last model a window's jobs loaded, kept while its checkpoint file stays the same:
    the next Predict starts at once instead of reading and building the model again."""

    def __init__(self, loader: Loader | None = None) -> None:
        self._load = loader or _read_checkpoint  # the checkpoint reader (tests: a slow one)
        self._key: tuple[str, int, int, str, float] | None = None
        self._predictor: Predictor | None = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was read (for tests)

    @staticmethod
    def _key_of(checkpoint: Path, device: str, threshold: float
                ) -> tuple[str, int, int, str, float]:
        stat = Path(checkpoint).stat()
        return (str(checkpoint), stat.st_mtime_ns, stat.st_size, device, threshold)

    def get(self, checkpoint: Path, device: str, threshold: float) -> Predictor:
        """The model of `checkpoint`, read now unless it is the one kept (waits for a read
        under way in another thread)."""
        key = self._key_of(checkpoint, device, threshold)
        with self._lock:
            if key != self._key or self._predictor is None:
                self._predictor, self._key = None, None  # never keep two models at once
                self._predictor = self._load(Path(checkpoint), device, threshold)
                self._key = key
                self.loads += 1
            return self._predictor

    def ready(self, checkpoint: Path, device: str, threshold: float) -> Predictor | None:
        """The model of `checkpoint` if it is the one kept, else None; never waits (the
        window's thread asks this while another thread may be reading the model)."""
        try:
            key = self._key_of(checkpoint, device, threshold)
        except OSError:
            return None
        predictor = self._predictor
        return predictor if predictor is not None and key == self._key else None

    def current(self) -> Predictor | None:
        """The model loaded last (None before any), without loading one."""
        return self._predictor
