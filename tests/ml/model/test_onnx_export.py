"""ONNX export: the onnxruntime predictor finds what the torch one finds."""

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.images import load_image
from isegui.core.project import Project
from isegui.core.tiling import tile_grid
from isegui.ml.infer.onnx_model import ExportError, OnnxPredictor
from isegui.ml.model.torch_predictor import Predictor
from isegui.ml.model.predictors import load_predictor
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.trainer import fit

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


def _agree(expected, got, shape):
    """Every torch detection of some score has an onnxruntime twin: same class, box within
    a pixel, score within 0.01, the same mask but for pixels on the 0.5 threshold (at most one
    such pixel on a small mask, 2% of a large one). Near the score threshold float noise may
    keep one and drop the other: what both keep is compared, with a margin."""
    compared = 0
    for d in [d for d in expected if d.score >= 0.1]:
        twin = max((g for g in got if g.class_index == d.class_index),
                   key=lambda g: _box_iou(g.box, d.box), default=None)
        assert twin is not None, f"torch found {d.class_name} at {d.box}; onnx did not"
        assert np.abs(np.subtract(twin.box, d.box)).max() <= 1.0
        assert abs(twin.score - d.score) < 0.01
        assert _mask_iou(twin, d, shape) >= min(0.98, 1 - 1.5 / d.mask.sum())
        compared += 1
    return compared


@pytest.mark.slow
def test_a_model_trained_on_tiles_predicts_on_tiles_in_onnxruntime_too(tiny_project, tmp_path):
    from isegui.ml.model.onnx_export import export_onnx
    # the detector's path (the parts touch in places; --no-blobs makes sure)
    result = fit(TrainSpec(project=tiny_project, model="fast", size=64, tile=64, scale=1.0,
                           blobs=False, epochs=2, batch=2, pretrained_search=False))
    torch_predictor = Predictor.from_checkpoint(result.checkpoint, "cpu", threshold=0.05)
    assert torch_predictor.working.tiled and torch_predictor.working.size == 64
    assert torch_predictor.working.blob_classes == ()
    with pytest.raises(ExportError, match="tiles of 64 px"):
        export_onnx(result.checkpoint, tmp_path / "wrong.onnx", size=128)
    meta = export_onnx(result.checkpoint, tmp_path / "tiles.onnx")
    assert (meta["width"], meta["height"]) == (64, 64) and meta["working_scale"]["mode"] == "tiles"
    onnx_predictor = OnnxPredictor(tmp_path / "tiles.onnx", threshold=0.05)
    assert onnx_predictor.working == torch_predictor.working
    with Project.open(tiny_project, read_only=True) as project:
        images = [load_image(project.image_path(r.path)) for r in project.store.images()]
    # tile by tile, the two runtimes agree as closely as on whole images
    from isegui.ml.infer.detection import detections_from_raw
    from isegui.ml.infer.tiled import tile_pixels
    from isegui.ml.model.torch_predictor import torch_tile_runner
    run_torch = torch_tile_runner(torch_predictor.model, torch_predictor.device, 64)
    classes, compared = torch_predictor.classes, 0
    for image in images:  # 160 x 128 frames: six overlapping 64-px tiles each
        tiles = [tile_pixels(image, rect, 1.0, 64) for rect in tile_grid(160, 128, 64)]
        for (a, _), (b, _) in zip(run_torch(tiles), onnx_predictor._run_tiles(tiles)):
            compared += _agree(detections_from_raw(*a, (1, 1), (64, 64), classes),
                               detections_from_raw(*b, (1, 1), (64, 64), classes), (64, 64))
        # and on the frame, after merging, the same objects (pieces near the merging rule's
        # margin may join in one runtime and not the other: boxes, not exact scores)
        expected = [d for d in torch_predictor.predict([image])[0] if d.score >= 0.2]
        got = onnx_predictor.predict([image])[0]
        found = sum(any(g.class_index == d.class_index and _box_iou(g.box, d.box) >= 0.7
                        for g in got) for d in expected)
        assert found >= 0.8 * len(expected)
    assert compared >= 5, "too few detections to compare; the model found nothing"


@pytest.mark.slow
def test_export_command_and_parity_with_torch(trained, tmp_path, capsys):
    folder, checkpoint = trained
    out = tmp_path / "model.onnx"
    # at the images' own aspect ratio (160 x 128), as a camera's images are exported
    assert main(["export-model", str(folder), str(out), "--format", "onnx",
                 "--size", "160x128"]) == 0
    said = capsys.readouterr()
    assert "160 x 128 px input" in said.out and "warning" not in said.err  # its own size
    assert main(["export-model", str(folder), str(tmp_path / "small.onnx"), "--size",
                 "96"]) == 0
    assert "trained at 160 px" in capsys.readouterr().err  # less than that: said
    rules = tmp_path / "rules.json"  # a class the run does not have: said here, not on the line
    rules.write_text('{"isegui_rules": 1, "classes": {"bolt": {"count": {"max": 0}}}}')
    assert main(["export-model", str(folder), str(tmp_path / "ruled.onnx"), "--rules",
                 str(rules)]) != 0
    assert 'has no class "bolt"' in capsys.readouterr().err
    assert not (tmp_path / "ruled.onnx").exists()
    onnx_predictor = load_predictor(out, threshold=0.05)
    assert isinstance(onnx_predictor, OnnxPredictor)
    torch_predictor = Predictor.from_checkpoint(checkpoint, "cpu", threshold=0.05)
    assert onnx_predictor.classes == torch_predictor.classes
    with Project.open(folder, read_only=True) as project:
        images = [load_image(project.image_path(r.path)) for r in project.store.images()]
    compared = 0
    for image in images:
        compared += _agree(torch_predictor.predict([image])[0],
                           onnx_predictor.predict([image])[0], image.shape[:2])
    assert compared >= 5, "too few detections to compare; the model found nothing"


def test_fixed_input_size_and_bad_files(trained, tmp_path):
    folder, checkpoint = trained
    from isegui.ml.model.onnx_export import export_onnx
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
