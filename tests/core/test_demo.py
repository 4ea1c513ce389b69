import numpy as np
import shapely

from isegui.core.demo import create_demo_project, generate_scene
from isegui.core.geometry import has_holes, rasterize
from isegui.core.validate import validate_project


def test_scenes_are_reproducible_and_labels_never_overlap():
    image, objects = generate_scene(7)
    again, same = generate_scene(7)
    assert (image == again).all() and len(objects) == len(same)
    assert image.shape == (384, 512, 3) and image.dtype == np.uint8
    shapes = [o.shape for o in objects]
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            assert a.intersection(b).area < 1e-6  # visible parts: touching at most


def test_scenes_have_what_the_demo_promises():
    kinds, holes, touching = set(), 0, 0
    for seed in range(6):
        _, objects = generate_scene(seed)
        kinds |= {o.class_name for o in objects}
        holes += sum(has_holes(o.shape) for o in objects if o.class_name == "washer")
        tree = shapely.STRtree([o.shape for o in objects])
        a, b = tree.query([o.shape for o in objects], predicate="touches")
        touching += int((a < b).sum())
    assert kinds == {"pill", "washer", "chip"}
    assert holes >= 6 and touching >= 3


def test_labels_sit_on_the_painted_objects():
    image, objects = generate_scene(3)
    gray = image.astype(float).mean(axis=2)
    background = np.ones(gray.shape, bool)
    for o in objects:
        background &= ~rasterize(o.shape, *gray.shape)
    # objects differ from the belt: labeled pixels are not background-coloured on average
    inside = np.concatenate([gray[rasterize(o.shape, *gray.shape)] for o in objects])
    assert abs(inside.mean() - gray[background].mean()) > 5


def test_demo_project_is_labeled_split_and_clean(tmp_path):
    with create_demo_project(tmp_path / "demo", n_images=6) as project:
        images = project.store.images()
        assert len(images) == 6 and all(project.image_path(r.path).is_file() for r in images)
        assert {r.split.value for r in images} == {"train", "val"}
        report = validate_project(project)
        assert report.count("error") == 0
        assert sum(report.class_counts.values()) > 30
