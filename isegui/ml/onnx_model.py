"""ONNX export of a trained model, and a predictor that runs the export with onnxruntime
behind the same `predict` as the torch one.

The export takes one image at a fixed input size, W x H (RGB 0..1; square unless asked): the
predictor scales an image to fit, as the torch model's transform does, and fills the rest with
the model's mean colour, which normalises to the zeros torch pads with. Export at the camera's
aspect ratio (e.g. 512x384): padding adds anchors that compete with the image's own for the
proposals, so a padded image's weakest detections can differ from torch's. The score threshold
is an input of the graph, so it still acts before the mask head."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.models.detection.image_list import ImageList

from isegui import __version__
from isegui.core.errors import IseguiError
from isegui.core.fileio import atomic_write_bytes
from isegui.core.tiling import WorkingScale
from isegui.ml.checkpoint import load_checkpoint
from isegui.ml.data import prepare_image
from isegui.ml.predict import Detection, detections_from_raw
from isegui.ml.registry import model_from_checkpoint
from isegui.ml.tiled import predict_frame

OPSET = 17
INPUTS = ("image", "score_threshold")
OUTPUTS = ("boxes", "labels", "scores", "masks")


class ExportError(IseguiError):
    pass


def parse_input_size(text: str) -> tuple[int, int]:
    """'512' (square) or '512x384' (width x height) as (width, height)."""
    width, _, height = str(text).lower().partition("x")
    try:
        size = (int(width), int(height or width))
    except ValueError:
        raise ExportError(f"--size {text!r}: give N or WxH, e.g. 512 or 512x384") from None
    if min(size) < 32 or size[0] % 32 or size[1] % 32:
        raise ExportError(f"--size {text}: width and height must be multiples of 32")
    return size


def export_onnx(checkpoint: str | Path, out: str | Path,
                size: int | str | tuple[int, int] | None = None) -> dict:
    """Write the checkpoint's model as ONNX at input size `size`, N or (width, height)
    (default: its training size, square); returns what was written."""
    data = load_checkpoint(checkpoint)
    width, height = size if isinstance(size, tuple) else parse_input_size(size or data["size"])
    working = WorkingScale.from_dict(data.get("working_scale"), data["size"])
    if working.tiled and (width, height) != (working.size, working.size):
        raise ExportError(f"{Path(checkpoint).name} predicts on tiles of {working.size} px: "
                          f"export it at that size (--size {working.size})")
    model = model_from_checkpoint(data, checkpoint).eval()
    graph = FixedSizeGraph(model, height, width).eval()
    example = (torch.rand(1, 3, height, width), torch.tensor(0.5))
    out = Path(out)
    scratch = out.with_name(out.name + ".partial")
    with warnings.catch_warnings():
        # tracing warns about every python int it freezes; the size is fixed on purpose
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, example, str(scratch), dynamo=False, opset_version=OPSET,
                          input_names=list(INPUTS), output_names=list(OUTPUTS),
                          do_constant_folding=True)
    meta = {"isegui": __version__, "model_name": data["model_name"], "width": width,
            "height": height,
            "classes": data["classes"], "working_scale": working.as_dict(),
            "mean": [float(v) for v in model.transform.image_mean],
            "std": [float(v) for v in model.transform.image_std],
            "run_id": data.get("run_id")}
    _write_with_metadata(scratch, out, meta)
    return {"path": str(out), **meta}


def _write_with_metadata(scratch: Path, out: Path, meta: dict) -> None:
    import onnx
    try:
        proto = onnx.load(str(scratch))
        onnx.checker.check_model(proto)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "isegui", json.dumps(meta)
        atomic_write_bytes(out, proto.SerializeToString())
    finally:
        scratch.unlink(missing_ok=True)


class FixedSizeGraph(torch.nn.Module):
    """What is exported: one normalised image of a fixed size through backbone, proposals and
    heads, with the score threshold as an input; no resizing or pasting (the predictor's)."""

    def __init__(self, model: torch.nn.Module, height: int, width: int):
        super().__init__()
        self.model = model
        self.image_size = (height, width)

    def forward(self, image, score_threshold):
        m = self.model
        x = m.transform.normalize(image[0])[None]
        images = ImageList(x, [self.image_size])
        features = m.backbone(x)
        proposals, _ = m.rpn(images, features)
        m.roi_heads.score_thresh = score_threshold
        found, _ = m.roi_heads(features, proposals, images.image_sizes)
        found = found[0]
        return found["boxes"], found["labels"], found["scores"], found["masks"]


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
        self.width, self.height = int(meta["width"]), int(meta["height"])
        self.classes = list(meta["classes"])
        self.model_name = meta["model_name"]
        self.mean = np.asarray(meta["mean"], dtype=np.float32)
        self.working = WorkingScale.from_dict(meta.get("working_scale"),
                                              max(self.width, self.height))
        self.device = "cpu"
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
                                  self.mask_threshold) for image in images]
        return [self._predict_one(image) for image in images]

    def _run_tiles(self, tiles: list[np.ndarray]) -> list:
        """Each tile (at most the input size) top-left on the mean colour, as torch pads."""
        return [self._run(tile) for tile in tiles]

    def _run(self, pixels: np.ndarray):
        """The graph's raw output for RGB uint8 `pixels` placed top-left on the input."""
        h, w = pixels.shape[:2]
        canvas = np.empty((self.height, self.width, 3), dtype=np.float32)
        canvas[:] = self.mean
        canvas[:h, :w] = pixels.astype(np.float32) / 255.0
        feed = {"image": np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]),
                "score_threshold": np.asarray(self.threshold, dtype=np.float32)}
        boxes, labels, scores, masks = self.session.run(list(OUTPUTS), feed)
        return boxes, labels, scores, masks[:, 0]

    def _predict_one(self, image: np.ndarray) -> list[Detection]:
        pixels = prepare_image(image)
        h, w = pixels.shape[:2]
        scale = min(self.width / w, self.height / h)
        # the size torch's resize (bilinear, scale factor recomputed) arrives at
        rh, rw = int(np.floor(h * scale)), int(np.floor(w * scale))
        resized = cv2.resize(pixels, (rw, rh), interpolation=cv2.INTER_LINEAR) \
            if (rh, rw) != (h, w) else pixels
        return detections_from_raw(*self._run(resized), (w / rw, h / rh), (h, w),
                                   self.classes, self.mask_threshold)
