"""The attacker's sixth try at the importers and the exporter: YOLO names that are no list of
0..N-1, class indices int() reads too kindly, two COCO categories under one id, labelme's
group_id true and [x, y, z] points, masks lists that are not UTF-8 or too large a cell, a
row listed twice, coordinates beyond any picture, and records written on Windows exported."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from shapely.geometry import box

from isegui.core.errors import FormatError
from isegui.core.formats import get_format
from isegui.core.formats.exporter import _path_in_dataset
from isegui.core.formats.importer import _Lookup
from isegui.core.images import save_image


def _read(kind, source):
    """What the format's reader makes of `source`, its images looked up beside it."""
    return get_format(kind).read(source, _Lookup(source if source.is_dir() else source.parent))


def _yolo(tmp_path, names_yaml: str, label_line: str):
    root = tmp_path / "yolo"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    save_image(root / "images" / "train" / "a.png", np.zeros((20, 20, 3), np.uint8))
    (root / "labels" / "train" / "a.txt").write_text(label_line + "\n")
    (root / "data.yaml").write_text(names_yaml + "\n")
    return root


@pytest.mark.parametrize("names", ["names: {0: a, 5: b}", "names: {-1: a, 0: b}",
                                   "names: {0: a, '0': b}"])
def test_yolo_names_must_number_the_classes_from_zero(tmp_path, names):
    root = _yolo(tmp_path, names, "1 0.1 0.1 0.5 0.1 0.5 0.5")
    with pytest.raises(FormatError, match="keys must be the class indices 0 to 1, each once"):
        _read("yolo", root)


@pytest.mark.parametrize("index", ["1_0", "١", "+1"])
def test_yolo_class_indices_are_ascii_digits(tmp_path, index):
    root = _yolo(tmp_path, "names: [a, b]", f"{index} 0.1 0.1 0.5 0.1 0.5 0.5")
    with pytest.raises(FormatError, match="expected a class index"):
        _read("yolo", root)


def test_yolo_coordinates_far_outside_are_skipped_without_numpy_noise(tmp_path):
    root = _yolo(tmp_path, "names: [a]", "0 1e308 0.1 0.5 0.1 0.5 0.5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning on the way
        data = _read("yolo", root)
    assert any("far outside the image" in w for w in data.warnings)
    assert all(not image.instances for image in data.images)


def _coco(tmp_path, categories, segmentation=None):
    src = tmp_path / "coco"
    src.mkdir()
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 40}],
           "categories": categories,
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                            "segmentation": segmentation or [[2, 2, 9, 2, 9, 9]],
                            "bbox": [2, 2, 7, 7], "area": 24.5}]}
    (src / "a.json").write_text(json.dumps(doc))
    return src / "a.json"


def test_two_coco_categories_under_one_id_are_refused(tmp_path):
    path = _coco(tmp_path, [{"id": 1, "name": "scratch"}, {"id": 1, "name": "dent"}])
    with pytest.raises(FormatError, match="repeats id 1"):
        _read("coco", path)


def test_coco_coordinates_beyond_any_picture_are_skipped_without_numpy_noise(tmp_path):
    """1e300 printed 8-10 lines of numpy and shapely RuntimeWarnings before isegui's word.
    Clipping such a polygon to the image made an instance nobody drew (and still printed
    shapely's overflow warning from the clip): it is skipped before shapely sees it, named."""
    from isegui.core.formats.importer import ImportOptions, import_dataset
    from isegui.core.project import Project
    path = _coco(tmp_path, [{"id": 1, "name": "part"}], [[1e300, 10, 20, 10, 20, 20]])
    save_image(path.parent / "a.png", np.zeros((40, 40, 3), np.uint8))
    with warnings.catch_warnings(), Project.create(tmp_path / "p") as project:
        warnings.simplefilter("error")  # any RuntimeWarning on the way fails the test
        report = import_dataset(project, ImportOptions("coco", path))
        assert project.store.instances(project.store.images()[0].id) == []
    assert f"{path}: annotations[0] polygon 0: a coordinate beyond 1e+07 px, far outside any " \
           "image; skipped" in report.warnings


def _labelme(tmp_path, shapes):
    folder = tmp_path / "lm"
    folder.mkdir()
    save_image(folder / "a.png", np.zeros((40, 40, 3), np.uint8))
    (folder / "a.json").write_text(json.dumps({
        "imagePath": "a.png", "imageHeight": 40, "imageWidth": 40, "shapes": shapes}))
    return folder


def test_labelme_group_true_is_no_group_one(tmp_path):
    square = [[2, 2], [12, 2], [12, 12], [2, 12]]
    other = [[20, 20], [30, 20], [30, 30], [20, 30]]
    folder = _labelme(tmp_path, [
        {"label": "part", "points": square, "group_id": 1, "shape_type": "polygon"},
        {"label": "part", "points": other, "group_id": True, "shape_type": "polygon"}])
    (image,) = _read("labelme", folder).images
    assert len(image.instances) == 2  # not merged into one instance


def test_labelme_points_of_three_numbers_are_refused(tmp_path):
    folder = _labelme(tmp_path, [{"label": "part", "shape_type": "polygon",
                                  "points": [[1, 2, 3], [10, 2, 3], [10, 10, 3], [1, 10, 3]]}])
    with pytest.raises(FormatError, match="'points' must be a list of \\[x, y\\]"):
        _read("labelme", folder)


def _masks(tmp_path):
    from isegui.core.project import Project
    from isegui.core.formats.exporter import export_dataset
    from isegui.core.entities import ImageStatus
    folder = tmp_path / "p"
    with Project.create(folder) as project:
        cls = project.store.add_class("part").id
        save_image(folder / "images" / "a.png", np.zeros((30, 30, 3), np.uint8))
        record = project.store.add_image("images/a.png", 30, 30, status=ImageStatus.LABELED)
        project.store.add_instance(record.id, cls, box(2, 2, 12, 12))
        export_dataset(project, "masks", tmp_path / "out")
    return tmp_path / "out"


def test_masks_lists_that_are_not_utf8_are_named(tmp_path):
    out = _masks(tmp_path)
    (out / "class_names.txt").write_bytes("_background_\nkäse\n".encode("latin-1"))
    with pytest.raises(FormatError, match="class_names.txt: not UTF-8 text"):
        _read("masks", out)


def test_masks_table_with_a_huge_cell_or_a_row_twice_is_named(tmp_path):
    out = _masks(tmp_path)
    table = out / "instances.csv"
    lines = table.read_text().splitlines()
    table.write_text("\n".join([*lines, lines[-1]]) + "\n")
    with pytest.raises(FormatError, match="instances.csv: line 3: instance 1 .* listed twice"):
        _read("masks", out)
    import csv
    table.write_text(lines[0] + "\n" + "a.png,1,\"" + "x" * 2000 + "\",\n")
    limit = csv.field_size_limit(1000)  # a cell larger than the csv module takes
    try:
        with pytest.raises(FormatError, match="instances.csv: not a CSV isegui can read"):
            _read("masks", out)
    finally:
        csv.field_size_limit(limit)


class _Record:
    def __init__(self, path, image_id=1):
        self.path, self.id = path, image_id


@pytest.mark.parametrize("record, kept", [
    ("C:\\data\\line3\\scene_000.jpg", "data/line3/scene_000.jpg"),
    ("..\\..\\evil\\scene_001.jpg", "evil/scene_001.jpg"),
    ("\\\\server\\share\\a.jpg", "a.jpg"),
    ("images/sub/b.png", "sub/b.png"),
    ("C:scene.jpg", "scene.jpg"),
    ("C:", "image-1.png")])
def test_records_written_on_windows_stay_inside_the_export(record, kept):
    path = _path_in_dataset(_Record(record))
    assert str(path) == kept and "\\" not in str(path) and ".." not in path.parts


def test_two_masks_for_one_image_are_named(tmp_path):
    """x.png and x.tif for one image said "this image is already in the project"."""
    import shutil
    out = _masks(tmp_path)
    (mask,) = (out / "SegmentationObject").glob("a.*")
    shutil.copy(mask, mask.with_suffix(".tif"))
    with pytest.raises(FormatError, match="a second mask for the image a"):
        _read("masks", out)
