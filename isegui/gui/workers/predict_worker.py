"""Prediction in a thread of its own: it works through the images it is given with the run's
model, loaded once and kept for the next job (ml.model.loaded_model); results go to the window
through signals (the window stores them)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal

from isegui.ml.model.loaded_model import LoadedModel

STORE_ABOVE = 0.05  # predictions kept for review: the confidence slider can go this low
MAX_PER_IMAGE = 300


class PredictWorker(QThread):
    predicted = Signal(int, int, list)  # run id, image id, [(class name, shape, score)]
    progress = Signal(int, int)  # done, total
    failed = Signal(str)

    def __init__(self, run_id: int, checkpoint: Path, images: list[tuple[int, Path]],
                 loaded: LoadedModel | None = None, device: str = "auto"):
        super().__init__()
        # the run travels with the job: its results are that run's, whatever is chosen since
        self.run_id, self.checkpoint, self.images, self.device = run_id, checkpoint, images, device
        self.loaded = loaded or LoadedModel()
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def run(self) -> None:
        from isegui.core.errors import IseguiError
        from isegui.core.images import load_image
        try:
            predictor = self.loaded.get(self.checkpoint, self.device, STORE_ABOVE)
        except (IseguiError, ValueError, RuntimeError, OSError) as exc:
            self.failed.emit(f"Cannot load the model: {exc}")
            return
        for n, (image_id, path) in enumerate(self.images, start=1):
            if self._cancelled:
                break
            try:
                (found,) = predictor.predict([load_image(path)])
            except IseguiError as exc:
                self.failed.emit(str(exc))
                continue
            found = sorted(found, key=lambda d: -d.score)[:MAX_PER_IMAGE]
            self.predicted.emit(self.run_id, image_id,
                                [(d.class_name, d.shape(), d.score) for d in found])
            self.progress.emit(n, len(self.images))
