"""Writing a run's model for the line (ml.model.onnx_export) in a thread: torch's ONNX export
takes seconds to a minute, and the window stays live meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal


class ExportWorker(QThread):
    written = Signal(object)  # what was written (export_onnx's dict)
    failed = Signal(str)  # why, in words

    def __init__(self, checkpoint: Path, out: Path, size: int | tuple[int, int] | None,
                 mm_per_px: float | None, rules: dict[str, Any] | None):
        super().__init__()
        self.checkpoint, self.out, self.size = checkpoint, out, size
        self.mm_per_px, self.rules = mm_per_px, rules

    def run(self) -> None:
        try:
            from isegui.ml.model.onnx_export import export_onnx
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.written.emit(export_onnx(self.checkpoint, self.out, self.size, self.mm_per_px,
                                          self.rules))
        except Exception as exc:  # noqa: BLE001 - every failure is said in the dialog
            self.failed.emit(f"{self.out.name}: the model was not written: "
                             f"{str(exc) or type(exc).__name__}")
