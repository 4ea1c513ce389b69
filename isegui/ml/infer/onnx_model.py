"""An exported model (`ml.model.onnx_export`) on onnxruntime, behind the same `predict` as the torch
predictor; no torch here, so a line PC predicting with it never imports torch.

The predictor scales an image to fit the export's input, as the torch model's transform does,
and fills the rest with the model's mean colour, which normalises to the zeros torch pads with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from isegui.core.errors import IseguiError
from isegui.core.working_scale import WorkingScale
from isegui.ml.infer.detection import Detection, detections_from_raw, prepare_image
from isegui.ml.infer.tiled import RawOutput, TileOutput, predict_frame

INPUTS = ("image", "score_threshold")
OUTPUTS = ("boxes", "labels", "scores", "masks", "blobs")


class ExportError(IseguiError):
    pass


class OnnxPredictor:
    """An exported model on onnxruntime (CPU): `predict(images)` as Predictor's."""

    def __init__(self, path: str | Path, threshold: float = 0.5, mask_threshold: float = 0.5,
                 threads: int | None = None):
        import onnxruntime as ort
        path = Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ExportError(f"{path}: not a model onnxruntime can load ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map.get("isegui")
        if meta is None:
            raise ExportError(f"{path}: not an isegui export (no isegui metadata); export it "
                              "with `isegui export-model`")
        meta = json.loads(meta)
        self.path = path
        # what this export has: a model of blob classes only needs no score threshold, and
        # exports from before blob classes give no blob probabilities
        self._inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        self._outputs = [name for name in OUTPUTS if name in outputs]
        self.width, self.height = int(meta["width"]), int(meta["height"])
        self.classes = list(meta["classes"])
        self.model_name = meta["model_name"]
        self.mean = np.asarray(meta["mean"], dtype=np.float32)
        self.working = WorkingScale.from_dict(meta.get("working_scale"),
                                              max(self.width, self.height))
        self.device = "cpu"
        calibration = meta.get("mm_per_px")  # exports of a calibrated project carry it
        self.mm_per_px = float(calibration) if calibration else None
        self.rules: dict[str, Any] | None = meta.get("rules")  # the inspection rules, when exported
        self.threshold = threshold
        self.mask_threshold = mask_threshold

    @classmethod
    def from_file(cls, path: str | Path, threshold: float = 0.5) -> OnnxPredictor:
        return cls(path, threshold)

    def set_input_size(self, side: int) -> None:
        if self.working.tiled:
            raise ExportError(f"{self.path.name} predicts on tiles of {self.width} px only")
        if int(side) != max(self.width, self.height):
            raise ExportError(f"{self.path.name} takes {self.width} x {self.height} px images "
                              f"only; export it again with --size {int(side)}")

    def predict(self, images: list[np.ndarray], batch_size: int = 1) -> list[list[Detection]]:
        if self.working.tiled:
            return [predict_frame(image, self.working, self._run_tiles, self.classes, 4,
                                  self.mask_threshold, self.threshold) for image in images]
        return [self._predict_one(image) for image in images]

    def _run_tiles(self, tiles: list[np.ndarray]) -> list[TileOutput]:
        """Each tile (at most the input size) top-left on the mean colour, as torch pads."""
        out: list[TileOutput] = []
        for tile in tiles:
            raw, blobs = self._run(tile)
            h, w = tile.shape[:2]
            out.append((raw, blobs[:, :h, :w] if len(blobs) else None))
        return out

    def _run(self, pixels: np.ndarray) -> tuple[RawOutput, np.ndarray]:
        """The graph's raw output for RGB uint8 `pixels` placed top-left on the input, and
        its blob probabilities (none from a model without a blob head, or an older export)."""
        h, w = pixels.shape[:2]
        canvas = np.empty((self.height, self.width, 3), dtype=np.float32)
        canvas[:] = self.mean
        canvas[:h, :w] = pixels.astype(np.float32) / 255.0
        feed = {"image": np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]),
                "score_threshold": np.asarray(self.threshold, dtype=np.float32)}
        feed = {k: v for k, v in feed.items() if k in self._inputs}
        boxes, labels, scores, masks, *rest = self.session.run(self._outputs, feed)
        blobs = rest[0] if rest else np.zeros((0, h, w), np.float32)
        return (boxes, labels, scores, masks[:, 0]), blobs

    def _predict_one(self, image: np.ndarray) -> list[Detection]:
        pixels = prepare_image(image)
        h, w = pixels.shape[:2]
        scale = min(self.width / w, self.height / h)
        # the size torch's resize (bilinear, scale factor recomputed) arrives at
        rh, rw = int(np.floor(h * scale)), int(np.floor(w * scale))
        resized = cv2.resize(pixels, (rw, rh), interpolation=cv2.INTER_LINEAR) \
            if (rh, rw) != (h, w) else pixels
        raw, _ = self._run(resized)  # whole-image runs have no blob classes
        return detections_from_raw(*raw, (w / rw, h / rh), (h, w), self.classes,
                                   self.mask_threshold)
