"""Asking the active run which unlabeled images it is least sure of (ml.infer.suggest), in a thread
of its own, with the model the window already holds (LoadedModel)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal

from isegui.gui.workers.predict_worker import STORE_ABOVE
from isegui.ml.model.loaded_model import LoadedModel


class SuggestWorker(QThread):
    scored = Signal(int, float)  # image id, uncertainty (0 sure .. 2 unsure)
    progress = Signal(int, int)  # done, total
    failed = Signal(str)

    def __init__(self, checkpoint: Path, images: list[tuple[int, Path]], loaded: LoadedModel):
        super().__init__()
        self.checkpoint, self.images, self.loaded = checkpoint, images, loaded
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def run(self) -> None:
        from isegui.core.errors import IseguiError
        from isegui.core.images import load_image
        from isegui.ml.infer.suggest import uncertainty
        try:
            predictor = self.loaded.get(self.checkpoint, "auto", STORE_ABOVE)
        except (IseguiError, ValueError, RuntimeError, OSError) as exc:
            self.failed.emit(f"Cannot load the model: {exc}")
            return
        for n, (image_id, path) in enumerate(self.images, start=1):
            if self._cancelled:
                return
            try:
                self.scored.emit(image_id, uncertainty(predictor, load_image(path)).value)
            except IseguiError as exc:
                self.failed.emit(str(exc))
            self.progress.emit(n, len(self.images))
