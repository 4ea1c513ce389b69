"""Images worth labeling next: the model's borderline detections and its disagreement with
itself on the mirror image, and `isegui suggest` listing the unlabeled images by them."""

import json

import numpy as np

from isegui.cli import main
from isegui.core.working_scale import WHOLE, WorkingScale
from isegui.ml.infer.detection import Detection
from isegui.ml.infer.suggest import uncertainty

W, H = 64, 48


def _det(x0, y0, w, h, score, cls=1):
    return Detection(cls, "pill", score, (x0, y0, x0 + w, y0 + h), np.ones((h, w), bool),
                     (x0, y0))


class Scripted:
    """A predictor whose answers for the image and its mirror are given."""
    classes, working, threshold = ["pill"], WorkingScale(WHOLE, 64), 0.3

    def __init__(self, image_dets, mirror_dets):
        self.answers = [image_dets, mirror_dets]

    def predict(self, images, batch_size=4):
        assert len(images) == 2 and np.array_equal(images[1], images[0][:, ::-1])
        return self.answers

    def set_input_size(self, side):
        pass


def test_a_model_that_finds_the_same_sure_object_both_ways_is_sure():
    image = np.zeros((H, W, 3), np.uint8)
    # x 10..30 on the image is x 34..54 on the mirror
    sure = uncertainty(Scripted([_det(10, 5, 20, 10, 0.95)], [_det(34, 5, 20, 10, 0.9)]), image)
    assert sure.value == 0.0 and sure.objects == 1 and sure.disagreement == 0.0


def test_borderline_scores_and_mirror_disagreement_raise_the_value():
    image = np.zeros((H, W, 3), np.uint8)
    shifted = uncertainty(Scripted([_det(10, 5, 20, 10, 0.95)], [_det(24, 5, 20, 10, 0.9)]),
                          image)  # the mirror's mask lands 10 px off: IoU 1/3
    assert abs(shifted.disagreement - (1 - 1 / 3)) < 1e-6 and shifted.borderline == 0
    borderline = uncertainty(Scripted([_det(10, 5, 20, 10, 0.5)], [_det(34, 5, 20, 10, 0.5)]),
                             image)
    assert borderline.value == 1.0 and borderline.borderline == 1
    other_class = uncertainty(Scripted([_det(10, 5, 20, 10, 0.9)],
                                       [_det(34, 5, 20, 10, 0.9, cls=2)]), image)
    assert other_class.disagreement == 1.0  # the same mask called something else
    blind = uncertainty(Scripted([], []), image)
    assert blind.value == 2.0  # nothing found: the model knows nothing of it
    ranked = sorted([("sure", 0.0), ("shifted", shifted.value), ("blind", blind.value)],
                    key=lambda item: -item[1])
    assert [name for name, _ in ranked] == ["blind", "shifted", "sure"]


def test_suggest_lists_only_unlabeled_images_least_sure_first(tiny_project, capsys):
    from isegui.core.entities import ImageStatus
    from isegui.core.project import Project
    assert main(["train", str(tiny_project), "--size", "128", "--epochs", "1", "--batch", "2",
                 "--max-steps", "2", "--device", "cpu", "--workers", "0"]) == 0
    with Project.open(tiny_project) as project:
        records = project.store.images()
        for record in records[:3]:
            project.store.set_status(record.id, ImageStatus.UNLABELED)
        unlabeled = {r.path for r in records[:3]}
    capsys.readouterr()
    assert main(["suggest", str(tiny_project), "--n", "2", "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unlabeled"] == 3 and len(out["images"]) == 2
    assert {i["path"] for i in out["images"]} <= unlabeled
    values = [i["value"] for i in out["images"]]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 2 for v in values)
