"""The model's mask head on a user's box (box -> mask): the same arithmetic as the model's own
prediction, only a window around the box through the backbone, the class kept when given."""

import numpy as np
import torch

from isegui.core.working_scale import TILES, WHOLE, WorkingScale
from isegui.ml.infer.detection import paste_in_box
from isegui.ml.model.box_segmenter import BoxSegmenter
from isegui.ml.model.torch_predictor import Predictor
from isegui.ml.model.registry import build_model


def _predictor(working=None, size=256):
    """An untrained model; every probability counts as mask, so the window is the box."""
    torch.manual_seed(0)
    model = build_model("fast", num_classes=2, size=size)
    return Predictor(model, ["pill", "washer"], torch.device("cpu"), 0.05,
                     mask_threshold=0.0, working=working)


def _image(size):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (size, size, 3), np.uint8)
    image[60:190, 50:200] = (200, 160, 40)
    return image


@torch.inference_mode()
def test_a_box_covering_the_image_gives_the_models_own_mask_for_that_proposal():
    predictor = _predictor()
    model = predictor.model
    image = _image(256)
    box = (40.0, 50.0, 210.0, 200.0)  # its context reaches every edge: the crop is the image

    tensor = torch.from_numpy(image).permute(2, 0, 1).float().div(255)
    batch, _ = model.transform([tensor])
    assert tuple(batch.image_sizes[0]) == (256, 256)  # no resize: the same input
    features = model.backbone(batch.tensors)
    proposal = [torch.tensor([box])]
    heads = model.roi_heads
    logits = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(
        features, proposal, batch.image_sizes)))
    probs = torch.sigmoid(logits[0, 2]).numpy()
    # untrained weights: a threshold at the median keeps a mask with an outline to compare
    predictor.mask_threshold = float(np.median(probs))
    expected = paste_in_box(probs, box, 256, 256, predictor.mask_threshold)
    found = BoxSegmenter(predictor).segment(image, box, class_index=2)
    assert expected is not None and 0 < expected.mask.mean() < 1
    assert found is not None and found.class_index == 2 and found.class_name == "washer"
    assert found.box == box and found.origin == expected.origin
    assert np.array_equal(found.mask, expected.mask)


@torch.inference_mode()
def test_the_class_comes_from_the_box_head_when_not_given():
    predictor = _predictor()
    found = BoxSegmenter(predictor).segment(_image(256), (40, 50, 210, 200))
    assert found is not None and found.mask.shape == (150, 170)
    assert found.class_index in (1, 2)
    assert found.class_name == predictor.classes[found.class_index - 1]
    assert 0.0 <= found.score <= 1.0


@torch.inference_mode()
def test_on_a_large_frame_only_a_window_around_the_box_is_run(monkeypatch):
    predictor = _predictor(WorkingScale(TILES, 512, 1.0), size=512)
    seen = []
    backbone = predictor.model.backbone
    forward = backbone.forward
    monkeypatch.setattr(backbone, "forward", lambda x: seen.append(tuple(x.shape)) or forward(x))
    frame = np.zeros((2048, 2448, 3), np.uint8)
    frame[1000:1060, 1200:1300] = 220
    found = BoxSegmenter(predictor).segment(frame, (1190, 990, 1310, 1070), class_index=1)
    (shape,) = seen
    assert shape[-2] <= 192 and shape[-1] <= 256  # 120 x 80 px and its context, at scale 1
    assert found is not None and found.origin == (1190, 990)  # in frame pixels: the box
    assert found.mask.shape == (80, 120) and found.class_index == 1


def test_whole_image_runs_see_the_box_at_the_scale_they_were_trained_at():
    predictor = _predictor(WorkingScale(WHOLE, 256), size=256)
    segmenter = BoxSegmenter(predictor)
    assert segmenter.model_scale(1024, 2048) == 256 / 2048
    assert segmenter.model_scale(128, 256) == 1.0
