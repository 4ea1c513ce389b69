from shapely.geometry import MultiPolygon, Polygon, box

from isegui.core.entities import ImageRecord, ImageStatus, Instance, LabelClass
from isegui.core.validate import Rules, class_balance, validate_image, validate_project
from tests.core.helpers import add_labeled_image

CLASSES = [LabelClass(1, "pill", "#fff"), LabelClass(2, "chip", "#000")]
IMAGE = ImageRecord(1, "a.png", 100, 80, status=ImageStatus.LABELED)


def codes(instances, record=IMAGE):
    return sorted((f.code, f.instance_ids) for f in validate_image(record, instances, CLASSES))


def inst(i, class_id, shape, **kw):
    return Instance(1, i, class_id, shape, z=kw.pop("z", i), **kw)


def test_clean_touching_instances_pass():
    assert codes([inst(1, 1, box(0, 0, 10, 10)), inst(2, 1, box(10, 0, 20, 10))]) == []


def test_each_rule():
    found = codes([
        inst(1, None, box(0, 0, 10, 10)),  # no class
        inst(2, 1, box(30, 30, 50, 50)),
        inst(3, 1, box(31, 31, 50, 50)),  # a duplicate of 2
        inst(4, 2, box(45, 45, 60, 60)),  # overlaps 2 and 3, another class
        inst(5, 2, box(70, 0, 72, 3)),  # tiny
        inst(6, 2, box(90, 70, 120, 90)),  # leaves the image
        inst(7, 1, Polygon([(0, 20), (10, 30), (10, 20), (0, 30)])),  # bowtie, stored raw
        inst(8, 2, box(60, 10, 65, 15), track_id=3),
        inst(9, 2, box(66, 10, 70, 15), track_id=3),
        inst(10, 1, MultiPolygon([box(0, 60, 5, 65), box(60, 60, 65, 65)])),
        inst(11, None, box(80, 0, 90, 10), crowd=True),  # a region to ignore needs no class
    ])
    assert found == sorted([
        ("missing-class", (1,)), ("duplicate-instance", (2, 3)), ("overlap", (2, 4)),
        ("overlap", (3, 4)), ("tiny", (5,)), ("out-of-bounds", (6,)), ("invalid-shape", (7,)),
        ("duplicate-track-id", (8, 9)), ("parts-far-apart", (10,)),
    ])


def test_unlabeled_and_empty_images():
    fresh = ImageRecord(2, "b.png", 10, 10, status=ImageStatus.UNLABELED)
    assert codes([], fresh) == [("unlabeled-image", ())]
    assert codes([]) == [("empty-image", ())]


def test_class_balance():
    found = {f.code: f.message for f in class_balance({"pill": 200, "chip": 12, "cap": 0},
                                                      Rules())}
    assert "'chip' is rare: 12 instances against 200" in found["rare-class"]
    assert "cap" in found["unused-class"]


def test_project_report_and_missing_files(project):
    record = add_labeled_image(project)
    project.image_path(record.path).unlink()
    report = validate_project(project)
    data = report.as_dict()
    assert data["class_counts"] == {"pill": 2, "washer": 1, "chip": 1}
    missing = [f for f in data["findings"] if f["code"] == "unreadable-image"]
    assert [(f["severity"], f["image_path"]) for f in missing] == [("error", record.path)]
    assert "missing" in missing[0]["message"]
    assert data["summary"]["error"] == report.count("error") >= 1


def test_corrupt_images_and_labeled_empty_ones_are_reported(project):
    good = add_labeled_image(project, "good.jpg")
    broken = add_labeled_image(project, "broken.jpg", seed=1)
    path = project.image_path(broken.path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])  # a copy cut off part way
    garbage = add_labeled_image(project, "garbage.png", seed=2)
    project.image_path(garbage.path).write_bytes(b"not an image at all")
    empty = add_labeled_image(project, "empty.png", seed=3)
    project.store.delete_instances(empty.id, [i.id for i in project.store.instances(empty.id)])
    findings = validate_project(project).findings
    unreadable = {f.image_path: f for f in findings if f.code == "unreadable-image"}
    assert set(unreadable) == {broken.path, garbage.path}
    assert all(f.severity == "error" and f.image_id is not None for f in unreadable.values())
    assert "corrupt or truncated" in unreadable[broken.path].message
    assert "not an image file" in unreadable[garbage.path].message
    assert [f.image_path for f in findings if f.code == "empty-image"] == [empty.path]
    assert not any(f.image_path == good.path and f.severity == "error" for f in findings)
