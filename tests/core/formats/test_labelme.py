import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from PIL import Image
from pycocotools.coco import COCO
from shapely.geometry import box

from isegui.core.errors import FormatError, ImportFailed, UnsafePathError
from isegui.core.formats.exporter import export_dataset
from isegui.core.geometry import rasterize
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project
from tests.core.helpers import add_labeled_image, ring_shape


@pytest.fixture
def imported(labelme_fixture, tmp_path):
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("labelme", labelme_fixture / "data_annotated"))
        yield p, report


def _by_stem(project):
    return {Path(r.path).stem: (r, project.store.instances(r.id)) for r in project.store.images()}


def test_fixture_instances_match_labelmes_own_coco_conversion(imported, labelme_fixture):
    project, report = imported
    names = {c.id: c.name for c in project.store.classes()}
    coco = COCO(str(labelme_fixture / "data_dataset_coco" / "annotations.json"))
    ours = _by_stem(project)
    checked = 0
    for img in coco.dataset["images"]:
        record, instances = ours[Path(img["file_name"]).stem]
        objects = [i for i in instances if not i.crowd]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        assert len(objects) == len(anns)
        for inst, ann in zip(objects, anns):  # both in the order labelme's shapes appear
            assert names[inst.class_id] == coco.cats[ann["category_id"]]["name"]
            ref = coco.annToMask(ann).astype(bool)
            mine = rasterize(inst.shape, record.height, record.width)
            assert (ref & mine).sum() / (ref | mine).sum() >= 0.99
            checked += 1
    assert checked == 12
    # the grouped shapes (group_id 0) became one instance each: person with 2 parts, sofa 4
    assert sum(len(i) for _, i in ours.values()) == 14  # 12 objects + 2 ignore regions


def test_fixture_matches_the_voc_instance_pngs(imported, labelme_fixture):
    """labelme's VOC PNGs are drawn by PIL with an outline, ours by COCO's rule: the same
    instances, differing only in pixels along the outline."""
    project, _ = imported
    for stem, (record, instances) in _by_stem(project).items():
        voc = np.asarray(Image.open(labelme_fixture / "data_dataset_voc" / "SegmentationObject"
                                    / f"{stem}.png"))
        ids = np.zeros(voc.shape, np.int32)
        objects = [i for i in instances if not i.crowd]
        outlines = shapely.union_all([i.shape.boundary for i in instances])
        for inst in objects:  # painted in file order, as labelme does
            ids[rasterize(inst.shape, record.height, record.width)] = objects.index(inst) + 1
        for inst in instances:  # then labelme clears regions to ignore
            if inst.crowd:
                ids[rasterize(inst.shape, record.height, record.width)] = 0
        for value in np.unique(voc)[1:]:
            ref = voc == value
            votes = np.bincount(ids[ref])
            mine = ids == votes.argmax()
            assert votes.argmax() > 0
            assert (ref & mine).sum() / (ref | mine).sum() > 0.93
            rows, cols = np.nonzero(ref ^ mine)
            centres = shapely.points(cols + 0.5, rows + 0.5)
            assert shapely.distance(centres, outlines).max() <= 1.5


def test_ignore_label_becomes_regions_to_ignore(imported):
    project, _ = imported
    names = {c.name for c in project.store.classes()}
    assert "__ignore__" not in names and "_background_" not in names
    crowd = [i for _, insts in _by_stem(project).values() for i in insts if i.crowd]
    assert len(crowd) == 2 and all(i.class_id is None for i in crowd)


def test_self_intersections_in_the_fixture_are_reported(imported):
    _, report = imported
    assert any("2011_000006.json: shapes[0]: the outline crosses itself near (" in w
               for w in report.warnings)


def test_export_opens_as_labelme_with_the_same_instances(project, tmp_path):
    record = add_labeled_image(project, shapes=[
        ("pill", box(10, 10, 30, 20), False),
        ("washer", ring_shape(60, 50, 20, 8), False),
        ("chip", shapely.MultiPolygon([box(5, 60, 20, 80), box(25, 60, 40, 80)]), False),
    ])
    project.store.update_instance(record.id, 1, track_id=12)
    export_dataset(project, "labelme", tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "a.json").read_text())
    # what labelme's LabelFile.load needs
    assert doc["imagePath"] == "a.png" and (tmp_path / "out" / "a.png").is_file()
    assert (doc["imageHeight"], doc["imageWidth"]) == (100, 120)
    kinds = [(s["label"], s["shape_type"], s["group_id"]) for s in doc["shapes"]]
    assert kinds == [("pill", "polygon", 1), ("washer", "mask", 2), ("chip", "polygon", 3),
                     ("chip", "polygon", 3)]
    washer = doc["shapes"][1]
    patch = np.asarray(Image.open(io.BytesIO(base64.b64decode(washer["mask"])))).astype(bool)
    (x1, y1), (x2, y2) = washer["points"]
    assert patch.shape == (y2 - y1 + 1, x2 - x1 + 1)  # labelme's inclusive corners
    full = np.zeros((100, 120), bool)
    full[int(y1):int(y2) + 1, int(x1):int(x2) + 1] = patch
    assert (full == rasterize(ring_shape(60, 50, 20, 8), 100, 120)).all()
    # and back
    with Project.create(tmp_path / "again") as again:
        import_dataset(again, ImportOptions("labelme", tmp_path / "out"))
        back = again.store.instances(again.store.images()[0].id)
        before = project.store.instances(record.id)
        assert [i.id for i in back] == [i.id for i in before]
        assert back[0].track_id == 12
        for a, b in zip(before, back):
            assert (rasterize(a.shape, 100, 120) == rasterize(b.shape, 100, 120)).all()


def _labelme_doc(image_path="a.png", shapes=(), image_data=None):
    return {"version": "5.5.0", "flags": {}, "shapes": list(shapes), "imagePath": image_path,
            "imageData": image_data, "imageHeight": 20, "imageWidth": 30}


def _png_bytes(shape=(20, 30, 3)):
    buf = io.BytesIO()
    Image.fromarray(np.zeros(shape, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_rectangle_circle_and_skipped_kinds(tmp_path):
    (tmp_path / "a.png").write_bytes(_png_bytes())
    shapes = [
        {"label": "box", "points": [[20, 15], [5, 2]], "shape_type": "rectangle"},
        {"label": "round", "points": [[15, 10], [15, 16]], "shape_type": "circle"},
        {"label": "dot", "points": [[3, 3]], "shape_type": "point"},
        {"label": "thin", "points": [[1, 1], [2, 2]], "shape_type": "polygon"},
    ]
    (tmp_path / "a.json").write_text(json.dumps(_labelme_doc(shapes=shapes)))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("labelme", tmp_path / "a.json"))
        box_inst, round_inst = p.store.instances(1)
    assert box_inst.shape.equals(box(5, 2, 20, 15))
    assert round_inst.shape.area == pytest.approx(np.pi * 36, rel=0.02)
    assert any("point shape is not a region" in w for w in report.warnings)
    assert any("polygon with 2 points; skipped" in w for w in report.warnings)


def test_embedded_image_data_is_written_into_the_project(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    data = base64.b64encode(_png_bytes()).decode()
    shapes = [{"label": "x", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}]
    (src / "only.json").write_text(json.dumps(_labelme_doc(image_path="gone.png", shapes=shapes,
                                                           image_data=data)))
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("labelme", src))
        (record,) = p.store.images()
        assert record.path == "images/gone.png" and p.image_path(record.path).is_file()


def test_image_path_leading_out_is_refused_unless_the_root_holds_it(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "json").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(_png_bytes())
    shapes = [{"label": "x", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}]
    (tmp_path / "json" / "a.json").write_text(json.dumps(
        _labelme_doc(image_path="..\\imgs\\a.png", shapes=shapes)))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(UnsafePathError, match="leads outside the image folder"):
            import_dataset(p, ImportOptions("labelme", tmp_path / "json"))
        import_dataset(p, ImportOptions("labelme", tmp_path / "json", images_root=tmp_path))
        assert p.store.images()[0].path == "../imgs/a.png"


def test_malformed_labelme_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"shapes": [{"label": "x", "points": "no"}],
                                                 "imagePath": "a.png"}))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError, match="a.json: shapes\\[0\\]: 'points' must be"):
            import_dataset(p, ImportOptions("labelme", tmp_path / "a.json"))


def test_a_mask_that_would_trace_to_too_many_vertices_is_refused_before_tracing(tmp_path):
    """A 1000x1000 checkerboard is 900 bytes of PNG: tracing it took 30 s and GBs before the
    import's vertex bound refused it. Its vertices are counted from the pixels first."""
    y, x = np.indices((1000, 1000))
    buf = io.BytesIO()
    Image.fromarray(((x + y) % 2).astype(bool)).save(buf, format="PNG")
    # as large as the mask: a mask larger than its image is refused before this check
    Image.fromarray(np.zeros((1000, 1000, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.json").write_text(json.dumps({
        "imagePath": "a.png", "shapes": [{
            "label": "x", "shape_type": "mask", "points": [[0, 0], [999, 999]],
            "mask": base64.b64encode(buf.getvalue()).decode()}]}))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("labelme", tmp_path))
    assert str(err.value) == (f"{tmp_path / 'a.json'}: shapes[0]: its mask traces to 2,000,000 "
                              "vertices (at most 1,000,000)")


def test_our_own_marker_does_not_skip_the_crossings_limit(tmp_path, monkeypatch):
    """With the export's marker a 24 KB zigzag was filled and traced for 30 s and 650 MB and
    came in silently; without it, it is refused before the repair. Anyone can write it."""
    from isegui.core.formats import labelme
    monkeypatch.setattr(labelme, "MAX_CROSSINGS", 10)
    (tmp_path / "a.png").write_bytes(_png_bytes())
    zigzag = [[x, 1 + 17 * (x % 2)] for x in range(1, 29)] + \
             [[1 + 27 * (y % 2), y] for y in range(18, 1, -1)]
    doc = {**_labelme_doc(shapes=[{"label": "spot", "points": zigzag, "shape_type": "polygon"}]),
           "isegui": {"polygons": labelme.CENTRE_OUTLINES}}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("labelme", tmp_path))
        assert p.store.instances(1) == []
    assert any(w.startswith(f"{tmp_path / 'a.json'}: shapes[0]: skipped, its edges cross or "
                            "touch each other over 10 times") for w in report.warnings)


@pytest.mark.parametrize("kind, points", [
    ("rectangle", [[1e300, 1e300], [1e308, 1e308]]),
    ("circle", [[10, 10], [1e300, 1e300]]),
    ("polygon", [[1, 1], [1e300, 1], [1, 1e300]]),
    ("mask", [[-1e300, 0], [5, 5]]),
])
def test_coordinates_far_beyond_any_image_are_skipped_before_shapely(tmp_path, recwarn, kind,
                                                                     points):
    """A rectangle or circle at 1e300 printed shapely's raw 'RuntimeWarning: overflow
    encountered in clip_by_rect' lines on stderr."""
    (tmp_path / "a.png").write_bytes(_png_bytes())
    shapes = [{"label": "far", "points": points, "shape_type": kind,
               "mask": base64.b64encode(_png_bytes((2, 2))).decode()},
              {"label": "near", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"}]
    (tmp_path / "a.json").write_text(json.dumps(_labelme_doc(shapes=shapes)))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("labelme", tmp_path))
        assert len(p.store.instances(1)) == 1
    assert f"{tmp_path / 'a.json'}: shapes[0]: a coordinate beyond 1e+07 px, far outside any " \
           "image; skipped" in report.warnings
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("key, value, shown", [
    ("imageWidth", True, "true"), ("imageHeight", False, "false"), ("imageWidth", "30", '"30"'),
    ("imageWidth", 30.5, "30.5"), ("imageHeight", 0, "0"), ("imageWidth", [30], "[30]"),
])
def test_declared_sizes_must_be_whole_numbers_of_pixels(tmp_path, key, value, shown):
    """imageWidth: true said 'says Truex20 but the image is 30x20' (bool is an int to
    Python)."""
    (tmp_path / "a.png").write_bytes(_png_bytes())
    (tmp_path / "a.json").write_text(json.dumps({**_labelme_doc(), key: value}))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("labelme", tmp_path))
        assert p.store.image_count() == 0
    assert str(err.value) == (f"{tmp_path / 'a.json'}: '{key}' must be a whole number of "
                              f"pixels above 0, not {shown}")


def test_declared_sizes_written_as_whole_floats_are_sizes(tmp_path):
    (tmp_path / "a.png").write_bytes(_png_bytes())
    (tmp_path / "a.json").write_text(json.dumps({**_labelme_doc(), "imageWidth": 30.0}))
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("labelme", tmp_path))
        assert (p.store.images()[0].width, p.store.images()[0].height) == (30, 20)


def test_a_group_id_written_as_a_whole_float_is_the_same_group(tmp_path):
    """group_id 1.0 and 1 made two instances; labelme's own grouping (Python's equality)
    takes them as one. 1.5 or "1" is no group: said, and read as an instance of its own."""
    (tmp_path / "a.png").write_bytes(_png_bytes())
    square = [[1, 1], [5, 1], [5, 5], [1, 5]]
    shapes = [{"label": "x", "points": [[x + dx, y] for x, y in square], "group_id": group,
               "shape_type": "polygon"} for dx, group in
              ((0, 1.0), (8, 1), (16, 1.5), (22, "1"), (0, None))]
    shapes[-1]["points"] = [[x, y + 10] for x, y in square]
    (tmp_path / "a.json").write_text(json.dumps(_labelme_doc(shapes=shapes)))
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("labelme", tmp_path))
        instances = p.store.instances(1)
    assert len(instances) == 4
    assert instances[0].id == 1 and len(shapely.get_parts(instances[0].shape)) == 2
    where = f"{tmp_path / 'a.json'}: shapes"
    assert [w for w in report.warnings if "group_id" in w] == [
        f"{where}[2]: group_id 1.5 is not a whole number; the shape is read as an instance of "
        "its own",
        f'{where}[3]: group_id "1" is not a whole number; the shape is read as an instance of '
        "its own"]


def _mask_png(width, height):
    buf = io.BytesIO()
    Image.fromarray(np.ones((height, width), np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("embedded", [False, True])
def test_a_mask_is_bounded_by_the_real_image_not_the_size_the_json_declares(tmp_path,
                                                                            embedded):
    """imageWidth/imageHeight of 4000 let a 30x20 image's mask shape decode to 4000x4000
    pixels (16 MB, and more up to 250 MP) before the declared size was found untrue."""
    image = _png_bytes()  # 30x20
    folder = tmp_path / "src"
    folder.mkdir()
    if not embedded:
        (folder / "a.png").write_bytes(image)
    shapes = [{"label": "x", "shape_type": "mask", "points": [[0, 0], [3999, 3999]],
               "mask": _mask_png(4000, 4000)}]
    doc = {**_labelme_doc(shapes=shapes, image_data=base64.b64encode(image).decode()
                          if embedded else None), "imageWidth": 4000, "imageHeight": 4000}
    (folder / "a.json").write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("labelme", folder))
    assert str(err.value) == (f"{folder / 'a.json'}: shapes[0]: its mask is 4000x4000 pixels, "
                              "larger than the 30x20 image")


def test_a_mask_within_the_real_image_still_reads(tmp_path):
    (tmp_path / "a.png").write_bytes(_png_bytes())
    shapes = [{"label": "x", "shape_type": "mask", "points": [[2, 3], [11, 7]],
               "mask": _mask_png(10, 5)}]
    (tmp_path / "a.json").write_text(json.dumps(_labelme_doc(shapes=shapes)))
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("labelme", tmp_path))
        (inst,) = p.store.instances(1)
    assert inst.shape.equals(box(2, 3, 12, 8))


def test_our_marker_fills_no_outline_larger_than_the_real_image(tmp_path, monkeypatch):
    """The window an outline of ours is filled in was bounded by the declared size (4000x4000
    here, 16 MP) rather than by the 30x20 image."""
    from isegui.core.formats import labelme

    def filled(*args):
        raise AssertionError("a 3001x3001 window filled for a 30x20 image")
    monkeypatch.setattr(labelme, "_from_centre_outline", filled)
    (tmp_path / "a.png").write_bytes(_png_bytes())
    shapes = [{"label": "x", "points": [[0, 0], [2999, 0], [2999, 2999]],
               "shape_type": "polygon"}]
    doc = {**_labelme_doc(shapes=shapes), "imageWidth": 4000, "imageHeight": 4000,
           "isegui": {"polygons": labelme.CENTRE_OUTLINES}}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed, match="says 4000x4000 but the image is 30x20"):
            import_dataset(p, ImportOptions("labelme", tmp_path))
