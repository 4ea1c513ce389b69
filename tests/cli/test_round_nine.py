"""What the attacker's eighth try left open and the ninth found: weights that are not plain
numbers, a replaced image exported at its old size, files linked out of an import's folder."""

from __future__ import annotations

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.images import save_image
from isegui.core.project import Project
from tests.cli.test_round_five import _one_line


def _complex(torch):
    return torch.zeros((4, 3, 3, 3), dtype=torch.complex64)


def _sparse(torch):
    return torch.zeros((4, 3, 3, 3)).to_sparse()


def _meta(torch):
    return torch.empty((4, 3, 3, 3), device="meta")


@pytest.mark.parametrize("make, words", [(_complex, "complex numbers"),
                                         (_sparse, "stored sparse"),
                                         (_meta, "hold no values")])
def test_weights_that_are_not_plain_numbers_are_refused(tmp_path, capsys, make, words):
    import torch
    path = tmp_path / "odd.pth"
    torch.save({"features.0.weight": make(torch)}, path)
    assert main(["weights", "add", str(path)]) != 0
    line = _one_line(capsys.readouterr().err)
    assert words in line and "odd.pth" in line


def test_whole_numbers_where_weights_belong_are_not_taken(tmp_path):
    import torch

    from isegui.ml.model.weights import initialise_from
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    before = model[0].weight.detach().clone()
    data = {"0.weight": torch.ones((4, 3, 3, 3), dtype=torch.int64),
            "0.bias": torch.zeros(4), "1.num_batches_tracked": torch.tensor(7)}
    report = initialise_from(model, data, tmp_path / "w.pth", ["a"])
    assert report.skipped == ["0.weight"]
    assert torch.equal(model[0].weight, before)
    assert int(model[1].num_batches_tracked) == 7  # a counter is whole numbers by nature


def test_an_image_replaced_since_it_was_labeled_is_not_exported(tmp_path, capsys):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=3, width=96, height=96).close()
    with Project.open(tmp_path / "d", read_only=True) as project:
        record = project.store.images()[1]
        path = project.image_path(record.path)
    save_image(path, np.zeros((48, 64, 3), np.uint8))  # another picture under its name
    assert main(["export", str(tmp_path / "d"), str(tmp_path / "out"), "--format", "coco"]) != 0
    line = _one_line(capsys.readouterr().err)
    assert path.name in line and "64x48" in line and "96x96" in line
    assert not (tmp_path / "out").exists()
    # the labels alone go out as drawn, on the size the project knew
    assert main(["export", str(tmp_path / "d"), str(tmp_path / "out"), "--format", "coco",
                 "--no-images"]) == 0


def test_an_empty_split_is_not_exported_as_an_empty_dataset(tmp_path, capsys):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    assert main(["split", str(tmp_path / "d"), "--val", "0", "--test", "0"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "d"), str(tmp_path / "out"), "--format", "yolo",
                 "--split", "test"]) != 0
    assert "the test split has no images" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_full_disk_during_a_copy_names_the_copy(tmp_path, monkeypatch):
    """The backup a migration makes first said "no space left on the disk" and no file."""
    import errno
    import shutil

    from isegui.cli import _os_error_in_words
    from isegui.core import fileio
    (tmp_path / "a.bin").write_bytes(b"x" * 10)

    def full(src, dst, length=0):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(shutil, "copyfileobj", full)
    with pytest.raises(OSError) as caught:
        fileio.copy_new(tmp_path / "a.bin", tmp_path / "b.bin")
    assert _os_error_in_words(caught.value) == f"{tmp_path / 'b.bin'}: no space left on the disk"
    assert not (tmp_path / "b.bin").exists()


def _exported(tmp_path, fmt):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    assert main(["export", str(tmp_path / "d"), str(tmp_path / "set"), "--format", fmt]) == 0
    return tmp_path / "set"


def _link_out(path, elsewhere):
    """Move `path` to `elsewhere` and leave a link in its place."""
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    path.rename(elsewhere)
    path.symlink_to(elsewhere)


@pytest.mark.parametrize("fmt, pattern", [("yolo", "labels/*/*.txt"),
                                          ("masks", "SegmentationObject/*.png")])
def test_a_label_file_linked_out_of_the_import_folder_is_named(tmp_path, capsys, fmt, pattern):
    dataset = _exported(tmp_path, fmt)
    label = sorted(dataset.glob(pattern))[0]
    _link_out(label, tmp_path / "elsewhere" / label.name)
    capsys.readouterr()
    assert main(["import", str(tmp_path / "p"), str(dataset), "--format", fmt]) == 0
    out = capsys.readouterr()
    assert f"{label}: a link to {tmp_path / 'elsewhere' / label.name}" in out.out + out.err
    assert "its labels are read from there" in out.out + out.err


def test_an_image_folder_linked_out_of_the_import_folder_is_named(tmp_path, capsys):
    dataset = _exported(tmp_path, "coco")
    _link_out(dataset / "images", tmp_path / "elsewhere" / "images")
    capsys.readouterr()
    assert main(["import", str(tmp_path / "p"), str(dataset), "--format", "coco"]) == 0
    out = capsys.readouterr()
    said = out.out + out.err
    assert f"{dataset / 'images'}: a link to {tmp_path / 'elsewhere' / 'images'}" in said


def test_sigterm_turned_into_a_library_error_still_stops_cleanly(tmp_path, monkeypatch, capsys):
    """pycocotools turned the SIGTERM raised in its own code into a TypeError: the command
    said "stopped: unexpected TypeError" and exited 1 instead of 143."""
    import os
    import signal

    from isegui.cli import ml_commands

    def evaluate_that_mangles(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except BaseException:
            raise TypeError("an integer is required") from None
    monkeypatch.setattr(ml_commands, "run_evaluate", evaluate_that_mangles)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["evaluate", str(tmp_path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 143
    assert "stopped; nothing half written was kept" in capsys.readouterr().err


def test_a_float_colour_tiff_is_named_as_such(tmp_path):
    import cv2

    from isegui.core.errors import ImageReadError
    from isegui.core.images import load_image
    cv2.imwrite(str(tmp_path / "f.tif"), np.random.default_rng(0).random((20, 30, 3), np.float32))
    with pytest.raises(ImageReadError, match="a TIFF whose pixel layout isegui cannot read"):
        load_image(tmp_path / "f.tif")


# ---------------------------------------------------------------- the ninth try

def _project_of(tmp_path, names):
    """A project of the images `names` (under photos/), one box each, a different one."""
    from shapely.geometry import box
    for name in names:
        save_image(tmp_path / "photos" / name, np.zeros((40, 40, 3), np.uint8))
    assert main(["new", str(tmp_path / "p"), "--images", str(tmp_path / "photos"),
                 "--classes", "part"]) == 0
    with Project.open(tmp_path / "p") as project:
        for k, record in enumerate(project.store.images()):
            project.store.add_instance(record.id, 1, box(2 + 3 * k, 2, 12 + 3 * k, 12))
    return tmp_path / "p"


@pytest.mark.parametrize("fmt", ["yolo", "labelme", "masks"])
def test_images_that_share_a_stem_keep_their_own_labels(tmp_path, fmt):
    project = _project_of(tmp_path, ["a.png", "a.jpg", "b.tif", "B.tiff"])
    assert main(["export", str(project), str(tmp_path / "out"), "--format", fmt]) == 0
    assert main(["import", str(tmp_path / "back"), str(tmp_path / "out"), "--format", fmt]) == 0
    with Project.open(tmp_path / "back", read_only=True) as back:
        boxes = sorted(inst.shape.bounds for _, instances in back.store.iter_labeled()
                       for inst in instances)
    assert len(boxes) == 4 and len(set(boxes)) == 4  # each image its own box, none lost


def test_a_name_with_colons_keeps_its_name(tmp_path):
    project = _project_of(tmp_path, ["cam/part_12:30:01.png", "cam/part_12:30:02.png"])
    assert main(["export", str(project), str(tmp_path / "out"), "--format", "yolo"]) == 0
    images = sorted(p.name for p in (tmp_path / "out").rglob("*.png"))
    assert images == ["part_12_30_01.png", "part_12_30_02.png"]


def test_a_name_that_is_not_text_is_left_out_of_the_results_by_name(tmp_path, capsys):
    import os

    from isegui.cli.ml_commands import _named_in_text
    good = tmp_path / "good.jpg"
    bad = tmp_path / os.fsdecode(b"bad\xff.jpg")
    assert _named_in_text([good, bad]) == [good]
    assert "bad\\xff.jpg: left out, its name is not text" in capsys.readouterr().err


def test_a_line_scan_strip_is_predicted_not_a_failure():
    import torch

    from isegui.ml.model.registry import build_model
    from isegui.ml.model.torch_predictor import Predictor
    model = build_model("fast", num_classes=2, size=128)
    predictor = Predictor(model, ["a", "b"], torch.device("cpu"), threshold=0.0)
    strip = np.full((1, 6000, 3), 120, np.uint8)
    (found,) = predictor.predict([strip])
    assert all(d.box[3] <= 1 for d in found)  # inside the strip, whatever a random model finds


def test_a_line_scan_strip_trains(tmp_path):
    from shapely.geometry import box

    from isegui.ml.train.data import InstanceDataset, Sample
    save_image(tmp_path / "strip.png", np.full((8, 8192, 3), 120, np.uint8))
    sample = Sample(1, tmp_path / "strip.png", 8192, 8, (1,), (box(100, 0, 400, 8),))
    image, target = InstanceDataset([sample], 512)[0]
    assert image.shape[-2:] == (1, 512) and target["masks"].shape[-2:] == (1, 512)


@pytest.mark.parametrize("threshold", ["nan", "7", "-1"])
def test_evaluate_refuses_a_threshold_that_is_no_score(tmp_path, capsys, threshold):
    assert main(["evaluate", str(tmp_path), "--threshold", threshold]) != 0
    assert "--threshold must be a score from 0 to 1" in _one_line(capsys.readouterr().err)


def test_yolo_background_images_and_stem_twins_are_said(tmp_path, capsys):
    data = tmp_path / "yolo"
    for name in ("a.jpg", "b.jpg", "b.png", "empty.jpg"):
        save_image(data / "images" / "train" / name, np.zeros((20, 20, 3), np.uint8))
    (data / "labels" / "train").mkdir(parents=True)
    for stem in ("a", "b"):
        (data / "labels" / "train" / f"{stem}.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (data / "data.yaml").write_text("names: [part]\n")
    assert main(["import", str(tmp_path / "p"), str(data), "--format", "yolo"]) == 0
    out = capsys.readouterr()
    said = out.out + out.err
    assert "images/train/b.jpg and images/train/b.png share its name" in said
    assert "1 image(s) without a label file, the first images/train/empty.jpg" in said
    with Project.open(tmp_path / "p", read_only=True) as project:
        kept = {r.path.rsplit("/", 1)[-1]: len(i) for r, i in project.store.iter_labeled()}
    assert kept == {"a.jpg": 1, "empty.jpg": 0}


def test_a_coco_file_listing_one_image_twice_is_named(tmp_path, capsys):
    import json
    save_image(tmp_path / "src" / "a.png", np.zeros((40, 50, 3), np.uint8))

    def ann(i, image, x):
        return {"id": i, "image_id": image, "category_id": 1, "iscrowd": 0, "area": 100,
                "bbox": [x, 5, 10, 10], "segmentation": [[x, 5, x + 10, 5, x + 10, 15, x, 15]]}
    (tmp_path / "src" / "coco.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40},
                   {"id": 2, "file_name": "./a.png", "width": 50, "height": 40}],
        "annotations": [ann(1, 1, 5), ann(2, 2, 30)],
        "categories": [{"id": 1, "name": "part"}]}))
    for copy in ([], ["--copy"]):
        assert main(["import", str(tmp_path / "p"), str(tmp_path / "src" / "coco.json"),
                     "--format", "coco", *copy]) != 0
        assert "coco.json: lists the image a.png twice" in capsys.readouterr().err


def test_tiff_layouts_opencv_misreads_load_as_stored(tmp_path):
    from isegui.core.errors import ImageReadError
    from isegui.core.images import load_image
    from tests.core.tiff_writer import write_tiff
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (200, 100, 50), 64
    write_tiff(tmp_path / "alpha.tif", rgba, extra_samples=(2,))  # unassociated: Photoshop's
    assert load_image(tmp_path / "alpha.tif")[0, 0].tolist() == [200, 100, 50]
    ramp = np.zeros((20, 30, 4), np.uint8)
    ramp[..., 0], ramp[..., 1], ramp[..., 3] = np.arange(30) * 8, 255 - np.arange(30) * 8, 255
    write_tiff(tmp_path / "planar8.tif", ramp, planar=True, extra_samples=(2,))
    assert np.array_equal(load_image(tmp_path / "planar8.tif"), ramp[..., :3])
    red = np.zeros((20, 30, 3), np.uint16)
    red[..., 0] = 60000
    write_tiff(tmp_path / "planar16.tif", red, planar=True)
    with pytest.raises(ImageReadError, match="planes stored apart"):
        load_image(tmp_path / "planar16.tif")  # both decoders scramble it: refused, not wrong


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_grey_tiff_whose_zero_is_white_loads_the_right_way_round(tmp_path, dtype):
    from isegui.core.images import load_image
    from tests.core.tiff_writer import write_tiff
    stored = np.zeros((10, 10), dtype)
    stored[:, :5] = np.iinfo(dtype).max  # black, where 0 is white
    write_tiff(tmp_path / "x-ray.tif", stored, photometric=0)
    pixels = load_image(tmp_path / "x-ray.tif")
    assert int(pixels[0, 0]) == 0 and int(pixels[0, 9]) == np.iinfo(dtype).max


def _bmp_of_width(width):
    import struct
    return (b"BM" + struct.pack("<IHHI", 118, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, 4, 1, 24, 0, 0, 0, 0, 0, 0) + b"\0" * 64)


def test_files_said_for_what_they_are(tmp_path):
    from PIL import Image, PngImagePlugin

    from isegui.core.errors import ImageReadError
    from isegui.core.images import load_image, probe
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"the file is empty \(0 bytes\)"):
        probe(tmp_path / "zero.png")
    (tmp_path / "neg.bmp").write_bytes(_bmp_of_width(-4))
    with pytest.raises(ImageReadError, match="impossible size"):
        probe(tmp_path / "neg.bmp")
    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", "x" * 2_000_000, zip=True)  # an editor's XMP
    Image.fromarray(np.full((20, 20, 3), 99, np.uint8)).save(tmp_path / "xmp.png", pnginfo=info)
    assert load_image(tmp_path / "xmp.png").shape == (20, 20, 3)
    picture = np.full((40, 50, 3), 99, np.uint8)
    Image.fromarray(picture[:8, :8]).save(tmp_path / "preview.tif", save_all=True,
                                          append_images=[Image.fromarray(picture)])
    with pytest.raises(ImageReadError, match=r"first \(8x8\) is smaller than a later one"):
        probe(tmp_path / "preview.tif")
    Image.fromarray(picture).save(tmp_path / "thumb.tif", save_all=True,
                                  append_images=[Image.fromarray(picture[:8, :8])])
    assert probe(tmp_path / "thumb.tif").width == 50  # a thumbnail after the picture


def test_a_blank_category_a_fifo_data_yaml_and_negative_workers_are_named(tmp_path, capsys):
    import json
    import os
    save_image(tmp_path / "ok.png", np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "c.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "ok.png", "width": 20, "height": 20}],
        "annotations": [], "categories": [{"id": 1, "name": " "}]}))
    assert main(["import", str(tmp_path / "p"), str(tmp_path / "c.json"), "--format", "coco",
                 "--images", str(tmp_path)]) != 0
    assert "c.json: categories[0] (id 1) has no name" in _one_line(capsys.readouterr().err)
    (tmp_path / "y" / "labels").mkdir(parents=True)
    (tmp_path / "y" / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    os.mkfifo(tmp_path / "y" / "data.yaml")
    assert main(["import", str(tmp_path / "q"), str(tmp_path / "y"), "--format", "yolo"]) != 0
    assert "data.yaml: not a plain file" in _one_line(capsys.readouterr().err)
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    assert main(["train", str(tmp_path / "d"), "--workers", "-1", "--epochs", "1"]) != 0
    assert "--workers must be from 0" in _one_line(capsys.readouterr().err)
    with Project.open(tmp_path / "d", read_only=True) as project:
        assert not project.store.runs()  # refused before a run was made


def test_an_import_killed_while_copying_is_taken_up_by_the_next(tmp_path):
    import json
    import shutil
    src = tmp_path / "src"
    for name in ("a.png", "b.png"):
        save_image(src / name, np.full((20, 20, 3), 40 if name == "a.png" else 80, np.uint8))
    (src / "coco.json").write_text(json.dumps({
        "images": [{"id": k, "file_name": n, "width": 20, "height": 20}
                   for k, n in enumerate(["a.png", "b.png"], start=1)],
        "annotations": [], "categories": [{"id": 1, "name": "part"}]}))
    Project.create(tmp_path / "p", classes=["part"]).close()
    (tmp_path / "p" / "images").mkdir()
    shutil.copy2(src / "a.png", tmp_path / "p" / "images" / "a.png")  # copied, then SIGKILL
    save_image(tmp_path / "p" / "images" / "b.png", np.zeros((20, 20, 3), np.uint8))  # another
    assert main(["import", str(tmp_path / "p"), str(src / "coco.json"), "--format", "coco",
                 "--copy"]) == 0
    with Project.open(tmp_path / "p", read_only=True) as project:
        paths = sorted(r.path for r in project.store.images())
    assert paths == ["images/a.png", "images/b-2.png"]  # the user's own b.png left alone
    assert sorted(p.name for p in (tmp_path / "p" / "images").iterdir()) == [
        "a.png", "b-2.png", "b.png"]


@pytest.mark.parametrize("option, value, words", [
    ("--minutes", "nan", "--minutes must be a number above 0"),
    ("--minutes", "inf", "--minutes must be a number above 0"),
    ("--lr", "inf", "--lr must be a number above 0"),
    ("--weight-decay", "-1", "--weight-decay must be a number from 0 up"),
    ("--weight-decay", "nan", "--weight-decay must be a number from 0 up")])
def test_training_settings_that_are_no_numbers_are_refused_before_a_run(tmp_path, capsys,
                                                                         option, value, words):
    """--minutes nan trained for ever (its budget never ran out)."""
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    assert main(["train", str(tmp_path / "d"), option, value]) != 0
    assert words in _one_line(capsys.readouterr().err)
    with Project.open(tmp_path / "d", read_only=True) as project:
        assert not project.store.runs()


def test_a_16_bit_tiff_with_alpha_keeps_its_depth(tmp_path):
    from isegui.core.images import load_image
    from tests.core.tiff_writer import write_tiff
    rgb = np.random.default_rng(0).integers(0, 4096, (32, 48, 3)).astype(np.uint16)  # 12 bits
    alpha = np.full((32, 48, 1), 65535, np.uint16)
    write_tiff(tmp_path / "rgba16.tif", np.concatenate([rgb, alpha], 2), extra_samples=(2,))
    pixels = load_image(tmp_path / "rgba16.tif")
    assert pixels.dtype == np.uint16 and np.array_equal(pixels, rgb)


def test_a_planar_tiff_missing_planes_is_refused(tmp_path):
    import struct

    from isegui.core.errors import ImageReadError
    from isegui.core.images import load_image
    from tests.core.tiff_writer import write_tiff
    rgb = np.full((10, 12, 3), 117, np.uint8)
    write_tiff(tmp_path / "planar.tif", rgb, planar=True)
    data = bytearray((tmp_path / "planar.tif").read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for k in range(struct.unpack_from("<H", data, ifd)[0]):  # three strip offsets said one
        entry = ifd + 2 + 12 * k
        if struct.unpack_from("<H", data, entry)[0] in (273, 279):
            struct.pack_into("<I", data, entry + 4, 1)
            first = struct.unpack_from("<I", data, struct.unpack_from("<I", data, entry + 8)[0])
            struct.pack_into("<I", data, entry + 8, first[0])
    (tmp_path / "planar.tif").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="strips for fewer: the file is damaged"):
        load_image(tmp_path / "planar.tif")


def test_a_labelme_picture_unlike_the_file_beside_it_is_refused(tmp_path, capsys):
    import base64
    import json
    import shutil
    dataset = _exported(tmp_path, "labelme")
    doc = json.loads((dataset / "scene_000.json").read_text())
    doc["imageData"] = base64.b64encode((dataset / "scene_000.jpg").read_bytes()).decode()
    (dataset / "scene_000.json").write_text(json.dumps(doc))
    assert main(["import", str(tmp_path / "same"), str(dataset), "--format", "labelme"]) == 0
    shutil.copy(dataset / "scene_001.jpg", dataset / "scene_000.jpg")  # another picture
    capsys.readouterr()
    assert main(["import", str(tmp_path / "p"), str(dataset), "--format", "labelme"]) != 0
    assert "another picture than the one" in _one_line(capsys.readouterr().err)


def test_class_names_that_yaml_reads_as_numbers_keep_their_text(tmp_path):
    from isegui.core.formats.yolo import _class_names
    (tmp_path / "data.yaml").write_text("nc: 4\nnames: {0: 0123, 1: 1_000, 2: 12:30, 3: 7}\n")
    assert _class_names(tmp_path, tmp_path) == ["0123", "1_000", "12:30", "7"]
    (tmp_path / "data.yaml").write_text("names: [0x1F, 1.50, scratch]\n")
    assert _class_names(tmp_path, tmp_path) == ["0x1F", "1.50", "scratch"]


@pytest.mark.parametrize("how", ["add", "import"])
def test_a_copy_cut_by_a_kill_is_made_again_whole(tmp_path, how):
    """SIGKILL in the middle of a copy left images/a.png cut short; the next add recorded
    a-2.png beside it and left the cut file for ever."""
    import json
    src = tmp_path / "src"
    save_image(src / "a.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    (src / "coco.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}],
        "annotations": [], "categories": [{"id": 1, "name": "part"}]}))
    Project.create(tmp_path / "p", classes=["part"]).close()
    (tmp_path / "p" / "images").mkdir()
    whole = (src / "a.png").read_bytes()
    (tmp_path / "p" / "images" / "a.png").write_bytes(whole[:len(whole) // 2])
    command = (["add", str(tmp_path / "p"), str(src / "a.png"), "--copy"] if how == "add" else
               ["import", str(tmp_path / "p"), str(src / "coco.json"), "--format", "coco",
                "--copy"])
    assert main(command) == 0
    with Project.open(tmp_path / "p", read_only=True) as project:
        assert [r.path for r in project.store.images()] == ["images/a.png"]
    assert (tmp_path / "p" / "images" / "a.png").read_bytes() == whole
    assert [p.name for p in (tmp_path / "p" / "images").iterdir()] == ["a.png"]


def test_the_work_folder_of_a_killed_export_is_removed_by_the_next(tmp_path):
    from isegui.core.formats.exporter import WORK_LOCK
    from isegui.core.store.lock import ProjectLock
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    killed, running = tmp_path / ".ds.abcd1234", tmp_path / ".ds.efgh5678"
    for folder in (killed, running):
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "a.png").write_bytes(b"x" * 1000)
        (folder / WORK_LOCK).write_bytes(b"")
    held = ProjectLock(running / WORK_LOCK)
    assert held.try_acquire()
    try:
        assert main(["export", str(tmp_path / "d"), str(tmp_path / "ds"), "--format", "coco"]) == 0
    finally:
        held.release()
    assert not killed.exists() and running.is_dir()
    assert not list((tmp_path / "ds").rglob(WORK_LOCK))  # the lock is no part of the dataset


def test_weights_saved_with_pickle_are_said_to_be_so_in_one_line(tmp_path, capsys):
    import pickle

    import torch
    with open(tmp_path / "w.pth", "wb") as f:
        pickle.dump({"features.0.weight": torch.zeros((4, 3, 3, 3))}, f, protocol=4)
    assert main(["weights", "add", str(tmp_path / "w.pth")]) != 0
    err = capsys.readouterr().err
    assert "a plain pickle, not a file torch.save wrote" in _one_line(err)


def test_a_project_takes_no_more_classes_than_its_exports_can_bring_back(tmp_path, capsys):
    from isegui.core.entities import MAX_CLASSES
    save_image(tmp_path / "photos" / "a.png", np.zeros((8, 8, 3), np.uint8))
    names = ",".join(f"c{k}" for k in range(MAX_CLASSES + 1))
    assert main(["new", str(tmp_path / "p"), "--images", str(tmp_path / "photos"),
                 "--classes", names]) != 0
    assert f"at most {MAX_CLASSES:,} classes" in _one_line(capsys.readouterr().err)


def test_a_run_that_ends_before_its_first_epoch_is_a_failure_said_so(tmp_path, capsys):
    from isegui.core.demo import create_demo_project
    from isegui.core.entities import RunStatus
    create_demo_project(tmp_path / "d", n_images=3, width=96, height=96).close()
    assert main(["train", str(tmp_path / "d"), "--minutes", "1e-300", "--size", "96",
                 "--progress", "bar"]) != 0
    assert "ended before its first epoch" in capsys.readouterr().err
    with Project.open(tmp_path / "d", read_only=True) as project:
        (run,) = project.store.runs()
        assert run.status == RunStatus.FAILED and project.active_run_id is None


def test_a_labelme_picture_that_differs_by_one_small_defect_is_refused(tmp_path, capsys):
    import base64
    import json

    import cv2
    base = np.full((240, 320, 3), 128, np.uint8)
    cracked = base.copy()
    cv2.rectangle(cracked, (150, 100), (170, 110), (0, 0, 0), -1)  # what the label marks
    (tmp_path / "lm").mkdir()
    cv2.imwrite(str(tmp_path / "lm" / "part.png"), base)  # the same frame, no crack
    (tmp_path / "lm" / "part.json").write_text(json.dumps({
        "version": "5.2.1", "imagePath": "part.png", "imageHeight": 240, "imageWidth": 320,
        "imageData": base64.b64encode(cv2.imencode(".png", cracked)[1].tobytes()).decode(),
        "shapes": [{"label": "crack", "points": [[150, 100], [170, 100], [170, 110],
                                                 [150, 110]], "shape_type": "polygon"}]}))
    assert main(["import", str(tmp_path / "p"), str(tmp_path / "lm"), "--format",
                 "labelme"]) != 0
    assert "another picture than the one" in _one_line(capsys.readouterr().err)


def test_yolo_class_ids_that_share_a_name_are_said_to_become_one(tmp_path, capsys):
    data = tmp_path / "yolo"
    save_image(data / "images" / "train" / "a.jpg", np.zeros((20, 20, 3), np.uint8))
    (data / "labels" / "train").mkdir(parents=True)
    (data / "labels" / "train" / "a.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (data / "data.yaml").write_text('names: [bolt, bolt, Bolt, "bolt "]\n')
    assert main(["import", str(tmp_path / "p"), str(data), "--format", "yolo"]) == 0
    said = capsys.readouterr()
    assert "class ids 0, 1, 3 share the name 'bolt'" in said.out + said.err


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_a_seed_no_generator_takes_is_refused_before_a_run(tmp_path, capsys, seed):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    assert main(["train", str(tmp_path / "d"), "--seed", seed, "--epochs", "1"]) != 0
    assert "--seed must be from 0 to" in _one_line(capsys.readouterr().err)


def test_exported_class_names_stay_text_to_every_yaml_reader(tmp_path):
    import yaml
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    with Project.open(tmp_path / "d") as project:
        for name in ("1e3", "0o17", "+.5"):
            project.store.add_class(name)
    assert main(["export", str(tmp_path / "d"), str(tmp_path / "y"), "--format", "yolo"]) == 0
    text = (tmp_path / "y" / "data.yaml").read_text()
    assert '"1e3"' in text and '"0o17"' in text and '"+.5"' in text
    assert list(yaml.safe_load(text)["names"].values())[-3:] == ["1e3", "0o17", "+.5"]


def test_output_into_a_closed_pipe_ends_quietly(tmp_path, monkeypatch, capsys):
    """`isegui ... | head`: the reader closed the pipe; no "error: Broken pipe"."""
    import os

    from isegui.cli import project_commands

    def printing_into_a_closed_pipe(args):
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(project_commands, "run_stats", printing_into_a_closed_pipe)
    saved = os.dup(1)
    try:
        assert main(["stats", str(tmp_path)]) == 141
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert capsys.readouterr().err == ""
