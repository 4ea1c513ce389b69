"""bench/surfaces.py and bench/defect_suite.py: every surface's labels are exactly its painted
defects, touching and crossing defects really occur, unlabeled marks stay off the labels, a seed
gives one frame; the suite's scoring gives perfect predictions a perfect score; and one tiny
end-to-end run (a few seconds of training) gives the report's keys."""

import json
from argparse import Namespace

import cv2
import numpy as np
import pytest
from shapely.geometry import box

from bench.surfaces_paint import DISTRACTOR_GAP
from isegui.core.geometry import bounds_window, rasterize, repair
from tests.bench.conftest import bench_script

WIDTH, HEIGHT = 400, 300
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def surfaces():
    with bench_script("surfaces") as module:
        yield module


@pytest.fixture(scope="module")
def suite():
    with bench_script("defect_suite") as module:
        yield module


@pytest.fixture(scope="module")
def frames(surfaces):
    """Per surface: (frame, the same frame without its defects) per seed."""
    return {name: [(surfaces.render(surfaces.surface(name), seed, WIDTH, HEIGHT),
                    surfaces.render(surfaces.surface(name), seed, WIDTH, HEIGHT,
                                    paint_defects=False)) for seed in SEEDS]
            for name in surfaces.SURFACES}


def label_mask(objects, grow=0):
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for o in objects:
        mask |= rasterize(o.shape, HEIGHT, WIDTH)
    if grow:
        kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
        mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    return mask


def test_five_surfaces_of_two_to_four_classes_one_of_them_unseen(surfaces):
    assert len(surfaces.SURFACES) >= 5
    assert surfaces.UNSEEN in surfaces.SURFACES
    for name in surfaces.SURFACES:
        classes = surfaces.surface(name).classes
        assert 2 <= len(classes) <= 4 and len({c for c, _ in classes}) == len(classes)


def test_every_label_is_a_valid_shape_with_pixels(surfaces, frames):
    for name, pairs in frames.items():
        names = {c for c, _ in surfaces.surface(name).classes}
        counts = [len(frame.objects) for frame, _ in pairs]
        assert all(1 <= n <= 10 for n in counts) and np.mean(counts) >= 3, name
        for frame, _ in pairs:
            for o in frame.objects:
                assert o.class_name in names
                assert repair(o.shape).note is None
                assert box(0, 0, WIDTH, HEIGHT).contains(o.shape)
                assert rasterize(o.shape, HEIGHT, WIDTH).any()


def test_labels_are_exactly_the_painted_pixels(frames):
    """Painting the defects changes the frame inside its labels (each one visibly) and nowhere
    else but the lens's blur around them."""
    for name, pairs in frames.items():
        for frame, plain in pairs:
            change = np.abs(frame.image.astype(int) - plain.image.astype(int)).max(axis=2)
            assert not change[~label_mask(frame.objects, grow=2)].any(), name
            for o in frame.objects:
                inside = rasterize(o.shape, HEIGHT, WIDTH)
                assert change[inside].mean() >= 5, (name, o.class_name)


def test_defects_touch_and_cross(surfaces, frames):
    for name, pairs in frames.items():
        close = [a.shape.distance(b.shape) <= 1 for frame, _ in pairs
                 for k, a in enumerate(frame.objects) for b in frame.objects[k + 1:]]
        assert any(close), name


def test_each_kind_of_touching_group_occurs(surfaces):
    """Over some seeds' layouts: lines crossing, a line through a spot, touching spots, a patch
    round a spot."""
    for name in surfaces.SURFACES:
        kind = surfaces.surface(name)
        seen = set()
        for seed in range(12):
            placed = surfaces.layout(np.random.default_rng(seed), kind, 0.0, 1024, 768)
            for k, (a, sa) in enumerate(placed):
                for b, sb in placed[k + 1:]:
                    if sa.distance(sb) <= 1:
                        seen.add(tuple(sorted((a.role, b.role))))
        assert {("line", "line"), ("line", "spot"), ("spot", "spot"),
                ("patch", "spot")} <= seen, (name, seen)


def test_marks_lie_outside_the_labels(surfaces, frames):
    for name, pairs in frames.items():
        assert any(frame.distractors.any() for frame, _ in pairs), name
        for frame, _ in pairs:
            near = label_mask(frame.objects, grow=DISTRACTOR_GAP - 2)  # less antialiasing
            assert not (frame.distractors & near).any(), name


def test_a_seed_gives_one_frame(surfaces):
    for name in surfaces.SURFACES:
        kind = surfaces.surface(name)
        one, again, other = (surfaces.render(kind, seed, 160, 120) for seed in (4, 4, 5))
        assert np.array_equal(one.image, again.image)
        assert len(one.objects) == len(again.objects)
        assert all(o.class_name == p.class_name and o.shape.equals(p.shape)
                   for o, p in zip(one.objects, again.objects))
        assert not np.array_equal(one.image, other.image)


def perfect(sample, classes):
    """The predictions a perfect model makes: each label's own raster."""
    from isegui.ml.infer.detection import Detection
    found = []
    for label, shape in zip(sample.labels, sample.shapes):
        x0, y0, x1, y1 = bounds_window(shape, sample.height, sample.width)
        mask = rasterize(shape, y1 - y0, x1 - x0, origin=(x0, y0))
        ys, xs = np.nonzero(mask)
        tight = (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)
        found.append(Detection(label, classes[label - 1], 1.0, tight, mask, (x0, y0)))
    return found


def test_perfect_predictions_score_one_and_marks_are_counted(suite, tmp_path):
    from isegui.core.working_scale import TILES, WorkingScale
    from isegui.ml.infer.detection import Detection
    from isegui.ml.train.data import read_samples
    args = Namespace(size=f"{WIDTH}x{HEIGHT}", train=1, unseen=2)
    _, unseen, marks = suite.make_projects(suite.surface("cast"), tmp_path, args)
    classes, by_split, _ = read_samples(unseen)
    samples = sorted((s for split in by_split.values() for s in split), key=lambda s: s.path)
    found = [perfect(s, classes) for s in samples]
    # and one prediction on an unlabeled mark of the first frame, far from every label
    index = int(samples[0].path.stem.split("_")[-1])
    ys, xs = np.nonzero(marks[index] & ~suite.near_labels(samples[0], HEIGHT, WIDTH))
    window = np.ones((1, 1), bool)
    found[0].append(Detection(1, classes[0], 0.9, (xs[0], ys[0], xs[0] + 1, ys[0] + 1), window,
                              (int(xs[0]), int(ys[0]))))
    working = WorkingScale(TILES, 128, 1.0)
    score = suite.score_frames(samples, found, classes, marks, working)
    labels = sum(len(s.shapes) for s in samples)
    assert score["matched"] == score["labels"] == labels
    assert score["mean_matched_iou"] == 1.0
    assert score["predictions_off_labels"] == score["predictions_on_marks"] == 1
    assert score["mask_map"] == score["mask_map50"] == score["box_map"] == 1.0
    seam = score["seam"]
    assert seam["tiled"] and sum(seam["x"]) == sum(seam["y"]) == labels + 1
    for found_in_frame in found:  # the right masks of another class match nothing
        for d in found_in_frame:
            d.class_index = d.class_index % len(classes) + 1
    assert suite.score_frames(samples, found, classes, marks, working)["matched"] == 0


def test_the_suite_runs_end_to_end(suite, tmp_path, capsys):
    out = tmp_path / "suite.json"
    result = suite.main(["--quick", "--surfaces", "pcb", "--size", "256x192", "--train", "4",
                         "--unseen", "1", "--minutes", "0.05", "--workdir",
                         str(tmp_path / "work"), "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out) == result
    assert {"benchmark", "settings", "unseen_kind", "surfaces", "tuned_mean",
            "unseen_surface"} <= result.keys()
    pcb = result["surfaces"]["pcb"]
    assert not pcb["unseen_kind"] and "error" not in pcb, pcb.get("error")
    assert {"working_scale", "steps", "crops_per_second"} <= pcb["run"].keys()
    unseen = pcb["unseen"]
    assert {"mask_map", "mask_map50", "box_map", "matched", "labels", "mean_matched_iou",
            "per_class", "seam", "predictions_on_marks"} <= unseen.keys()
    assert set(unseen["per_class"]) == {"scratch", "void", "short"}
    assert result["tuned_mean"]["surfaces"] == 1 and result["unseen_surface"] is None
