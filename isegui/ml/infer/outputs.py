"""Writing predictions out: a COCO results file, and a CSV with one row per instance and its
measurements (millimetre columns when the project is calibrated), written through
core.csv_cells so that no image or class name is ever a formula there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from isegui.core.csv_cells import CsvDictWriter
from isegui.core.fileio import atomic_write_json
from isegui.core.measure import csv_columns, measurement_row
from isegui.ml.infer.detection import Detection


class CocoResults:
    """Collects images and detections; `write` makes a COCO file pycocotools loads."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def add(self, file_name: str, size: tuple[int, int], detections: list[Detection]) -> None:
        height, width = size
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "width": width,
                            "height": height})
        for det in detections:
            x0, y0, x1, y1 = det.box
            self.annotations.append({
                "id": len(self.annotations) + 1, "image_id": image_id,
                "category_id": det.class_index, "score": round(det.score, 5),
                "segmentation": det.rle(height, width), "area": float(det.area),
                "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0})

    def write(self, path: Path) -> None:
        atomic_write_json(path, {
            "info": {"description": "predictions by isegui"}, "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": k + 1, "name": n} for k, n in enumerate(self.classes)]})


def measurement_rows(image: str, detections: list[Detection],
                     mm_per_px: float | None) -> Iterator[dict[str, Any]]:
    """One CSV row per detection (core.measure's columns)."""
    for k, det in enumerate(detections, start=1):
        yield measurement_row(image, k, det.class_name, det.shape(), det.score, mm_per_px)


def csv_writer(stream: IO[str], calibrated: bool) -> CsvDictWriter:
    writer = CsvDictWriter(stream, csv_columns(calibrated))
    writer.writeheader()
    return writer
