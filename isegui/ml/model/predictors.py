"""A predictor for a model file: a checkpoint (.pt) runs on torch, an exported model (.onnx)
on onnxruntime only (torch is then never imported). Both give `ml.infer.detection.Detection`s."""

from __future__ import annotations

from pathlib import Path

from isegui.ml.infer.detection import ImagePredictor


def load_predictor(path: str | Path, device: str = "auto",
                   threshold: float = 0.5) -> ImagePredictor:
    """The predictor for a checkpoint (.pt, torch) or an exported model (.onnx,
    onnxruntime); both have the same `predict`."""
    if Path(path).suffix.lower() == ".onnx":
        from isegui.ml.infer.onnx_model import OnnxPredictor
        return OnnxPredictor.from_file(path, threshold)
    from isegui.ml.model.torch_predictor import Predictor
    return Predictor.from_checkpoint(path, device, threshold)
