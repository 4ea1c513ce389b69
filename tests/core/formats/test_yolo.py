import numpy as np
import pytest
import yaml
from shapely.geometry import MultiPolygon, box

from isegui.core.entities import Split
from isegui.core.errors import FormatError, InputFileError
from isegui.core.formats.exporter import export_dataset
from isegui.core.formats.yolo import joined_ring
from isegui.core.geometry import rasterize
from isegui.core.images import save_image
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project
from tests.core.helpers import add_labeled_image, ring_shape


def test_holes_and_parts_survive_a_round_trip(project, tmp_path):
    shapes = [("washer", ring_shape(60, 50, 20, 8), False),
              ("chip", MultiPolygon([box(5, 60, 20, 80), box(25, 60, 40, 80)]), False),
              ("pill", box(80, 10, 110, 25).difference(box(85, 14, 90, 18))
               .difference(box(95, 14, 100, 18)), False)]
    record = add_labeled_image(project, shapes=shapes)
    project.store.set_split([record.id], Split.VAL)
    report = export_dataset(project, "yolo", tmp_path / "out")
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert doc["names"] == {0: "pill", 1: "washer", 2: "chip"} and doc["val"] == "images/val"
    assert (tmp_path / "out" / "images" / "val" / "a.png").is_file()
    lines = (tmp_path / "out" / "labels" / "val" / "a.txt").read_text().splitlines()
    assert len(lines) == 3 and all(0 <= float(v) <= 1 for v in lines[0].split()[1:])
    assert not any("no single cut ring" in loss for loss in report.losses)
    with Project.create(tmp_path / "again") as again:
        result = import_dataset(again, ImportOptions("yolo", tmp_path / "out"))
        assert not result.warnings  # our own cuts are not reported as repairs
        (rec2,) = again.store.images()
        assert rec2.split == Split.VAL
        back = again.store.instances(rec2.id)
        for a, b in zip(project.store.instances(record.id), back):
            assert (rasterize(a.shape, 100, 120) == rasterize(b.shape, 100, 120)).all()


def test_joined_ring_passes_through_every_part():
    washer = ring_shape(0, 0, 10, 4)
    ring = joined_ring(washer)
    n_outer, n_hole = len(washer.exterior.coords) - 1, len(washer.interiors[0].coords) - 1
    # each vertex once, the hole's first vertex twice and the cut's start twice
    assert len(ring) == n_outer + n_hole + 2


def _yolo_folder(tmp_path, line):
    save_image(tmp_path / "images" / "train" / "a.png", np.zeros((20, 40, 3), np.uint8))
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text(line + "\n")
    (tmp_path / "data.yaml").write_text("names: [part, hole]\n")


def test_detection_boxes_become_rectangles(tmp_path):
    _yolo_folder(tmp_path, "1 0.5 0.5 0.5 0.5")
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("yolo", tmp_path))
        (inst,) = p.store.instances(1)
        assert inst.shape.equals(box(10, 5, 30, 15))
        assert [c.name for c in p.store.classes()] == ["part", "hole"]
    assert any("a box, not a segment" in w for w in report.warnings)


def test_crossing_edges_are_reported(tmp_path):
    _yolo_folder(tmp_path, "0 0 0 0.5 0.5 0.5 0 0 0.5")
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("yolo", tmp_path))
    assert any("a.txt: line 1: the outline crosses itself near (" in w
               for w in report.warnings)


@pytest.mark.parametrize("line, problem", [("7 0.1 0.1 0.2 0.1 0.2 0.2", "class index 7"),
                                           ("x 0.1 0.1", "expected a class index")])
def test_bad_lines_name_the_file_and_line(tmp_path, line, problem):
    _yolo_folder(tmp_path, line)
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError, match=f"a.txt: line 1: {problem}"):
            import_dataset(p, ImportOptions("yolo", tmp_path))


def _alias_bomb() -> str:
    """353 bytes that str() spells out as 34 MB: each level names the one below nine times."""
    lines = ["l0: &l0 [a,a,a,a,a,a,a,a,a]"]
    lines += [f"l{k}: &l{k} [{','.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 7)]
    return "\n".join(lines + ["names: [*l6]"]) + "\n"


@pytest.mark.parametrize("names, problem", [
    (None, "'names': class 0 is a list, not a name"),
    ("names: [part, [a, b]]", "'names': class 1 is a list, not a name"),
    ("names: {0: part, 1: null}", "'names': class 1 has no name"),
    ("names: {0: part, 3: other}",
     "'names' keys must be the class indices 0 to 1, each once (got 0, 3)"),
    ("names: [part, no]", "'names': class 1 is False as YAML reads it, not text; put the name "
                          "in quotes"),
    ("names: [part, '  ']", "'names': class 1 has an empty name"),
    (f"names: [{'x' * 201}]", "'names': class 0 has a name of 201 characters (at most 200)"),
    (f"names: [{', '.join(['c'] * 10_001)}]", "'names' holds 10,001 classes (at most 10,000)"),
])
def test_data_yaml_names_must_be_short_text(tmp_path, names, problem):
    _yolo_folder(tmp_path, "0 0.1 0.1 0.2 0.1 0.2 0.2")
    (tmp_path / "data.yaml").write_text(names or _alias_bomb())
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("yolo", tmp_path))
        assert not p.store.classes()
    assert str(err.value) == f"{tmp_path / 'data.yaml'}: {problem}"


@pytest.mark.parametrize("text, problem", [
    ("nc: 3\nnames: [part, hole]\n", "'nc' is 3 but 'names' holds 2 class name(s); make them "
                                     "agree"),
    ("nc: 1\nnames: {0: part, 1: hole}\n", "'nc' is 1 but 'names' holds 2 class name(s); "
                                           "make them agree"),
    ("nc: two\nnames: [part, hole]\n", "'nc' is 'two', not a number of classes"),
    ("nc: true\nnames: [part, hole]\n", "'nc' is 'True', not a number of classes"),
    ("nc: {a: 2}\nnames: [part, hole]\n", "'nc' is a dict, not a number of classes"),
    (None, "'nc' is a list, not a number of classes"),
])
def test_data_yaml_nc_must_agree_with_the_names(tmp_path, text, problem):
    """nc: 3 with two names was taken without a word (Ultralytics refuses it): a class
    missing from the list, or a count left from another dataset? An 'nc' of nested aliases
    (None: the alias bomb) is named, not spelled out: str() of it took 30 s and all memory."""
    _yolo_folder(tmp_path, "0 0.1 0.1 0.2 0.1 0.2 0.2")
    (tmp_path / "data.yaml").write_text(text or _alias_bomb().replace(
        "names: [*l6]", "names: [part, hole]\nnc: *l6"))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("yolo", tmp_path))
        assert not p.store.classes()
    assert str(err.value) == f"{tmp_path / 'data.yaml'}: {problem}"
    (tmp_path / "data.yaml").write_text("nc: 2\nnames: [part, hole]\n")
    with Project.create(tmp_path / "q") as q:
        import_dataset(q, ImportOptions("yolo", tmp_path))
        assert [c.name for c in q.store.classes()] == ["part", "hole"]


def test_data_yaml_names_may_be_numbers_or_a_mapping(tmp_path):
    _yolo_folder(tmp_path, "1 0.1 0.1 0.2 0.1 0.2 0.2")
    (tmp_path / "data.yaml").write_text("names: {1: 7, 0: ' part '}\n")
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("yolo", tmp_path))
        assert [c.name for c in p.store.classes()] == ["part", "7"]


@pytest.mark.parametrize("text, blank", [("scratch\n\ndent\n", 2), ("\nscratch\ndent\n", 1)])
def test_a_blank_line_in_classes_txt_is_refused_not_dropped(tmp_path, text, blank):
    """Line k names class k - 1: dropping the blank line (a class deleted by hand) read the
    labels of class 1 as dent's, and refused dent's own as out of range."""
    _yolo_folder(tmp_path, "1 0.1 0.1 0.2 0.1 0.2 0.2")
    (tmp_path / "data.yaml").unlink()
    (tmp_path / "classes.txt").write_text(text)
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("yolo", tmp_path))
        assert not p.store.classes()
    assert str(err.value).startswith(f"{tmp_path / 'classes.txt'}: line {blank} is blank")


def test_blank_lines_after_the_last_class_name_are_fine(tmp_path):
    _yolo_folder(tmp_path, "1 0.1 0.1 0.2 0.1 0.2 0.2")
    (tmp_path / "data.yaml").unlink()
    (tmp_path / "classes.txt").write_text("scratch\ndent\n\n  \n")
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("yolo", tmp_path))
        (inst,) = p.store.instances(1)
        names = {c.id: c.name for c in p.store.classes()}
        assert names[inst.class_id] == "dent"


def _image_and_label(image, label, line="0 0.1 0.1 0.5 0.1 0.5 0.5"):
    save_image(image, np.zeros((20, 40, 3), np.uint8))
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text(line + "\n")


@pytest.mark.parametrize("image_dir, label_dir", [("images/{}", "labels/{}"),
                                                  ("{}/images", "{}/labels")])
def test_labels_pair_by_the_last_images_folder_in_both_layouts(tmp_path, image_dir, label_dir):
    """Roboflow's train/images + train/labels lost every label: only a leading labels/ was
    turned into images/, so each label file was skipped and each image came in empty."""
    src = tmp_path / "src"
    for split in ("train", "valid"):
        _image_and_label(src / image_dir.format(split) / f"{split}.png",
                         src / label_dir.format(split) / f"{split}.txt")
    (src / "data.yaml").write_text("names: [part]\n")
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("yolo", src))
        assert report.instances_added == 2 and report.warnings == []
        assert sorted(r.split for r in p.store.images()) == [Split.TRAIN, Split.VAL]


def test_label_files_that_pair_with_no_image_are_refused(tmp_path):
    """Not every image taken as a background image (labeled, with no objects)."""
    src = tmp_path / "src"
    _image_and_label(src / "pics" / "a.png", src / "labels" / "train" / "a.txt")
    (src / "data.yaml").write_text("names: [part]\n")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(InputFileError, match="1 label file.s., but none is an image's"):
            import_dataset(p, ImportOptions("yolo", src))
        assert p.store.image_count() == 0


def test_an_image_without_a_label_file_is_still_a_background_image(tmp_path):
    _yolo_folder(tmp_path, "0 0.1 0.1 0.5 0.1 0.5 0.5")
    save_image(tmp_path / "images" / "train" / "empty.png", np.zeros((20, 40, 3), np.uint8))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("yolo", tmp_path))
        assert report.images_added == 2 and report.instances_added == 1
    assert any("without a label file, the first images/train/empty.png" in w
               for w in report.warnings)


def test_pose_labels_are_refused_not_read_as_outlines(tmp_path):
    """A box and keypoints with visibility flags, an even count: it read as a polygon."""
    _yolo_folder(tmp_path, "0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 2")
    (tmp_path / "data.yaml").write_text("names: [person]\nkpt_shape: [2, 3]\n")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("yolo", tmp_path))
        assert p.store.image_count() == 0
    assert str(err.value) == (f"{tmp_path / 'data.yaml'}: 'kpt_shape': a pose dataset; "
                              "keypoint labels are not instance outlines")
