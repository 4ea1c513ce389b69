"""Writing predictions out: a COCO results file, and a CSV with one row per instance and its
measurements (millimetre columns when the project is calibrated)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

from isegui.core.fileio import atomic_write_json
from isegui.core.measure import measure, to_mm
from isegui.ml.predict import Detection

CSV_COLUMNS = ["image", "instance", "class", "score", "area_px", "bbox_x", "bbox_y", "bbox_w",
               "bbox_h", "length_px", "width_px", "angle_deg", "equivalent_diameter_px"]
MM_COLUMNS = ["area_mm2", "length_mm", "width_mm", "equivalent_diameter_mm"]


class CocoResults:
    """Collects images and detections; `write` makes a COCO file pycocotools loads."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.images: list[dict] = []
        self.annotations: list[dict] = []

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


def measurement_rows(image: str, detections: list[Detection], mm_per_px: float | None):
    """One dict per detection with CSV_COLUMNS (and MM_COLUMNS when calibrated)."""
    for k, det in enumerate(detections, start=1):
        m = measure(det.shape())
        row = {"image": image, "instance": k, "class": det.class_name,
               "score": round(det.score, 4), "area_px": round(m.area, 1),
               "bbox_x": round(m.bbox[0], 1), "bbox_y": round(m.bbox[1], 1),
               "bbox_w": round(m.bbox[2], 1), "bbox_h": round(m.bbox[3], 1),
               "length_px": round(m.length, 2), "width_px": round(m.width, 2),
               "angle_deg": round(m.angle, 1),
               "equivalent_diameter_px": round(m.equivalent_diameter, 2)}
        if mm_per_px:
            mm = to_mm(m, mm_per_px)
            row.update(area_mm2=round(mm.area, 4), length_mm=round(mm.length, 4),
                       width_mm=round(mm.width, 4),
                       equivalent_diameter_mm=round(mm.equivalent_diameter, 4))
        yield row


def csv_writer(stream: IO[str], calibrated: bool) -> csv.DictWriter:
    writer = csv.DictWriter(stream, CSV_COLUMNS + (MM_COLUMNS if calibrated else []),
                            lineterminator="\n")
    writer.writeheader()
    return writer
