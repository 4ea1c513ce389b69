import numpy as np
import torch
from shapely.geometry import Polygon, box

from isegui.core.geometry import rasterize
from isegui.core.images import save_image
from isegui.ml.train.data import InstanceDataset, Sample
from isegui.ml.infer.detection import prepare_image
from isegui.ml.train.spec import AugmentConfig


def _sample(tmp_path, pixels, shapes, labels):
    path = tmp_path / "a.png"
    save_image(path, pixels)
    h, w = pixels.shape[:2]
    return Sample(1, path, w, h, tuple(labels), tuple(shapes))


def test_masks_and_boxes_follow_the_augmentation(tmp_path):
    """Each object is painted in the image (a grey level of its own on a dark background): after
    rotation, flips, scaling and colour jitter, each mask must still lie on its own paint, and
    each box fit its mask. An image that drifted from its masks fails here."""
    shapes = [box(20, 20, 60, 40), Polygon([(100, 60), (140, 70), (120, 110)])]
    levels = [240, 140]  # object 1, object 2; the background is 20
    pixels = np.full((120, 160, 3), 20, np.uint8)
    for shape, level in zip(shapes, levels):
        pixels[rasterize(shape, 120, 160)] = level
    dataset = InstanceDataset([_sample(tmp_path, pixels, shapes, [1, 2])], size=160,
                              augment=AugmentConfig(rotate=180, flip=True, scale=(0.8, 1.2),
                                                    color=0.2), seed=1)
    moved = 0
    for epoch in range(6):
        image, target = dataset[(epoch, 0)]
        assert image.shape == (3, 120, 160) and image.dtype == torch.float32
        assert target["labels"].tolist() == [1, 2]
        gray = image.mean(dim=0)
        inside = [gray[mask.bool()] for mask in target["masks"]]
        outside = gray[~target["masks"].bool().any(dim=0)]
        # each mask on its own paint: the bright object's pixels brighter than the other's,
        # both brighter than the background, nearly every pixel of each mask on its level
        assert inside[0].median() > inside[1].median() + 0.2 > outside.median() + 0.3
        assert (inside[0] > (inside[0].median() + inside[1].median()) / 2).float().mean() > 0.9
        assert (inside[1] > (inside[1].median() + outside.median()) / 2).float().mean() > 0.9
        for mask, bx in zip(target["masks"], target["boxes"]):
            rows, cols = torch.nonzero(mask, as_tuple=True)
            assert bx.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        moved += int(not torch.equal(target["masks"][0].bool(),
                                     torch.from_numpy(rasterize(shapes[0], 120, 160))))
        assert len(target["labels"]) == len(target["masks"]) == len(target["boxes"])
    assert moved >= 4  # the augmentation did move them
    again = dataset[(3, 0)][1]["masks"]
    assert torch.equal(again, dataset[(3, 0)][1]["masks"])  # an epoch replays exactly


def test_images_without_instances_and_16_bit_gray(tmp_path):
    pixels = (np.arange(64 * 80).reshape(64, 80) * 9).astype(np.uint16)
    dataset = InstanceDataset([_sample(tmp_path, pixels, [], [])], size=64)
    image, target = dataset[0]
    assert image.shape == (3, 51, 64)  # scaled so the long side is 64
    assert target["boxes"].shape == (0, 4) and target["masks"].shape[0] == 0
    assert prepare_image(pixels).dtype == np.uint8


def test_augment_config_parsing():
    assert AugmentConfig.parse("none") == AugmentConfig.none()
    custom = AugmentConfig.parse("rotate=30,scale=0.9:1.1")
    assert custom.rotate == 30 and custom.scale == (0.9, 1.1) and not custom.flip
    import pytest
    with pytest.raises(ValueError, match="--augment"):
        AugmentConfig.parse("spin")
