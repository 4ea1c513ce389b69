"""Malformed input, every reader: each case is refused with one message naming the file and the
problem (the project unchanged), or taken in clipped to the image with a word; never a raw
exception. Also: exports never drop an instance without a class."""

import csv
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from isegui.core.errors import IseguiError
from isegui.core.formats.exporter import export_dataset
from isegui.core.geometry import rasterize
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project

WIDTH, HEIGHT = 80, 64
TRIANGLE = [[1, 1, 20, 1, 20, 20]]


def _image(folder: Path, name: str = "a.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3)).astype(np.uint8)
    cv2.imwrite(str(folder / name), pixels)
    return folder / name


def _coco(folder: Path, annotation: dict | None = None, *, raw: str | None = None) -> Path:
    _image(folder)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": WIDTH, "height": HEIGHT}],
           "categories": [{"id": 1, "name": "part"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, **(annotation or {})}]}
    (folder / "annotations.json").write_text(raw if raw is not None else json.dumps(doc))
    return folder / "annotations.json"


def _labelme(folder: Path, shape: dict | None = None, *, raw: str | None = None) -> Path:
    _image(folder)
    doc = {"version": "5.5.0", "imagePath": "a.png", "imageWidth": WIDTH,
           "imageHeight": HEIGHT, "shapes": [{"label": "part", **(shape or {})}]}
    (folder / "a.json").write_text(raw if raw is not None else json.dumps(doc))
    return folder / "a.json"


def _yolo(folder: Path, line: str) -> Path:
    _image(folder / "images")
    (folder / "labels").mkdir(parents=True)
    (folder / "labels" / "a.txt").write_text(line + "\n")
    (folder / "data.yaml").write_text("names: [part]\n")
    return folder


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with (almost) no pixel data: a bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _masks_bomb(folder: Path) -> Path:
    _image(folder / "JPEGImages")
    (folder / "SegmentationObject").mkdir()
    (folder / "SegmentationObject" / "a.png").write_bytes(_png_header(100_000, 100_000))
    return folder


def _truncated_jpeg(folder: Path) -> Path:
    folder.mkdir()
    ok, data = cv2.imencode(".jpg", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))
    (folder / "a.jpg").write_bytes(data.tobytes()[:len(data) // 2])
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": WIDTH, "height": HEIGHT}],
           "categories": [{"id": 1, "name": "part"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": TRIANGLE}]}
    (folder / "annotations.json").write_text(json.dumps(doc))
    return folder / "annotations.json"


def _labelme_mask_bomb(folder: Path) -> Path:
    import base64
    encoded = base64.b64encode(_png_header(100_000, 100_000)).decode()
    return _labelme(folder, {"shape_type": "mask", "points": [[0, 0], [5, 5]], "mask": encoded})


def _coco_naming(folder: Path, file_name: str, prepare=None) -> Path:
    """A COCO file whose one image is `file_name`, after `prepare(folder)` set the files up."""
    folder.mkdir(parents=True)
    if prepare:
        prepare(folder)
    doc = {"images": [{"id": 1, "file_name": file_name, "width": WIDTH, "height": HEIGHT}],
           "categories": [{"id": 1, "name": "part"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": TRIANGLE}]}
    (folder / "annotations.json").write_text(json.dumps(doc))
    return folder / "annotations.json"


def _masks_with_table(folder: Path, table) -> Path:
    _label_tiff(folder, 3)
    (folder / "instances.json").write_text(json.dumps(table))
    return folder


INF, NAN = float("inf"), float("nan")
REFUSED = {  # case -> (format, maker, words the message must hold)
    "coco bbox Infinity": ("coco", lambda f: _coco(f, {"bbox": [0, 0, INF, INF]}), "bbox"),
    "coco bbox of strings": ("coco", lambda f: _coco(f, {"bbox": ["a", "b", "c", "d"]}),
                             "bbox"),
    "coco iscrowd 'no'": ("coco", lambda f: _coco(f, {"segmentation": TRIANGLE,
                                                      "iscrowd": "no"}), "iscrowd"),
    "coco list-valued image_id": ("coco", lambda f: _coco(f, {"image_id": [1],
                                                              "segmentation": TRIANGLE}),
                                  "image_id"),
    "coco list-valued category_id": ("coco", lambda f: _coco(f, {"category_id": [1],
                                                                 "segmentation": TRIANGLE}),
                                     "category_id"),
    "coco score NaN": ("coco", lambda f: _coco(f, {"segmentation": TRIANGLE, "score": NAN}),
                       "score"),
    "coco polygon NaN": ("coco", lambda f: _coco(f, {"segmentation": [[1, 1, NAN, 1, 9, 9]]}),
                         "polygon"),
    "JSON nested 100k deep": ("coco", lambda f: _coco(f, raw="[" * 100_000 + "]" * 100_000),
                              "nested"),
    "labelme NaN point": ("labelme", lambda f: _labelme(f, raw=json.dumps(
        {"imagePath": "a.png", "shapes": [{"label": "p", "points": [[NAN, 1], [2, 2], [3, 1]]}]})),
        "not a number"),
    "labelme mask bigger than its image": ("labelme", _labelme_mask_bomb, "larger than"),
    "yolo NaN": ("yolo", lambda f: _yolo(f, "0 nan 0.1 0.2 0.2 0.3 0.3"), "finite"),
    "yolo Infinity": ("yolo", lambda f: _yolo(f, "0 inf 0.1 0.2 0.2 0.3 0.3"), "finite"),
    "masks 100000x100000 header": ("masks", _masks_bomb, "100000x100000"),
    "truncated JPEG": ("coco", _truncated_jpeg, "a.jpg: cannot"),
    "zero-byte image": ("coco", lambda f: _coco_naming(
        f, "empty.png", lambda d: (d / "empty.png").write_bytes(b"")), "empty.png"),
    "path leading out": ("coco", lambda f: _coco_naming(f, "../../etc/passwd"), "passwd"),
    "symlink to a non-image": ("coco", lambda f: _coco_naming(
        f, "link.png", lambda d: (d / "link.png").symlink_to("/etc/hostname")), "link.png"),
    "masks table of lists": ("masks", lambda f: _masks_with_table(f, {"a": {"300": [1]}}),
                             "instances.json"),
    "masks table not an object": ("masks", lambda f: _masks_with_table(f, [1, 2]),
                                  "instances.json"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_malformed_input_is_refused_with_a_message_and_nothing_changes(case, tmp_path):
    fmt, make, words = REFUSED[case]
    source = make(tmp_path / "data")
    folder = tmp_path / "p"
    with Project.create(folder) as project:
        project.store.ensure_classes(["kept"])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with Project.open(folder) as project:
        with pytest.raises(IseguiError) as caught:
            import_dataset(project, ImportOptions(fmt, source))
        assert [c.name for c in project.store.classes()] == ["kept"]
        assert project.store.images() == []
    message = str(caught.value)
    assert words in message and str(tmp_path / "data") in message
    assert "\n" not in message.strip()  # one line
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_command_line_says_it_in_one_line_and_exits_1(case, tmp_path, capsys):
    from isegui.cli import main
    fmt, make, words = REFUSED[case]
    source = make(tmp_path / "data")
    assert main(["import", str(tmp_path / "p"), str(source), "--format", fmt]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and words in err
    assert not (tmp_path / "p").exists()  # the project it would have made is not left behind


FAR = "far outside any image; skipped"  # beyond MAX_COORDINATE: no shapely call sees it


@pytest.mark.parametrize("shape, expected", [
    ({"shape_type": "circle", "points": [[10, 10], [10, 2e6]]}, "clipped"),
    ({"shape_type": "circle", "points": [[10, 10], [10, 1e10]]}, FAR),
    ({"shape_type": "polygon", "points": [[0, 0], [1e30, 0], [1e30, 1e30]]}, FAR),
    ({"shape_type": "polygon", "points": [[60, 40], [120, 40], [120, 100]]}, "clipped"),
    ({"shape_type": "polygon", "points": [[1000, 1000], [1100, 1000], [1100, 1100]]},
     "nothing of them is inside"),
])
def test_shapes_beyond_the_image_are_clipped_to_it_or_left_out_with_a_word(shape, expected,
                                                                           tmp_path):
    source = _labelme(tmp_path / "data", shape)
    with Project.create(tmp_path / "p") as project:
        report = import_dataset(project, ImportOptions("labelme", source))
        instances = project.store.instances(project.store.images()[0].id)
        for inst in instances:
            x0, y0, x1, y1 = inst.shape.bounds
            assert 0 <= x0 and 0 <= y0 and x1 <= WIDTH and y1 <= HEIGHT
        assert len(instances) == (1 if expected == "clipped" else 0)
        assert any(expected in w and "a.json" in w for w in report.warnings)
        # the project stays usable: it exports, and the file is valid JSON
        export_dataset(project, "coco", tmp_path / "out", copy_images=False)
        json.loads((tmp_path / "out" / "annotations" / "instances_train.json").read_text())
    assert (tmp_path / "p" / "project.isegui").stat().st_size < 1_000_000


def _label_tiff(folder: Path, count: int) -> Path:
    """A 16-bit instance label TIFF without any class map, as cell and defect tools write."""
    _image(folder / "JPEGImages")
    ids = np.zeros((HEIGHT, WIDTH), np.uint16)
    for k in range(count):
        row, col = divmod(k, 8)
        ids[2 + row * 8: 7 + row * 8, 2 + col * 9: 8 + col * 9] = 300 + k  # above 8 bits
    (folder / "SegmentationObject").mkdir()
    Image.fromarray(ids).save(folder / "SegmentationObject" / "a.tif")
    return folder


def test_a_label_image_without_classes_keeps_every_instance_through_every_export(tmp_path):
    source = _label_tiff(tmp_path / "data", 40)
    with Project.create(tmp_path / "p") as project:
        report = import_dataset(project, ImportOptions("masks", source))
        record = project.store.images()[0]
        instances = project.store.instances(record.id)
        assert len(instances) == 40 and all(i.class_id is None for i in instances)
        assert sum("--class NAME" in w for w in report.warnings) == 1  # one note, not 40
        export_dataset(project, "masks", tmp_path / "masks")
        ids = np.asarray(Image.open(tmp_path / "masks" / "SegmentationObject" / "a.png"))
        classes = np.asarray(Image.open(tmp_path / "masks" / "SegmentationClass" / "a.png"))
        assert len(np.unique(ids)) - 1 == 40
        assert set(np.unique(classes[ids > 0])) == {255}  # void only in the class image
        table = (tmp_path / "masks" / "instances.csv").read_text()
        rows = list(csv.DictReader(table.splitlines()))
        assert len(rows) == 40 and {r["class"] for r in rows} == {""}
        for fmt in ("coco", "labelme", "yolo"):
            out = export_dataset(project, fmt, tmp_path / fmt)
            assert any("40 instance(s) without a class" in loss for loss in out.losses)
            with Project.create(tmp_path / f"back-{fmt}") as back:
                import_dataset(back, ImportOptions(fmt, tmp_path / fmt))
                again = back.store.instances(back.store.images()[0].id)
                assert len(again) == 40
                assert {c.name for c in back.store.classes()} == {"unclassified"}
        with Project.create(tmp_path / "back-masks") as back:  # and the masks export reads back
            import_dataset(back, ImportOptions("masks", tmp_path / "masks"))
            again = {i.id: i for i in back.store.instances(1)}
            for inst in instances:
                assert (rasterize(again[inst.id].shape, HEIGHT, WIDTH)
                        == rasterize(inst.shape, HEIGHT, WIDTH)).all()


def test_import_class_names_the_instances_a_label_image_gives_no_class(tmp_path):
    source = _label_tiff(tmp_path / "data", 12)
    with Project.create(tmp_path / "p") as project:
        report = import_dataset(project, ImportOptions("masks", source, default_class="nucleus"))
        assert [c.name for c in project.store.classes()] == ["nucleus"]
        instances = project.store.instances(1)
        assert len(instances) == 12 and all(i.class_id is not None for i in instances)
        assert not any("without a class" in w for w in report.warnings)


# --------------------------------------------------------------------------- fuzz

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=8)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=5),
    max_leaves=20)
NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**40, 10**40)
ANNOTATION = st.fixed_dictionaries({}, optional={
    "id": JSON_VALUES, "image_id": st.just(1) | JSON_VALUES,
    "category_id": st.just(1) | JSON_VALUES, "iscrowd": JSON_VALUES,
    "bbox": st.lists(NUMBERS, min_size=0, max_size=5) | JSON_VALUES,
    "segmentation": st.lists(st.lists(NUMBERS, max_size=12), max_size=3) | JSON_VALUES,
    "score": NUMBERS | JSON_VALUES, "attributes": JSON_VALUES})
LABELME_SHAPE = st.fixed_dictionaries({"label": st.just("part") | JSON_VALUES}, optional={
    "points": st.lists(st.lists(NUMBERS, min_size=2, max_size=2), max_size=8) | JSON_VALUES,
    "shape_type": st.sampled_from(["polygon", "rectangle", "circle", "mask", "line"])
    | JSON_VALUES, "group_id": JSON_VALUES, "flags": JSON_VALUES})
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _import_or_refuse(fmt: str, source: Path, folder: Path) -> None:
    """Either a clean refusal (IseguiError) or a project that validates and exports."""
    from isegui.core.validate import validate_project
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    with Project.create(folder) as project:
        try:
            import_dataset(project, ImportOptions(fmt, source))
        except IseguiError:
            assert project.store.images() == []
            return
        validate_project(project)
        for out in ("coco", "labelme", "masks"):
            export_dataset(project, out, folder.parent / f"{folder.name}-{out}",
                           copy_images=False)
            shutil.rmtree(folder.parent / f"{folder.name}-{out}")


@FUZZ
@given(annotation=ANNOTATION)
def test_fuzz_coco_reader(annotation, tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    _import_or_refuse("coco", _coco(folder / "data", annotation), folder / "p")


@FUZZ
@given(shape=LABELME_SHAPE)
def test_fuzz_labelme_reader(shape, tmp_path_factory):
    folder = tmp_path_factory.mktemp("labelme")
    _import_or_refuse("labelme", _labelme(folder / "data", shape), folder / "p")


@FUZZ
@given(line=st.lists(st.sampled_from(["0", "1", "-1", "0.5", "1e30", "nan", "inf", "x", "2",
                                      "0.25", "0.75", "0.1"]), max_size=10).map(" ".join))
def test_fuzz_yolo_reader(line, tmp_path_factory):
    folder = tmp_path_factory.mktemp("yolo")
    _import_or_refuse("yolo", _yolo(folder / "data", line), folder / "p")


# --------------------------------------------------------------------------- project files

def test_an_empty_or_foreign_project_file_is_refused_never_made_a_new_project(tmp_path):
    import sqlite3

    from isegui.cli import main
    folder = tmp_path / "p"
    (folder / "images").mkdir(parents=True)
    (folder / "project.isegui").write_bytes(b"")
    for command in (["split", str(folder)], ["validate", str(folder)],
                    ["import", str(folder), str(_coco(tmp_path / "data", {"segmentation":
                                                                            TRIANGLE})),
                     "--format", "coco"]):
        assert main(command) == 1
        assert (folder / "project.isegui").read_bytes() == b""
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    (folder / "project.isegui").write_bytes((tmp_path / "other.db").read_bytes())
    before = (folder / "project.isegui").read_bytes()
    assert main(["split", str(folder)]) == 1
    assert (folder / "project.isegui").read_bytes() == before


def test_a_damaged_project_file_is_one_line_and_exit_1(tmp_path, capsys):
    from isegui.cli import main
    from isegui.core.demo import create_demo_project
    folder = tmp_path / "p"
    create_demo_project(folder, n_images=4).close()
    data = bytearray((folder / "project.isegui").read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the first (the schema)
        data[start:start + 64] = b"\xff" * 64  # the page header: no longer a B-tree page
    (folder / "project.isegui").write_bytes(bytes(data))
    assert main(["validate", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "project.isegui" in err and "damaged" in err


def test_a_full_disk_during_a_write_reports_the_real_cause_and_keeps_nothing(tmp_path):
    import sqlite3

    from isegui.core.entities import Split
    with Project.create(tmp_path / "p") as project:
        project.store.ensure_classes(["part"])
        pages = project.store.engine.conn.execute("PRAGMA page_count").fetchone()[0]
        project.store.engine.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # "the disk"
        with pytest.raises(sqlite3.Error) as caught:
            with project.store.transaction():
                for k in range(2000):
                    project.store.add_image(f"images/{k:05d}-{'x' * 200}.png", 10, 10,
                                            Split.TRAIN)
        assert "full" in str(caught.value)  # not "cannot rollback - no transaction is active"
        assert project.store.images() == []
        project.store.add_class("still writable")  # the store is usable after the failure


def test_an_instance_with_too_many_vertices_is_refused(tmp_path, monkeypatch):
    import isegui.core.formats.importer as importer
    monkeypatch.setattr(importer, "MAX_VERTICES", 100)  # the real bound is 1,000,000
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    ring = np.column_stack([40 + 20 * np.cos(angles), 30 + 20 * np.sin(angles)]).tolist()
    source = _labelme(tmp_path / "data", {"shape_type": "polygon", "points": ring})
    with Project.create(tmp_path / "p") as project:
        with pytest.raises(IseguiError, match="201 vertices"):
            import_dataset(project, ImportOptions("labelme", source))
        assert project.store.images() == []


@FUZZ
@given(ids=st.lists(st.integers(0, 70000), min_size=WIDTH // 8 * (HEIGHT // 8),
                    max_size=WIDTH // 8 * (HEIGHT // 8)),
       classes=st.none() | st.lists(st.integers(0, 255), min_size=WIDTH // 8 * (HEIGHT // 8),
                                    max_size=WIDTH // 8 * (HEIGHT // 8)),
       table=st.none() | st.text(max_size=80))
def test_fuzz_masks_reader(ids, classes, table, tmp_path_factory):
    """Label images of any values (8/16 bit, beyond 16 bit), class images, instances.csv text."""
    folder = tmp_path_factory.mktemp("masks") / "data"
    _image(folder / "JPEGImages")
    for sub in ("SegmentationObject", "SegmentationClass"):
        (folder / sub).mkdir()
    small = np.asarray(ids, np.int64).reshape(HEIGHT // 8, WIDTH // 8)
    values = np.kron(small, np.ones((8, 8), np.int64))  # blocks, so instances have area
    mode = np.uint16 if values.max() < 65536 else np.int32
    Image.fromarray(values.astype(mode)).save(folder / "SegmentationObject" / "a.png"
                                              if mode == np.uint16 else
                                              folder / "SegmentationObject" / "a.tif")
    if classes is not None:
        cls = np.kron(np.asarray(classes, np.uint8).reshape(HEIGHT // 8, WIDTH // 8),
                      np.ones((8, 8), np.uint8))
        Image.fromarray(cls).save(folder / "SegmentationClass" / "a.png")
    if table is not None:
        (folder / "instances.csv").write_text("image,instance_id,class,track_id\n" + table)
    _import_or_refuse("masks", folder, folder.parent / "p")
