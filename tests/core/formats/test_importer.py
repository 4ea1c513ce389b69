import json
import os

import numpy as np
import pytest
from shapely.geometry import box

from isegui.core.entities import ImageStatus, Split
from isegui.core.errors import ImportFailed
from isegui.core.formats.exporter import ExportError, export_dataset
from isegui.core.images import save_image
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project
from tests.core.helpers import add_labeled_image


def _coco_dataset(folder, names=("a.png", "b.png"), missing=()):
    folder.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for k, name in enumerate(names, start=1):
        if name not in missing:
            save_image(folder / name, np.zeros((30, 40, 3), np.uint8))
        images.append({"id": k, "file_name": name, "width": 40, "height": 30})
        anns.append({"id": k, "image_id": k, "category_id": 1,
                     "segmentation": [[2, 2, 20, 2, 20, 20, 2, 20]]})
    images.append({"id": 99, "file_name": "empty.png", "width": 40, "height": 30})
    save_image(folder / "empty.png", np.zeros((30, 40, 3), np.uint8))
    (folder / "ann.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "part"}]}))
    return folder / "ann.json"


def test_by_reference_and_by_copy(tmp_path):
    src = _coco_dataset(tmp_path / "src")
    with Project.create(tmp_path / "ref") as p:
        report = import_dataset(p, ImportOptions("coco", src, split=Split.VAL))
        assert report.images_added == 3 and report.instances_added == 2
        assert report.classes_added == ["part"]
        paths = sorted(r.path for r in p.store.images())
        assert paths == ["../src/a.png", "../src/b.png", "../src/empty.png"]
        assert all(r.split == Split.VAL for r in p.store.images())
        # listed by the annotation file without objects: looked at, so labeled (a negative)
        assert p.store.image_by_path("../src/empty.png").status == ImageStatus.LABELED
        assert not (p.folder / "images").exists()
    with Project.create(tmp_path / "copy") as p:
        import_dataset(p, ImportOptions("coco", src, copy=True))
        assert sorted(r.path for r in p.store.images())[0] == "images/a.png"
        copied = (p.folder / "images" / "a.png").read_bytes()
        assert copied == (tmp_path / "src" / "a.png").read_bytes()


def test_existing_images_error_skip_or_replace(tmp_path):
    src = _coco_dataset(tmp_path / "src")
    with Project.create(tmp_path / "p") as p:
        import_dataset(p, ImportOptions("coco", src))
        record = p.store.image_by_path("../src/a.png")
        p.store.add_instance(record.id, None, box(0, 0, 3, 3))  # an edit made since
        with pytest.raises(ImportFailed, match="already in the project"):
            import_dataset(p, ImportOptions("coco", src))
        assert len(p.store.instances(record.id)) == 2
        assert import_dataset(p, ImportOptions("coco", src, existing="skip")).images_skipped == 3
        report = import_dataset(p, ImportOptions("coco", src, existing="replace"))
        assert report.images_replaced == 3 and len(p.store.instances(record.id)) == 1


def test_copy_never_overwrites_a_file_already_there(tmp_path):
    src = _coco_dataset(tmp_path / "src")
    with Project.create(tmp_path / "p") as p:
        save_image(p.folder / "images" / "a.png", np.full((5, 5), 7, np.uint8))
        before = (p.folder / "images" / "a.png").read_bytes()
        import_dataset(p, ImportOptions("coco", src, copy=True))
        assert (p.folder / "images" / "a.png").read_bytes() == before
        assert p.store.image_by_path("images/a-2.png") is not None


def test_copies_named_alike_on_a_mac_or_windows_are_kept_apart(tmp_path):
    """A copy took a name that differs from an image already in the project only in Unicode
    spelling (é NFC or NFD) or case: two files here, one on a Mac (or Windows), where the
    project copied there lost a picture. The project's own names count, not only this
    import's."""
    import unicodedata
    nfc, nfd = (unicodedata.normalize(form, "é.png") for form in ("NFC", "NFD"))
    first = _coco_dataset(tmp_path / "first", names=(nfc,))
    second = _coco_dataset(tmp_path / "second", names=(nfd, "A.PNG"))
    with Project.create(tmp_path / "p") as p:
        save_image(p.folder / "images" / "a.png", np.zeros((30, 40, 3), np.uint8))
        p.store.add_image("images/a.png", 40, 30)
        import_dataset(p, ImportOptions("coco", first, copy=True))
        import_dataset(p, ImportOptions("coco", second, copy=True, existing="skip"))
        stored = {unicodedata.normalize("NFC", r.path) for r in p.store.images()}
        assert {"images/é.png", "images/é-2.png", "images/A-2.PNG"} <= stored
        assert "images/A.PNG" not in stored


def test_missing_images_stop_the_import_and_touch_nothing(tmp_path):
    src = _coco_dataset(tmp_path / "src", missing=("b.png",))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed, match="b.png: file not found") as err:
            import_dataset(p, ImportOptions("coco", src, copy=True))
        assert "the project was not changed" in str(err.value)
        assert p.store.image_count() == 0 and p.store.classes() == []
        assert not (p.folder / "images").exists()
        report = import_dataset(p, ImportOptions("coco", src, skip_missing=True))
        assert report.images_added == 2 and report.images_skipped == 1


def test_a_corrupt_image_is_named(tmp_path):
    src = _coco_dataset(tmp_path / "src")
    (tmp_path / "src" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed, match="b.png: not an image file"):
            import_dataset(p, ImportOptions("coco", src))


def test_exif_rotated_labels_get_a_hint(tmp_path):
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "r.jpg", exif=exif.tobytes())
    doc = {"images": [{"id": 1, "file_name": "r.jpg", "width": 40, "height": 30}],
           "annotations": [], "categories": []}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed, match="EXIF orientation \\(6\\) turns it by 90"):
            import_dataset(p, ImportOptions("coco", tmp_path / "ann.json"))


def test_export_refuses_a_folder_with_files(project, tmp_path):
    add_labeled_image(project)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_dataset(project, "coco", tmp_path / "out")
    assert [f.name for f in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_export_predictions_with_scores(project, tmp_path):
    record = add_labeled_image(project)
    run = project.store.add_run("r", {})
    project.store.add_predictions(record.id, run.id, [(1, box(1, 1, 9, 9), 0.8),
                                                      (2, box(20, 20, 30, 30), 0.4)])
    project.set_active_run(run.id)
    export_dataset(project, "coco", tmp_path / "out", predictions=True, copy_images=False)
    doc = json.loads((tmp_path / "out" / "annotations" / "instances_train.json").read_text())
    assert sorted(a["score"] for a in doc["annotations"]) == [0.4, 0.8]
    assert not (tmp_path / "out" / "images").exists()


def test_a_name_that_leads_out_of_its_folder_is_refused_whatever_reader_gave_it(
        tmp_path, monkeypatch):
    """A reader's "../b.png" (COCO's split ".." once) was copied into the project folder
    itself, with a warning calling it a link; the import checks every name itself."""
    from isegui.core.formats import coco
    from isegui.core.formats.base import Dataset, SourceImage
    save_image(tmp_path / "b.png", np.zeros((30, 40, 3), np.uint8))
    (tmp_path / "ds").mkdir()
    monkeypatch.setattr(coco, "read", lambda source, images: Dataset(
        images=[SourceImage("../b.png", origin=str(source / "ann.json"))]))
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed, match=r"ann.json: .*'\.\.'") as caught:
            import_dataset(p, ImportOptions("coco", tmp_path / "ds", copy=True))
        assert "link" not in str(caught.value) and p.store.image_count() == 0
    assert not (tmp_path / "p" / "b.png").exists()


def test_an_images_root_that_is_a_file_is_refused(tmp_path):
    """It read as a folder of no images: 'looked for None.*', and an empty import."""
    src = _coco_dataset(tmp_path / "src")
    (tmp_path / "notes.txt").write_text("not a folder\n")
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(ImportFailed) as err:
            import_dataset(p, ImportOptions("coco", src, images_root=tmp_path / "notes.txt"))
        assert p.store.image_count() == 0 and p.store.classes() == []
    assert str(err.value).startswith(f"{tmp_path / 'notes.txt'}: not a folder")


def _no_hidden_names(text):
    assert "/." not in text.replace("\\", "/"), text  # the work folder is no name of the user's


def test_an_export_that_cannot_be_written_names_the_destination_given(project, tmp_path,
                                                                      monkeypatch):
    """mkdtemp's OSError reached the user as it was: '/x/.out.efnzglg5: read-only file
    system', a hidden folder they never named (and already gone)."""
    import errno
    import tempfile
    add_labeled_image(project)
    (tmp_path / "afile").write_text("a file, not a folder")
    with pytest.raises(ExportError) as err:
        export_dataset(project, "coco", tmp_path / "afile" / "out")
    assert str(err.value).startswith(f"{tmp_path / 'afile' / 'out'}: cannot write there (")
    assert "is a file, not a folder" in str(err.value)
    _no_hidden_names(str(err.value))

    def read_only(prefix, dir):  # what a read-only mount says (tests may run as root)
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}abcd1234")
    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkdtemp", read_only)
        with pytest.raises(ExportError) as err:
            export_dataset(project, "coco", tmp_path / "ro" / "out")
    assert str(err.value) == (f"{tmp_path / 'ro' / 'out'}: cannot write there (read-only "
                              "file system); nothing was written")


def test_an_export_failing_inside_its_work_folder_names_the_destination(project, tmp_path,
                                                                       monkeypatch):
    import errno
    from isegui.core.formats import exporter
    add_labeled_image(project)

    def full(source, target):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))
    monkeypatch.setattr(exporter, "copy_new", full)
    with pytest.raises(ExportError) as err:
        export_dataset(project, "coco", tmp_path / "out")
    assert str(err.value) == (f"{tmp_path / 'out' / 'images' / 'train' / 'a.png'}: cannot "
                              "write there (no space left on the disk); nothing was written")
    assert os.listdir(tmp_path) == ["project"]  # no work folder is left

    def moved(source, target):
        raise OSError(errno.EROFS, "Read-only file system", str(source), str(target))
    monkeypatch.setattr(exporter, "copy_new", lambda s, t: None)
    monkeypatch.setattr(exporter, "replace_file", moved)
    with pytest.raises(ExportError, match=r"out: cannot write there \(read-only") as err:
        export_dataset(project, "coco", tmp_path / "out")
    _no_hidden_names(str(err.value))

    def unreadable(source, target):  # an image's own failure still names the image
        raise OSError(errno.EIO, "Input/output error", str(source))
    monkeypatch.setattr(exporter, "copy_new", unreadable)
    with pytest.raises(OSError, match="a.png") as err:
        export_dataset(project, "coco", tmp_path / "out")
    assert err.value.filename == str(project.folder / "images" / "a.png")
