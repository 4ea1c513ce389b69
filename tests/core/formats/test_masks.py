import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import box

from isegui.core.errors import FormatError, InputFileError
from isegui.core.formats.exporter import export_dataset
from isegui.core.geometry import rasterize
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project
from tests.core.helpers import add_labeled_image, ring_shape


def test_voc_fixture_imports_exactly(labelme_fixture, tmp_path):
    voc = labelme_fixture / "data_dataset_voc"
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("masks", voc, images_root=labelme_fixture /
                                        "data_annotated"))
        names = {c.id: c.name for c in p.store.classes()}
        for record in p.store.images():
            stem = Path(record.path).stem
            ids = np.asarray(Image.open(voc / "SegmentationObject" / f"{stem}.png"))
            classes = np.asarray(Image.open(voc / "SegmentationClass" / f"{stem}.png"))
            instances = p.store.instances(record.id)
            for inst in instances:
                m = rasterize(inst.shape, record.height, record.width)
                if inst.crowd:  # void: class 255 where no instance is
                    assert (m == ((classes == 255) & (ids == 0))).all()
                    continue
                assert (m == (ids == inst.id)).all()  # pixel values are the instance ids
                cls_values = np.unique(classes[m])
                assert len(cls_values) == 1
                class_names = (voc / "class_names.txt").read_text().split("\n")
                assert names[inst.class_id] == class_names[cls_values[0]]
            assert len([i for i in instances if not i.crowd]) == len(np.unique(ids)) - 1


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_round_trip_8_and_16_bit(project, tmp_path, suffix):
    record = add_labeled_image(project, shapes=[
        ("pill", box(10, 10, 30, 20), False), ("washer", ring_shape(60, 50, 20, 8), False)])
    # an instance id beyond 8 bits forces a 16-bit file
    big = project.store.instances(record.id)[1]
    project.store.delete_instances(record.id, [big.id])
    project.store.restore_instances([big.__class__(**{**big.__dict__, "id": 300})])
    project.store.update_instance(record.id, 1, track_id=4)
    report = export_dataset(project, "masks", tmp_path / "out", suffix=suffix)
    ids = np.asarray(Image.open(tmp_path / "out" / "SegmentationObject" / f"a{suffix}"))
    assert ids.dtype == np.uint16 and set(np.unique(ids)) == {0, 1, 300}
    rows = list(csv.DictReader(open(tmp_path / "out" / "instances.csv")))
    assert rows[0] == {"image": "a", "instance_id": "1", "class": "pill", "track_id": "4"}
    assert report.losses == []
    with Project.create(tmp_path / "again") as again:
        import_dataset(again, ImportOptions("masks", tmp_path / "out"))
        back = {i.id: i for i in again.store.instances(1)}
        for inst in project.store.instances(record.id):
            assert (rasterize(back[inst.id].shape, 100, 120) ==
                    rasterize(inst.shape, 100, 120)).all()
        assert back[1].track_id == 4


def test_overlap_is_reported_as_a_loss(project, tmp_path):
    add_labeled_image(project, shapes=[("pill", box(10, 10, 30, 20), False),
                                       ("pill", box(20, 10, 40, 20), False)])
    report = export_dataset(project, "masks", tmp_path / "out")
    assert any("one label per pixel" in loss for loss in report.losses)
    ids = np.asarray(Image.open(tmp_path / "out" / "SegmentationObject" / "a.png"))
    assert (ids[15, 20:40] == 2).all()  # the upper one wins


def test_colour_mask_is_refused(tmp_path):
    (tmp_path / "SegmentationObject").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "SegmentationObject" / "a.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.jpg")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError, match="a.png: a colour image"):
            import_dataset(p, ImportOptions("masks", tmp_path))


def test_class_map_from_json_and_16_bit_tiff(tmp_path):
    ids = np.zeros((20, 30), np.uint16)
    ids[2:8, 2:12] = 1000
    ids[10:18, 5:25] = 7
    (tmp_path / "SegmentationObject").mkdir()
    Image.fromarray(ids).save(tmp_path / "SegmentationObject" / "part.tif")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "part.png")
    (tmp_path / "instances.json").write_text('{"part": {"1000": "screw", "7": {"class": "nut", '
                                             '"track_id": 3}}}')
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("masks", tmp_path))
        names = {c.id: c.name for c in p.store.classes()}
        got = {i.id: (names[i.class_id], i.track_id, i.shape.area) for i in p.store.instances(1)}
    assert got == {7: ("nut", 3, 160.0), 1000: ("screw", None, 60.0)}


def _named(project, file_name, class_name):
    """An image `file_name` with one instance of `class_name`."""
    from isegui.core.entities import ImageStatus, Source
    from isegui.core.images import save_image
    save_image(project.folder / "images" / file_name, np.zeros((40, 50, 3), np.uint8))
    record = project.store.add_image(f"images/{file_name}", 50, 40,
                                     status=ImageStatus.LABELED)
    class_id = project.store.ensure_classes([class_name])[class_name]
    project.store.add_instances(record.id, [(class_id, box(5, 5, 20, 15), None, None,
                                             Source.MANUAL, False)])
    return record


def test_names_starting_like_a_formula_are_escaped_in_instances_csv_and_read_back(project,
                                                                                 tmp_path):
    _named(project, "-2+3.png", "=HYPERLINK(\"http://x\",\"y\")")
    _named(project, "@SUM(A1).png", "+cmd")
    export_dataset(project, "masks", tmp_path / "out")
    with open(tmp_path / "out" / "instances.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["image"], r["class"]) for r in rows] == [
        ("'-2+3", "'=HYPERLINK(\"http://x\",\"y\")"), ("'@SUM(A1)", "'+cmd")]
    with Project.create(tmp_path / "again") as again:  # reading back undoes the quote
        import_dataset(again, ImportOptions("masks", tmp_path / "out"))
        assert sorted(c.name for c in again.store.classes()) == [
            "+cmd", "=HYPERLINK(\"http://x\",\"y\")"]


def test_a_name_with_a_line_break_adds_no_line_to_the_voc_lists(project, tmp_path):
    """Exported names hold no line break (written as "_"): each image one line of the list."""
    _named(project, "good.png", "pill")
    _named(project, "two\nlines.png", "pill")
    _named(project, "para\u2028graph.png", "pill")
    report = export_dataset(project, "masks", tmp_path / "out")
    listed = (tmp_path / "out" / "ImageSets" / "Segmentation" / "train.txt").read_text()
    assert sorted(listed.splitlines()) == ["good", "para_graph", "two_lines"]
    assert not any("left out of ImageSets" in loss for loss in report.losses)


def test_a_class_name_with_a_line_break_comes_in_as_one_line(project, tmp_path):
    """The store holds no class name with a line break (a team mate's window lists every
    class); one in another tool's instances.csv comes in with a space, and the import says
    so."""
    _named(project, "a.png", "top bottom")
    export_dataset(project, "masks", tmp_path / "out")
    csv_path = tmp_path / "out" / "instances.csv"
    csv_path.write_text(csv_path.read_text().replace("top bottom", '"top\nbottom"'))
    with Project.create(tmp_path / "again") as again:
        report = import_dataset(again, ImportOptions("masks", tmp_path / "out"))
        assert [c.name for c in again.store.classes()] == ["top bottom"]
        assert any("imported as 'top bottom'" in w for w in report.warnings)
    with pytest.raises(ValueError, match="control characters"):
        project.store.add_class("top\nbottom")


def _masks_folder(tmp_path, ids):
    """SegmentationObject/a.png of instance `ids`, SegmentationClass/a.png of the same values
    (instance k is of class k), and the image a.png."""
    (tmp_path / "SegmentationObject").mkdir()
    (tmp_path / "SegmentationClass").mkdir()
    Image.fromarray(ids).save(tmp_path / "SegmentationObject" / "a.png")
    Image.fromarray(ids).save(tmp_path / "SegmentationClass" / "a.png")
    Image.fromarray(np.zeros((*ids.shape, 3), np.uint8)).save(tmp_path / "a.png")


def test_a_blank_line_in_class_names_txt_is_refused_not_dropped(tmp_path):
    """Line k names class k: dropping the blank line made class 2's pixels class 1's."""
    ids = np.zeros((10, 10), np.uint8)
    ids[2:5, 2:5] = 2
    _masks_folder(tmp_path, ids)
    (tmp_path / "class_names.txt").write_text("_background_\nscratch\n\ndent\n")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
    assert str(err.value).startswith(f"{tmp_path / 'class_names.txt'}: line 3 is blank")


@pytest.mark.parametrize("ids, problem", [
    ('{"1": "scratch", "01": "dent"}', "a: instance 1 is listed twice (as '1' and '01')"),
    ('{" 1 ": "scratch"}', "a: instance id ' 1 ' is not a number"),
    ('{"1_0": "scratch"}', "a: instance id '1_0' is not a number"),
    ('{"\u0661": "scratch"}', "a: instance id '\u0661' is not a number"),
])
def test_instances_json_ids_are_ascii_digits_each_once(tmp_path, ids, problem):
    """int() read "1" and "01" as one id (the last won without a word), and took spaces,
    "_" and other scripts' digits, where instances.csv refuses them."""
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 2:5] = 1
    _masks_folder(tmp_path, mask)
    (tmp_path / "instances.json").write_text(f'{{"a": {ids}}}', encoding="utf-8")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
    assert str(err.value) == f"{tmp_path / 'instances.json'}: {problem}"


@pytest.mark.parametrize("kind", ["latin-1", "folder", "fifo"])
def test_a_split_list_that_cannot_be_read_is_named(tmp_path, kind):
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 2:5] = 1
    _masks_folder(tmp_path, mask)
    lists = tmp_path / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    if kind == "latin-1":
        (lists / "train.txt").write_bytes(b"a\n\xff\xfe\n")
    elif kind == "folder":
        (lists / "train.txt").mkdir()
    else:
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this system")
        os.mkfifo(lists / "train.txt")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
    assert str(err.value).startswith(f"{lists / 'train.txt'}: ")


def test_an_instance_that_would_trace_to_too_many_vertices_is_refused_before_tracing(
        tmp_path, monkeypatch):
    from isegui.core.formats import masks
    monkeypatch.setattr(masks, "MAX_VERTICES", 100)  # the real bound is 1,000,000
    ids = (np.indices((10, 10)).sum(axis=0) % 2).astype(np.uint8)  # 50 pixels meeting at corners
    _masks_folder(tmp_path, ids)
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
    assert str(err.value) == (f"{tmp_path / 'SegmentationObject' / 'a.png'}: instance 1 traces "
                              "to 200 vertices (at most 100)")  # 4 a pixel


def test_a_void_region_that_would_trace_to_too_many_vertices_is_refused_before_tracing(
        tmp_path, monkeypatch):
    """The void (255) region was traced with no count: a 2 KB checkerboard took 26 s and
    780 MB, and the refusal then called it "instance 1"."""
    from isegui.core.formats import masks
    monkeypatch.setattr(masks, "MAX_VERTICES", 100)
    ids = (np.indices((10, 10)).sum(axis=0) % 2 * 255).astype(np.uint8)
    _masks_folder(tmp_path, ids)
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
    assert str(err.value) == (f"{tmp_path / 'SegmentationObject' / 'a.png'}: the void (255, "
                              "ignore) region traces to 200 vertices (at most 100)")


@pytest.mark.parametrize("first_line", ["background", "_background_", "__background__",
                                        "Background", "BG"])
def test_line_0_of_class_names_is_the_background_under_its_usual_names(tmp_path, first_line):
    """A first line "background" was taken for class 1: a second background line went in
    front and every class came in as the one before it."""
    ids = np.zeros((10, 10), np.uint8)
    ids[1:4, 1:4], ids[5:9, 5:9] = 1, 2
    _masks_folder(tmp_path, ids)
    (tmp_path / "class_names.txt").write_text(f"{first_line}\nscratch\ndent\n")
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("masks", tmp_path))
        names = {c.id: c.name for c in p.store.classes()}
        classes = sorted((i.id, names[i.class_id]) for i in p.store.instances(1))
    assert classes == [(1, "scratch"), (2, "dent")]
    assert sorted(names.values()) == ["dent", "scratch"]
    assert not any("class_names.txt" in w for w in report.warnings)


def test_class_names_without_a_background_line_are_shifted_with_a_warning(tmp_path):
    ids = np.zeros((10, 10), np.uint8)
    ids[1:4, 1:4] = 1
    _masks_folder(tmp_path, ids)
    (tmp_path / "class_names.txt").write_text("scratch\ndent\n")
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("masks", tmp_path))
        names = {c.id: c.name for c in p.store.classes()}
        assert [names[i.class_id] for i in p.store.instances(1)] == ["scratch"]
    assert any(w.startswith(f"{tmp_path / 'class_names.txt'}: line 1 is 'scratch', not the "
                            "background") for w in report.warnings)


def _split_lists(tmp_path, lists):
    ids = np.zeros((10, 10), np.uint8)
    ids[2:5, 2:5] = 1
    for stem in ("a", "b"):
        Image.fromarray(ids).save(tmp_path / "SegmentationObject" / f"{stem}.png")
        Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / f"{stem}.png")
    folder = tmp_path / "ImageSets" / "Segmentation"
    folder.mkdir(parents=True)
    for split, text in lists.items():
        (folder / f"{split}.txt").write_text(text)
    return folder


def test_split_lists_may_name_images_with_their_suffix(tmp_path):
    """"a.png" matched no image stem: every line was dropped and val's image went to train."""
    (tmp_path / "SegmentationObject").mkdir()
    _split_lists(tmp_path, {"train": "a.png\n", "val": "b.PNG\n"})
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("masks", tmp_path))
        splits = {Path(r.path).stem: r.split.value for r in p.store.images()}
    assert splits == {"a": "train", "b": "val"}


def test_an_image_in_two_split_lists_is_refused(tmp_path):
    """It went to the list read last without a word."""
    (tmp_path / "SegmentationObject").mkdir()
    folder = _split_lists(tmp_path, {"train": "a\nb\n", "val": "a\n"})
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(FormatError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
    assert str(err.value) == (f"{folder / 'val.txt'}: a is also listed in train.txt; list "
                              "each image in one split")


def test_split_list_lines_that_name_no_image_are_named(tmp_path):
    """They were dropped without a word: a list naming other images (or misspelled ones)
    read as if it listed nothing."""
    (tmp_path / "SegmentationObject").mkdir()
    folder = _split_lists(tmp_path, {"train": "a\n", "val": "b\nc\n\nd.png\n"})
    with Project.create(tmp_path / "p") as p:
        report = import_dataset(p, ImportOptions("masks", tmp_path))
        assert p.store.image_count() == 2
    assert f"{folder / 'val.txt'}: 2 line(s) name no image with a mask in SegmentationObject, " \
           "ignored; the first: line 2, 'c'" in report.warnings
    assert not any("train.txt" in w for w in report.warnings)


def test_voc_class_masks_alone_are_refused_not_read_as_instances(tmp_path):
    """JPEGImages + SegmentationClass (VOC semantic): the class masks were read as instance
    masks, 'no image named SegmentationClass/a.*', 0 images imported and exit 0."""
    ids = np.zeros((10, 10), np.uint8)
    ids[2:5, 2:5] = 1
    (tmp_path / "SegmentationClass").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    Image.fromarray(ids).save(tmp_path / "SegmentationClass" / "a.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "JPEGImages" / "a.png")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(InputFileError) as err:
            import_dataset(p, ImportOptions("masks", tmp_path))
        assert p.store.image_count() == 0
    message = str(err.value)
    assert message.startswith(f"{tmp_path}: SegmentationClass/ but no SegmentationObject/")
    assert "instance masks" in message and "cannot separate" in message
    assert len(message.splitlines()) == 1
