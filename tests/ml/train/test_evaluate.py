import pytest
from shapely.geometry import box

from isegui.core.geometry import bounds_window, rasterize
from isegui.ml.train.data import Sample
from isegui.ml.train.evaluate import evaluate
from isegui.ml.infer.detection import Detection

CLASSES = ["pill", "chip"]


def det(shape, class_index, score, h=100, w=100):
    x0, y0, x1, y1 = bounds_window(shape, h, w)
    mask = rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0))
    return Detection(class_index, CLASSES[class_index - 1], score, shape.bounds, mask, (x0, y0))


def sample(k, shapes, labels):
    return Sample(k, f"img{k}.png", 100, 100, tuple(labels), tuple(shapes))


def test_perfect_predictions_score_one():
    gt = [box(10, 10, 30, 30), box(50, 50, 80, 70)]
    s = sample(1, gt, [1, 2])
    result = evaluate([s], [[det(gt[0], 1, 0.9), det(gt[1], 2, 0.8)]], CLASSES)
    assert result["mask_map"] == pytest.approx(1.0) and result["box_map"] == pytest.approx(1.0)
    assert result["mask_ap_per_class"] == {"pill": pytest.approx(1.0), "chip": pytest.approx(1.0)}
    assert (result["true_positives"], result["false_positives"], result["false_negatives"]) == \
        (2, 0, 0)


def test_hand_checked_errors_and_confusions():
    a, b, c = box(0, 0, 20, 20), box(40, 40, 60, 60), box(70, 0, 90, 20)
    s = sample(1, [a, b, c], [1, 1, 2])
    detections = [
        det(a, 1, 0.95),                  # right
        det(b, 2, 0.9),                   # right place, wrong class: a confusion
        det(box(70, 0, 90, 8), 2, 0.8),   # IoU 0.4 with c: a false positive, c is missed
        det(box(0, 80, 10, 90), 1, 0.3),  # below the 0.5 score: not counted
    ]
    result = evaluate([s], [detections], CLASSES)
    assert (result["true_positives"], result["false_positives"], result["false_negatives"]) == \
        (1, 2, 2)
    m = result["confusion"]["matrix"]  # rows: labeled pill, chip, none; columns: predicted
    assert m == [[1, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert result["per_image"][0]["false_negatives"] == 2
    # pill: 1 of 2 found at rank 1 (precision 1 up to recall 0.5): AP 0.5 at every IoU
    assert result["mask_ap_per_class"]["pill"] == pytest.approx(0.5, abs=0.01)
    assert result["mask_ap_per_class"]["chip"] == pytest.approx(0.0)


def test_no_detections_and_regions_to_ignore():
    s = Sample(1, "a.png", 100, 100, (1,), (box(0, 0, 20, 20),), (box(50, 50, 99, 99),))
    assert evaluate([s], [[]], CLASSES)["mask_map"] == 0.0
    # a detection inside a region to ignore is neither right nor wrong for mAP
    with_ignored = evaluate([s], [[det(box(0, 0, 20, 20), 1, 0.9),
                                   det(box(60, 60, 80, 80), 1, 0.95)]], CLASSES)
    assert with_ignored["mask_map"] == pytest.approx(1.0)


def test_the_found_ones_say_how_closely_they_fit_their_labels():
    """Matched IoU: a pill found at three quarters of its size still counts as found (IoU
    >= 0.5); the mean IoU of the matched ones says how far short the masks fall."""
    a, b = box(0, 0, 20, 20), box(40, 40, 60, 60)
    s = sample(1, [a, b, box(70, 70, 90, 90)], [1, 1, 2])
    result = evaluate([s], [[det(a, 1, 0.9), det(box(40, 40, 60, 55), 1, 0.8)]], CLASSES)
    assert result["true_positives"] == 2
    assert result["matched_iou"] == pytest.approx((1.0 + 0.75) / 2, abs=0.01)
    assert result["matched_iou_per_class"] == {"pill": pytest.approx(0.875, abs=0.01),
                                               "chip": None}
    assert evaluate([s], [[]], CLASSES)["matched_iou"] is None
