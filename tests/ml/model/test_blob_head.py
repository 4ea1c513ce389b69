"""The blob head: its targets, its learning on thin lines, the box-to-mask tool on it, its
checkpoints, its ONNX export and the torch predictor running it (turning its map into instances:
tests/ml/infer/test_blobs.py)."""

import cv2
import numpy as np
import pytest
import torch
from shapely.geometry import LineString

from isegui.core.geometry import rasterize
from isegui.core.tiling import tile_grid
from isegui.core.working_scale import LINE, SPOT, TILES, ShapeKind, WorkingScale
from isegui.ml.model.blob_head import (IGNORE, BlobMaskRCNN, blob_losses, blob_probabilities,
                                       blob_target, skeleton)
from isegui.ml.model.registry import build_model, model_from_checkpoint
from tests.ml.frame_masks import iou, on_frame


def _target(masks, labels):
    return {"masks": torch.tensor(np.array(masks), dtype=torch.uint8),
            "labels": torch.tensor(labels), "boxes": torch.zeros((len(labels), 4))}


def test_the_blob_target_marks_blob_classes_and_ignores_the_padding():
    from torchvision.models.detection.image_list import ImageList
    a = np.zeros((32, 48), np.uint8)
    a[2:4, 5:40] = 1
    b = np.zeros((32, 48), np.uint8)
    b[10:20, 10:20] = 1
    batch = ImageList(torch.zeros(2, 3, 32, 64), [(32, 48), (32, 64)])
    target = blob_target([_target([a, b], [2, 1]), _target(np.zeros((0, 32, 64)), [])],
                         batch, blob_labels=[2])
    assert target.shape == (2, 32, 64)
    assert (target[0, :, :48][torch.from_numpy(a).bool()] == 1).all()
    assert (target[0, :, :48][torch.from_numpy(b).bool()] == 0).all()  # class 1: detector's
    assert (target[0, :, 48:] == IGNORE).all() and (target[1] == 0).all()


def _lines_batch(rng, n=4, size=64):
    images, targets, truths = [], [], []
    for _ in range(n):
        image = rng.uniform(0.3, 0.5, (3, size, size)).astype(np.float32)
        x0, x1 = rng.uniform(4, 60, 2)
        line = rasterize(LineString([(x0, 4), (x1, 60)]).buffer(1.2), size, size)
        image[:, line] += 0.35
        images.append(torch.from_numpy(image))
        targets.append(_target([line.astype(np.uint8)], [1]))
        truths.append(line)
    return images, targets, truths


@pytest.fixture(scope="module")
def line_model():
    """A blob-only model taught bright thin lines on a noisy background (150 steps)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("fast", num_classes=1, size=64, blob_labels=[1], line_labels=[1])
    assert isinstance(model, BlobMaskRCNN) and not model.detects and model.line_channels == (1,)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        images, targets, _ = _lines_batch(rng)
        losses = model(images, targets)
        assert set(losses) == {"loss_blob", "loss_blob_dice", "loss_blob_skeleton"}  # no detector
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    return model.eval()


@pytest.mark.slow
def test_the_cross_entropy_counts_the_hard_background_not_the_easy_bulk():
    """A head right everywhere but on a texture streak it calls a scratch: the streak's loss
    is not averaged away over the easy background that fills the rest of the tile."""
    target = torch.zeros((1, 128, 128), dtype=torch.long)
    target[0, 60:63, 10:100] = 1  # a scratch, seen
    target[0, :, 120:] = IGNORE  # padding
    logits = torch.zeros((1, 2, 128, 128))
    logits[:, 0] = 6.0  # sure of the background
    logits[0, :, 60:63, 10:100] = torch.tensor([-6.0, 6.0])[:, None, None]
    logits[0, :, 20:22, 10:100] = torch.tensor([-2.0, 2.0])[:, None, None]  # the streak
    plain = torch.nn.functional.cross_entropy(logits, target, ignore_index=IGNORE)
    losses = blob_losses(logits, target)
    assert losses["loss_blob"] > 4 * plain
    logits[0, :, 20:22, 10:100] = torch.tensor([6.0, -6.0])[:, None, None]  # streak learned
    assert blob_losses(logits, target)["loss_blob"] < 0.01
    assert torch.isfinite(blob_losses(logits, torch.full_like(target, IGNORE))["loss_blob"])


def test_the_skeleton_is_the_centre_line_of_a_line_and_the_centre_of_a_square():
    mask = np.zeros((40, 60), bool)
    mask[5:8, 4:56] = True  # a 3-px scratch
    mask[20:29, 20:29] = True  # a 9-px square
    found = skeleton(mask)
    assert found[6, 6:54].all() and not found[5].any() and not found[7].any()
    assert found[20:29, 20:29].sum() == 1 and found[24, 24]


def test_a_gap_in_a_found_line_costs_its_length_and_a_thin_but_whole_one_costs_nothing():
    """The skeleton-recall term: a scratch found in dashes loses as much as its gaps are long
    (Dice would forgive a gap as it forgives a line drawn too thin); one found whole, if
    narrower than its label, costs nothing."""
    target = torch.zeros((1, 64, 128), dtype=torch.long)
    target[0, 30:35, 8:120] = 1  # a 5-px scratch, 112 long
    sure = torch.tensor([-8.0, 8.0])[:, None, None]

    def skeleton_loss(found_rows, found_cols):
        logits = torch.zeros((1, 2, 64, 128))
        logits[:, 0] = 8.0
        logits[0, :, found_rows, found_cols] = sure
        return float(blob_losses(logits, target, line_channels=(1,))["loss_blob_skeleton"])

    assert skeleton_loss(slice(30, 35), slice(8, 120)) < 0.01
    assert skeleton_loss(slice(31, 34), slice(8, 120)) < 0.01  # thinner, whole
    dashed = skeleton_loss(slice(30, 35), slice(8, 75))  # the last 45 px missed
    assert 0.35 < dashed < 0.45
    none = blob_losses(torch.zeros((1, 2, 64, 128)), torch.zeros_like(target), (1,))
    assert float(none["loss_blob_skeleton"]) == 0
    # a spot class (channel 1 not a line) is left to Dice: a pit is not a line to keep whole
    assert float(blob_losses(torch.zeros((1, 2, 64, 128)), target)["loss_blob_skeleton"]) == 0


def test_the_blob_head_learns_thin_lines_a_box_mask_could_not_hold(line_model):
    images, _, truths = _lines_batch(np.random.default_rng(99))
    with torch.no_grad():
        probs = blob_probabilities(line_model, torch.stack([line_model.transform.normalize(i)
                                                            for i in images]))
    ious = [iou(p[0].numpy() > 0.5, t) for p, t in zip(probs, truths)]
    assert np.mean(ious) >= 0.6, ious


@pytest.mark.slow
def test_a_box_drawn_around_a_thin_line_gets_the_blob_heads_mask(line_model):
    """The box-to-mask labeling tool on a blob-only run: the line's pixels in the box, not
    the untrained detector's guess."""
    from isegui.ml.model.box_segmenter import BoxSegmenter
    from isegui.ml.model.torch_predictor import Predictor
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("line",))
    predictor = Predictor(line_model, ["line"], torch.device("cpu"), working=working)
    images, _, truths = _lines_batch(np.random.default_rng(5), n=3)
    ious = []
    for image, truth in zip(images, truths):
        pixels = (image.permute(1, 2, 0).numpy().clip(0, 1) * 255).astype(np.uint8)
        rows, cols = np.nonzero(truth)
        box = (cols.min() - 3, rows.min() - 3, cols.max() + 4, rows.max() + 4)
        found = BoxSegmenter(predictor).segment(pixels, box)
        assert found is not None and found.class_name == "line"
        ious.append(iou(on_frame(found, 64, 64), truth))
    assert np.mean(ious) >= 0.5, ious


def test_a_checkpoint_of_a_blob_model_loads_with_its_head_and_old_ones_without():
    torch.manual_seed(0)
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("pit",))
    model = build_model("fast", num_classes=2, size=64, blob_labels=[2])
    assert model.detects  # "chip" is left to the detector
    data = {"model_name": "fast", "size": 64, "classes": ["chip", "pit"],
            "working_scale": working.as_dict(), "state_dict": model.state_dict()}
    loaded = model_from_checkpoint(data)
    assert isinstance(loaded, BlobMaskRCNN) and loaded.blob_labels == (2,)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    plain = build_model("fast", num_classes=2, size=64)
    old = {"model_name": "fast", "size": 64, "classes": ["chip", "pit"],
           "state_dict": plain.state_dict()}
    assert not hasattr(model_from_checkpoint(old), "blob_head")


def test_a_checkpoint_rebuilds_which_blob_channels_are_lines():
    """The skeleton term follows the working scale's shape kinds: a resumed run teaches the
    same channels whole as the run that wrote the checkpoint."""
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("pit", "scratch"),
                           blob_shapes=(ShapeKind(SPOT, 9.0), ShapeKind(LINE, 3.0, 60.0)))
    classes = ["stain", "scratch", "pit"]
    assert working.blob_labels(classes) == [3, 2] and working.line_labels(classes) == [2]
    model = build_model("fast", num_classes=3, size=64, blob_labels=[3, 2], line_labels=[2])
    again = model_from_checkpoint({"model_name": "fast", "size": 64, "classes": classes,
                                   "working_scale": working.as_dict(),
                                   "state_dict": model.state_dict()})
    assert model.line_channels == again.line_channels == (2,)


@pytest.mark.slow
def test_onnxruntime_gives_the_blob_probabilities_torch_gives(tmp_path):
    pytest.importorskip("onnxruntime")
    from isegui.ml.model.checkpoint import save_checkpoint
    from isegui.ml.model.onnx_export import export_onnx
    from isegui.ml.infer.onnx_model import OnnxPredictor
    from isegui.ml.model.torch_predictor import Predictor
    torch.manual_seed(0)
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("pit",),
                           blob_shapes=(ShapeKind(SPOT, 6.0),))
    model = build_model("fast", num_classes=2, size=64, blob_labels=[2])
    with torch.no_grad():  # untrained, even odds: patches of "pit" here and there
        model.blob_head.out.bias.zero_()
    save_checkpoint(tmp_path / "m.pt", {
        "model_name": "fast", "size": 64, "classes": ["chip", "pit"],
        "working_scale": working.as_dict(), "state_dict": model.state_dict()})
    export_onnx(tmp_path / "m.pt", tmp_path / "m.onnx")
    torch_predictor = Predictor.from_checkpoint(tmp_path / "m.pt", "cpu", threshold=0.3)
    onnx_predictor = OnnxPredictor(tmp_path / "m.onnx", threshold=0.3)
    assert onnx_predictor.working == torch_predictor.working == working  # shape kinds too
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (100, 150, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (9, 9), 3)
    from isegui.ml.infer.tiled import tile_pixels
    from isegui.ml.model.torch_predictor import torch_tile_runner
    tiles = [tile_pixels(image, r, 1.0, 64) for r in tile_grid(150, 100, 64)]
    run_torch = torch_tile_runner(torch_predictor.model, torch_predictor.device, 64)
    for (_, a), (_, b) in zip(run_torch(tiles), onnx_predictor._run_tiles(tiles)):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
    expected = torch_predictor.predict([image])[0]
    got = onnx_predictor.predict([image])[0]
    assert any(d.class_name == "pit" for d in expected)
    assert sorted((d.class_name, d.area) for d in got) == \
        sorted((d.class_name, d.area) for d in expected)


def test_a_pit_is_found_as_a_blob_through_the_torch_predictor():
    """Predictor and predict_frame with a real BlobMaskRCNN whose head is set by hand."""
    from isegui.ml.model.torch_predictor import Predictor
    torch.manual_seed(0)
    model = build_model("fast", num_classes=1, size=64, blob_labels=[1])
    with torch.no_grad():  # background everywhere: nothing found
        model.blob_head.out.bias.copy_(torch.tensor([30.0, -30.0]))
    working = WorkingScale(TILES, 64, 1.0, blob_classes=("pit",))
    predictor = Predictor(model, ["pit"], torch.device("cpu"), threshold=0.5, working=working)
    image = np.full((100, 150, 3), 128, np.uint8)
    cv2.circle(image, (70, 40), 6, (20, 20, 20), -1)
    assert predictor.predict([image]) == [[]]
