import cv2
import numpy as np
import pytest
import shapely

from isegui.cli import main
from isegui.core.demo_defects import (DEFECT_FRAMES, FRAME_SIZE, create_defects_project,
                                      generate_frame, render_frame)
from isegui.core.entities import ImageStatus
from isegui.core.geometry import rasterize
from isegui.core.images import load_image
from isegui.core.project import Project
from isegui.core.validate import validate_project
from isegui.core.working_scale import object_width

W, H = 640, 512
SEEDS = range(6)


@pytest.fixture(scope="module")
def frames():
    return [render_frame(seed, W, H) for seed in SEEDS]


def _labels(frame) -> np.ndarray:
    out = np.zeros(frame.image.shape[:2], bool)
    for o in frame.objects:
        out |= rasterize(o.shape, *out.shape)
    return out


def _inscribed_width(shape) -> float:
    return 2 * shapely.maximum_inscribed_circle(shape, 0.05).length


def test_frames_are_reproducible_by_seed():
    a, b, other = render_frame(5, W, H), render_frame(5, W, H), render_frame(6, W, H)
    assert a.image.shape == (H, W, 3) and a.image.dtype == np.uint8
    assert (a.image == b.image).all() and (a.distractors == b.distractors).all()
    assert [(o.class_name, o.shape.wkb) for o in a.objects] == \
        [(o.class_name, o.shape.wkb) for o in b.objects]
    assert not (a.image == other.image).all()
    image, objects = generate_frame(5, W, H)
    assert (image == a.image).all() and len(objects) == len(a.objects)


def test_labels_are_valid_inside_the_frame_and_apart(frames):
    kinds = set()
    for frame in frames:
        assert 1 <= len(frame.objects) <= 8
        for k, o in enumerate(frame.objects):
            kinds.add(o.class_name)
            assert o.shape.is_valid and o.shape.geom_type == "Polygon" and o.shape.area > 0
            x0, y0, x1, y1 = o.shape.bounds
            assert 0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H
            assert rasterize(o.shape, H, W).sum() > 0
            for other in frame.objects[k + 1:]:
                assert o.shape.distance(other.shape) > 5
    assert kinds == {"scratch", "pit", "stain"}


def test_defects_have_their_sizes_in_camera_pixels(frames):
    straight = curved = long_ones = 0
    for o in (o for f in frames for o in f.objects):
        width = object_width(o.shape)
        if o.class_name == "pit":
            assert 6 <= width <= 16
        elif o.class_name == "stain":
            assert 25 <= width <= 110
        else:
            assert 1.9 <= _inscribed_width(o.shape) <= 4.1
            rect = shapely.minimum_rotated_rectangle(o.shape)
            length = max(object_width(rect), rect.length / 2 - width)
            assert 40 <= length <= 420
            long_ones += length >= 300
            if o.shape.area > 0.8 * rect.area:  # a straight one fills its rectangle
                straight += 1
                assert 2 <= width <= 5
            else:
                curved += 1
    assert straight and curved and long_ones  # long ones cross 512-px tile borders


def test_defects_stand_out_from_the_metal_around_them(frames):
    for frame in frames:
        image = frame.image.astype(np.float32)
        labels = _labels(frame)
        for o in frame.objects:
            mask = rasterize(o.shape, H, W)
            near = cv2.dilate(mask.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
            close = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            ring = near & ~close & ~labels & ~frame.distractors
            contrast = np.linalg.norm(image[mask].mean(0) - image[ring].mean(0))
            assert contrast > (5 if o.class_name == "stain" else 8), (o.class_name, contrast)


def test_dust_and_fibres_are_bright_and_never_labeled(frames):
    for frame in frames:
        assert frame.distractors.any()
        gap = cv2.dilate(_labels(frame).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert not (frame.distractors & gap).any()
        gray = frame.image.astype(np.float32).mean(2)
        assert gray[frame.distractors].mean() > gray[~frame.distractors].mean() + 15


def test_a_full_frame_has_the_same_small_defects():
    image, objects = generate_frame(1)
    assert image.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)
    assert 3 <= len(objects) <= 8
    for o in objects:
        width = object_width(o.shape)
        if o.class_name == "scratch":
            assert _inscribed_width(o.shape) <= 4.1
        else:
            assert width <= (16 if o.class_name == "pit" else 110)


def test_defects_project_is_labeled_split_and_lossless(tmp_path):
    with create_defects_project(tmp_path / "d", n_images=3, width=W, height=H) as project:
        images = project.store.images()
        assert [c.name for c in project.store.classes()] == ["scratch", "pit", "stain"]
        assert len(images) == 3 and all(r.status == ImageStatus.LABELED for r in images)
        assert {r.split.value for r in images} == {"train", "val"}
        assert all(r.path.endswith(".png") for r in images)
        first = min(images, key=lambda r: r.path)
        assert (load_image(project.image_path(first.path)) == generate_frame(0, W, H)[0]).all()
        report = validate_project(project)
        assert report.count("error") == 0 and sum(report.class_counts.values()) >= 9
    assert DEFECT_FRAMES >= 30


def test_cli_makes_either_kind_of_demo(tmp_path, capsys):
    folder = tmp_path / "defects"
    assert main(["demo", "--kind", "defects", str(folder), "--images", "2",
                 "--size", "640x512"]) == 0
    out = capsys.readouterr().out
    assert "2 images" in out and "scratch, pit, stain" in out
    with Project.open(folder, read_only=True) as project:
        assert {(r.width, r.height) for r in project.store.images()} == {(640, 512)}

    parts = tmp_path / "parts"  # the default kind, its defaults unchanged
    assert main(["demo", str(parts)]) == 0
    out = capsys.readouterr().out
    assert "60 images" in out and "pill, washer, chip" in out
    assert main(["stats", str(parts), "--json"]) == 0
