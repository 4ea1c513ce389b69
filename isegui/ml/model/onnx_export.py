"""ONNX export of a trained model (torch): one image at a fixed input size, W x H (RGB 0..1;
square unless asked), the score threshold an input of the graph so it still acts before the
mask head. `ml.infer.onnx_model.OnnxPredictor` runs the file on onnxruntime alone. Export at the
camera's aspect ratio (e.g. 512x384): padding adds anchors that compete with the image's own
for the proposals, so a padded image's weakest detections can differ from torch's."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torchvision.models.detection.image_list import ImageList

from isegui import __version__
from isegui.core.fileio import atomic_write_bytes
from isegui.core.working_scale import WorkingScale
from isegui.ml.model.blob_head import blob_probabilities, runs_detector
from isegui.ml.model.checkpoint import load_checkpoint
from isegui.ml.infer.onnx_model import INPUTS, OUTPUTS, ExportError
from isegui.ml.model.registry import model_from_checkpoint

if TYPE_CHECKING:
    from torchvision.models.detection import MaskRCNN

OPSET = 17
LARGEST_INPUT = 4096  # px a side, as `isegui train --size` takes at most


def parse_input_size(text: str | int) -> tuple[int, int]:
    """'512' (square) or '512x384' (width x height) as (width, height)."""
    width, _, height = str(text).lower().partition("x")
    try:
        size = (int(width), int(height or width))
    except ValueError:
        raise ExportError(f"--size {text!r}: give N or WxH, e.g. 512 or 512x384") from None
    if min(size) < 32 or size[0] % 32 or size[1] % 32:
        raise ExportError(f"--size {text}: width and height must be multiples of 32")
    if max(size) > LARGEST_INPUT:  # as training's largest size: a larger graph is gigabytes
        raise ExportError(f"--size {text}: at most {LARGEST_INPUT} px a side (a large frame "
                          "is predicted on tiles: export a tiled run)")
    return size


def export_onnx(checkpoint: str | Path, out: str | Path,
                size: int | str | tuple[int, int] | None = None,
                mm_per_px: float | None = None,
                rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the checkpoint's model as ONNX at input size `size`, N or (width, height)
    (default: its training size, square); returns what was written. The file carries what a
    line PC needs beside it: the calibration and the inspection rules, when given."""
    data = load_checkpoint(checkpoint)
    width, height = size if isinstance(size, tuple) else parse_input_size(size or data["size"])
    working = WorkingScale.from_dict(data.get("working_scale"), data["size"])
    if working.tiled and (width, height) != (working.size, working.size):
        raise ExportError(f"{Path(checkpoint).name} predicts on tiles of {working.size} px: "
                          f"export it at that size (--size {working.size})")
    model: MaskRCNN = model_from_checkpoint(data, checkpoint).eval()
    graph = FixedSizeGraph(model, height, width).eval()
    example = (torch.rand(1, 3, height, width), torch.tensor(0.5))
    out = Path(out)
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent}: no such folder for the model file")
    # a scratch file of its own (a fixed "OUT.partial" could be a link to any file, or a file
    # of the user's: it would be written over, then removed)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.stem[:50]}.", suffix=".partial",
                                        dir=out.parent)
    except OSError as exc:  # it names the hidden file it tried, which the user never named
        raise OSError(exc.errno, exc.strerror, str(out)) from None
    os.close(handle)
    scratch = Path(name)
    with warnings.catch_warnings():
        # tracing warns about every python int it freezes; the size is fixed on purpose
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(graph, example, str(scratch), dynamo=False, opset_version=OPSET,
                              input_names=list(INPUTS), output_names=list(OUTPUTS),
                              do_constant_folding=True)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
    meta = {"isegui": __version__, "model_name": data["model_name"], "width": width,
            "height": height,
            "classes": data["classes"], "working_scale": working.as_dict(),
            "mean": [float(v) for v in model.transform.image_mean],
            "std": [float(v) for v in model.transform.image_std],
            "run_id": data.get("run_id"), "mm_per_px": mm_per_px, "rules": rules}
    _write_with_metadata(scratch, out, meta)
    return {"path": str(out), "trained_size": int(data["size"]), **meta}


def _write_with_metadata(scratch: Path, out: Path, meta: dict[str, Any]) -> None:
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

    def __init__(self, model: MaskRCNN, height: int, width: int):
        super().__init__()
        self.model = model
        self.image_size = (height, width)

    def forward(self, image: torch.Tensor, score_threshold: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.model
        x = m.transform.normalize(image[0])[None]
        blobs = blob_probabilities(m, x)
        blobs = blobs[0] if blobs is not None else x.new_zeros((0, *self.image_size))
        if not runs_detector(m):  # every class is a blob class
            return (x.new_zeros((0, 4)), torch.zeros(0, dtype=torch.int64), x.new_zeros(0),
                    x.new_zeros((0, 1, 28, 28)), blobs)
        images = ImageList(x, [self.image_size])
        features = m.backbone(x)
        proposals, _ = m.rpn(images, features)
        m.roi_heads.score_thresh = score_threshold
        found, _ = m.roi_heads(features, proposals, images.image_sizes)
        found = found[0]
        return found["boxes"], found["labels"], found["scores"], found["masks"], blobs
