"""ONNX export: the onnxruntime predictor finds what the torch one finds."""

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.images import load_image
from isegui.core.project import Project
from isegui.ml.onnx_model import ExportError, OnnxPredictor
from isegui.ml.predict import Predictor, load_predictor
from isegui.ml.spec import TrainSpec
from isegui.ml.train import fit

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_project_template):
    import shutil
    folder = tmp_path_factory.mktemp("onnx") / "demo"
    shutil.copytree(tiny_project_template, folder,
                    ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    result = fit(TrainSpec(project=folder, model="fast", size=160, epochs=2, batch=2,
                           pretrained_search=False))
    return folder, result.checkpoint


def _box_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def _mask_iou(a, b, shape):
    full = []
    for d in (a, b):
        m = np.zeros(shape, dtype=bool)
        (x, y), (h, w) = d.origin, d.mask.shape
        m[y:y + h, x:x + w] = d.mask
        full.append(m)
    union = (full[0] | full[1]).sum()
    return (full[0] & full[1]).sum() / union if union else 1.0


def test_export_command_and_parity_with_torch(trained, tmp_path, capsys):
    folder, checkpoint = trained
    out = tmp_path / "model.onnx"
    # at the images' own aspect ratio (160 x 128), as a camera's images are exported
    assert main(["export-model", str(folder), str(out), "--format", "onnx",
                 "--size", "160x128"]) == 0
    assert "160 x 128 px input" in capsys.readouterr().out
    onnx_predictor = load_predictor(out, threshold=0.05)
    assert isinstance(onnx_predictor, OnnxPredictor)
    torch_predictor = Predictor.from_checkpoint(checkpoint, "cpu", threshold=0.05)
    assert onnx_predictor.classes == torch_predictor.classes
    with Project.open(folder, read_only=True) as project:
        images = [load_image(project.image_path(r.path)) for r in project.store.images()]
    compared = 0
    for image in images:
        expected = torch_predictor.predict([image])[0]
        got = onnx_predictor.predict([image])[0]
        # near the score threshold float noise may keep one and drop the other; compare what
        # both keep with a margin
        for d in [d for d in expected if d.score >= 0.1]:
            twin = max((g for g in got if g.class_index == d.class_index),
                       key=lambda g: _box_iou(g.box, d.box), default=None)
            assert twin is not None, f"torch found {d.class_name} at {d.box}; onnx did not"
            assert np.abs(np.subtract(twin.box, d.box)).max() <= 1.0
            assert abs(twin.score - d.score) < 0.01
            # masks agree but for pixels whose probability sits on the 0.5 threshold: at
            # most one such pixel on a small mask, 2% of a large one
            assert _mask_iou(twin, d, image.shape[:2]) >= min(0.98, 1 - 1.5 / d.mask.sum())
            compared += 1
    assert compared >= 5, "too few detections to compare; the model found nothing"


def test_fixed_input_size_and_bad_files(trained, tmp_path):
    folder, checkpoint = trained
    from isegui.ml.onnx_model import export_onnx
    out = tmp_path / "m.onnx"
    export_onnx(checkpoint, out, size=192)
    predictor = OnnxPredictor(out)
    predictor.set_input_size(192)
    with pytest.raises(ExportError, match="192 x 192 px images only"):
        predictor.set_input_size(256)
    (found,) = predictor.predict([np.zeros((100, 300, 3), np.uint8)])  # any shape fits in
    assert all(0 <= d.box[0] <= d.box[2] <= 300 and d.box[3] <= 100 for d in found)
    for bad in (200, "192x100", "wide"):
        with pytest.raises(ExportError, match="multiples of 32|give N or WxH"):
            export_onnx(checkpoint, tmp_path / "n.onnx", size=bad)
    assert not (tmp_path / "n.onnx").exists()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ExportError, match="broken.onnx"):
        OnnxPredictor(broken)
