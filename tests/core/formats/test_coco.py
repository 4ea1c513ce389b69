import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from shapely.geometry import box

from isegui.core import rle
from isegui.core.errors import FormatError, ImportFailed, UnsafePathError
from isegui.core.formats.exporter import export_dataset
from isegui.core.geometry import rasterize, vectorize
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project
from tests.core.helpers import add_labeled_image


def test_export_loads_in_pycocotools_and_annToMask_is_our_mask(project, tmp_path):
    record = add_labeled_image(project)
    report = export_dataset(project, "coco", tmp_path / "out")
    coco = COCO(str(tmp_path / "out" / "annotations" / "instances_train.json"))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[record.id]))
    instances = project.store.instances(record.id)
    labeled = [i for i in instances if i.class_id is not None]
    assert len(anns) == len(labeled)
    by_instance = {a["attributes"]["instance_id"]: a for a in anns}
    for inst in labeled:
        ann = by_instance[inst.id]
        assert (coco.annToMask(ann).astype(bool) ==
                rasterize(inst.shape, record.height, record.width)).all()
        assert ann["iscrowd"] == int(inst.crowd)
    washer = next(a for a in anns if coco.cats[a["category_id"]]["name"] == "washer")
    assert isinstance(washer["segmentation"], dict)  # holes go out as RLE
    chip = by_instance[3]
    assert isinstance(chip["segmentation"], list) and len(chip["segmentation"]) == 2
    assert (tmp_path / "out" / "images" / "train" / "a.png").is_file()
    assert report.losses == []


def test_round_trip_keeps_every_pixel_ids_and_crowd(project, tmp_path):
    record = add_labeled_image(project)
    export_dataset(project, "coco", tmp_path / "out")
    with Project.create(tmp_path / "again") as again:
        import_dataset(again, ImportOptions("coco", tmp_path / "out"))  # COCO's layout
        (rec2,) = again.store.images()
        old = {i.id: i for i in project.store.instances(record.id)}
        new = {i.id: i for i in again.store.instances(rec2.id)}
        assert old.keys() == new.keys()
        for k in old:
            assert new[k].crowd == old[k].crowd and new[k].z == old[k].z
            assert (rasterize(new[k].shape, 100, 120) == rasterize(old[k].shape, 100, 120)).all()


def _coco_file(tmp_path, segmentation, iscrowd=0, image_size=(30, 40), file_name="a.png"):
    from isegui.core.images import save_image
    save_image(tmp_path / "a.png", np.zeros((image_size[0], image_size[1], 3), np.uint8))
    doc = {"images": [{"id": 1, "file_name": file_name, "width": 40, "height": 30}],
           "categories": [{"id": 5, "name": "spot"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "iscrowd": iscrowd,
                            "segmentation": segmentation}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("compressed", [True, False])
def test_rle_in_coco_out_is_exact(tmp_path, compressed):
    rng = np.random.default_rng(3)
    mask = rng.random((30, 40)) < 0.3
    mask[10:20, 10:30] = True
    mask[13:16, 15:20] = False  # a hole
    if compressed:
        seg = rle.encode(mask)
    else:
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate(
            [[-1], mask.ravel(order="F").astype(int), [-1]])) != 0)).tolist()
        seg = {"size": [30, 40], "counts": ([0] if mask.ravel(order="F")[0] else []) + runs}
        assert sum(seg["counts"]) == 1200
    path = _coco_file(tmp_path, seg, iscrowd=1)
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("coco", path))
        export_dataset(p, "coco", tmp_path / "out")
    out = COCO(str(tmp_path / "out" / "annotations" / "instances_train.json"))
    (ann,) = out.dataset["annotations"]
    assert ann["iscrowd"] == 1
    assert (out.annToMask(ann).astype(bool) == mask).all()


def test_polygon_list_parts_join_like_pycocotools(tmp_path):
    seg = [[2, 2, 12, 2, 12, 12, 2, 12], [8, 8, 20, 8, 20, 20, 8, 20]]  # overlapping parts
    path = _coco_file(tmp_path, seg)
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("coco", path))
        (inst,) = p.store.instances(p.store.images()[0].id)
    ref = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(seg, 30, 40))).astype(bool)
    assert (rasterize(inst.shape, 30, 40) == ref).all()


@pytest.mark.parametrize("text, problem", [
    ('{"images": [', "malformed JSON at line 1"),
    ('[1, 2]', "not a COCO file"),
    ('{"images": [{"id": 1}]}', "needs an 'id' and a 'file_name'"),
])
def test_malformed_files_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError, match=f"bad.json: .*{problem}"):
            import_dataset(p, ImportOptions("coco", path))
        assert p.store.image_count() == 0


def test_bad_rle_is_refused(tmp_path):
    path = _coco_file(tmp_path, {"size": [30, 40], "counts": [5, 5]})
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError,
                           match=r"annotations\[0\] \(id 1\): RLE runs cover 10 pixels"):
            import_dataset(p, ImportOptions("coco", path))


@pytest.mark.parametrize("name", ["../outside.png", "/etc/passwd", "C:\\\\x.png", "a/../../b.png"])
def test_file_names_that_escape_are_refused(tmp_path, name):
    path = _coco_file(tmp_path, [[1, 1, 5, 1, 5, 5]], file_name=name)
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(UnsafePathError):
            import_dataset(p, ImportOptions("coco", path))


def test_size_mismatch_stops_the_import(tmp_path):
    path = _coco_file(tmp_path, [[1, 1, 5, 1, 5, 5]], image_size=(31, 40))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed, match="says 40x30 but the image is 40x31"):
            import_dataset(p, ImportOptions("coco", path))
        assert p.store.image_count() == 0 and p.store.classes() == []


def test_self_intersecting_polygon_is_repaired_and_reported(tmp_path):
    path = _coco_file(tmp_path, [[0, 0, 10, 10, 10, 0, 0, 10]])
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("coco", path))
        (inst,) = p.store.instances(1)
    assert inst.shape.is_valid
    assert any("ann.json: annotations[0] polygon 0: the outline crosses itself near (5, 5)" in w
               for w in report.warnings)


def test_bbox_only_annotation_becomes_a_rectangle(tmp_path):
    path = _coco_file(tmp_path, [])
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = [2, 3, 10, 5]
    path.write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("coco", path))
        (inst,) = p.store.instances(1)
    assert inst.shape.equals(box(2, 3, 12, 8))
    assert any("bbox is used" in w for w in report.warnings)


def test_vectorised_rle_shape_is_exact():
    mask = np.zeros((20, 20), bool)
    mask[2:9, 3:15] = True
    mask[4:6, 5:7] = False
    assert (rasterize(vectorize(mask), 20, 20) == rle.decode(rle.encode(mask))).all()


def _layout_file(folder, name, file_names):
    """annotations/`name` of COCO's layout under `folder`, one labeled image per file name."""
    doc = {"images": [{"id": k, "file_name": f, "width": 40, "height": 30}
                      for k, f in enumerate(file_names, start=1)],
           "categories": [{"id": 1, "name": "spot"}],
           "annotations": [{"id": k, "image_id": k, "category_id": 1,
                            "segmentation": [[2, 2, 20, 2, 20, 20]]}
                           for k in range(1, len(file_names) + 1)]}
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    (folder / "annotations" / name).write_text(json.dumps(doc))


@pytest.mark.parametrize("name", ["instances_...json", "instances_..json", "instances_.json"])
def test_a_split_that_is_no_plain_folder_name_is_refused_and_nothing_is_copied(tmp_path, name):
    """instances_...json gave the split "..": its images were copied into the project folder
    itself, and an empty file there (SQLite's live WAL) was taken for a copy cut short and
    removed."""
    from isegui.core.images import save_image
    ds = tmp_path / "ds"
    save_image(ds / "images" / "train" / "a.png", np.zeros((30, 40, 3), np.uint8))
    save_image(ds / "b.png", np.zeros((30, 40, 3), np.uint8))
    _layout_file(ds, "instances_train.json", ["a.png"])
    _layout_file(ds, name, ["b.png"])
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError, match=f"{name}: the split its name gives .* no plain "
                                              "folder name"):
            import_dataset(p, ImportOptions("coco", ds, copy=True))
        assert p.store.image_count() == 0
    assert not (tmp_path / "p" / "b.png").exists()


@pytest.mark.parametrize("journal", ["absent", "empty"])
def test_a_copy_never_lands_on_the_project_files_through_a_linked_images_folder(tmp_path,
                                                                               journal):
    """images/ a link to the project folder itself, and an image named like SQLite's
    journal: the journal is neither written (refused) nor removed (an empty file is no copy
    cut short): the image goes under another name."""
    import cv2
    from tests.core.helpers import symlink
    ds, folder = tmp_path / "ds", tmp_path / "p"
    ds.mkdir()
    (ds / "project.isegui-journal").write_bytes(
        cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))[1].tobytes())
    (ds / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "project.isegui-journal", "width": 40,
                    "height": 30}],
        "categories": [{"id": 1, "name": "spot"}], "annotations": []}))
    Project.create(folder).close()
    if journal == "empty":  # no hot journal to SQLite, and no copy of anything
        (folder / "project.isegui-journal").write_bytes(b"")
    with Project.open(folder) as p:
        symlink(folder / "images", folder)
        if journal == "absent":
            with pytest.raises(ImportFailed, match="the project's own file"):
                import_dataset(p, ImportOptions("coco", ds, copy=True))
        else:
            import_dataset(p, ImportOptions("coco", ds, copy=True))
            assert [r.path for r in p.store.images()] == ["images/project-2.isegui-journal"]
    assert (folder / "project.isegui-journal").exists() == (journal == "empty")
    if journal == "empty":
        assert (folder / "project.isegui-journal").read_bytes() == b""


def test_a_polygon_too_tangled_to_repair_is_skipped_before_the_repair_starts(tmp_path):
    """2,000 random points (27 KB) cross each other 460,000 times: repairing them took 21 s
    and 1 GB; 5,000 ran out of memory. The edges' meetings are counted first, up to a bound."""
    xy = np.random.default_rng(0).uniform(0, 30, (2000, 2)).round(1)
    path = _coco_file(tmp_path, [xy.ravel().tolist(), [1, 1, 5, 1, 5, 5]])
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("coco", path))
        (inst,) = p.store.instances(1)  # the annotation's other polygon
    assert inst.shape.area == 8
    assert any("ann.json: annotations[0] polygon 0: skipped, its edges cross or touch each "
               "other over 10,000 times" in w for w in report.warnings)


def test_an_rle_mask_that_would_trace_to_too_many_vertices_is_refused_before_tracing(
        tmp_path, monkeypatch):
    """A 1 MB RLE checkerboard was traced (25 s, 800 MB) before the vertex limit was checked."""
    monkeypatch.setattr(rle, "MAX_VERTICES", 100)
    mask = np.indices((30, 40)).sum(axis=0) % 2 == 1
    path = _coco_file(tmp_path, rle.encode(mask))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("coco", path))
    assert str(err.value) == (f"{path}: annotations[0] (id 1): its RLE mask traces to 2,400 "
                              "vertices (at most 100)")


@pytest.mark.parametrize("segmentation, bbox, where", [
    ([[1, 1, 1e300, 1, 1, 1e300]], None, "annotations[0] polygon 0"),
    ([], [1e300, 1e300, 1e300, 1e300], "annotations[0] bbox"),
    ([], [1, 1, 1e308, 1e308], "annotations[0] bbox"),
])
def test_coordinates_far_beyond_any_image_are_skipped_before_shapely(tmp_path, recwarn,
                                                                     segmentation, bbox, where):
    """They printed shapely's raw 'RuntimeWarning: overflow encountered in clip_by_rect'."""
    path = _coco_file(tmp_path, segmentation)
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = bbox
    path.write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("coco", path))
        assert p.store.instances(1) == []
    assert f"{path}: {where}: a coordinate beyond 1e+07 px, far outside any image; skipped" \
        in report.warnings
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("bbox", [[10, 10, -5, -5], [10, 10, 0, 5], [10, 10, 5, 0]])
def test_a_bbox_without_area_is_named_as_such(tmp_path, bbox):
    """It said 'it has neither a segmentation nor a bbox', though it has a bbox."""
    path = _coco_file(tmp_path, [])
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = bbox
    path.write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("coco", path))
        assert p.store.instances(1) == []
    assert f"{path}: annotations[0]: skipped, no segmentation and its bbox {bbox} has no area " \
           "(its width and height must be above 0)" in report.warnings
    assert not any("neither" in w for w in report.warnings)


def test_an_rle_is_not_decoded_at_a_size_larger_than_its_real_image(tmp_path, monkeypatch):
    """The RLE was decoded at the size 'images' declares (up to 250 MP) whatever the image
    really was; the untrue size was found only after."""
    from isegui.core.formats import coco

    def decoded(seg):
        raise AssertionError("a 4000x4000 RLE decoded for a 40x30 image")
    monkeypatch.setattr(coco.rle, "to_shape", decoded)
    path = _coco_file(tmp_path, {"size": [4000, 4000], "counts": [16_000_000]})
    doc = json.loads(path.read_text())
    doc["images"][0].update(width=4000, height=4000)
    path.write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("coco", path))
        assert p.store.image_count() == 0
    assert str(err.value) == (f"{path}: says 4000x4000 for a.png but the image is 40x30; its "
                              "RLE masks were not decoded")
