import numpy as np
import pytest
from PIL import Image

from isegui.core.add_images import (PlannedImage, add_images, check_images, find_images,
                                    parse_suffixes, path_warnings, plan_images)
from isegui.core.entities import ImageStatus, Split
from isegui.core.errors import InputFileError
from isegui.core.images import save_image
from isegui.core.project import Project


def _image(path, size=(30, 20), seed=0):
    """A random RGB image of `size` (width, height) in the suffix's format."""
    rng = np.random.default_rng(seed)
    save_image(path, rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    return path


def _truncated(path, size=(64, 48)):
    _image(path, size)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    _image(root / "a.jpg")
    _image(root / "B.JPG", seed=1)
    _image(root / "sub" / "c.png", seed=2)
    _image(root / "sub" / "deeper" / "d.bmp", seed=3)
    _image(root / ".cache" / "hidden.png")
    _image(root / ".hidden.png")
    (root / "notes.txt").write_text("not an image")
    return root


def _names(files, root):
    return [f.relative_to(root.resolve()).as_posix() for f in files]


def test_folders_are_walked_sorted_without_hidden_files(photos):
    assert _names(find_images([photos]), photos) == ["B.JPG", "a.jpg", "sub/c.png",
                                                    "sub/deeper/d.bmp"]
    assert _names(find_images([photos], recursive=False), photos) == ["B.JPG", "a.jpg"]


def test_the_extension_filter_ignores_case(photos):
    assert parse_suffixes("JPG, .png") == (".jpg", ".png")
    assert _names(find_images([photos], suffixes=parse_suffixes("jpg")), photos) == [
        "B.JPG", "a.jpg"]
    assert _names(find_images([photos], suffixes=parse_suffixes("png")), photos) == [
        "sub/c.png"]


def test_files_named_directly_are_taken_once_and_a_missing_source_is_named(photos):
    files = find_images([photos / "notes.txt", photos / "a.jpg", photos])
    assert _names(files, photos) == ["notes.txt", "a.jpg", "B.JPG", "sub/c.png",
                                    "sub/deeper/d.bmp"]
    with pytest.raises(InputFileError, match="nothere.*not found"):
        find_images([photos / "nothere"])


def test_the_project_folder_inside_a_source_is_skipped(photos):
    with Project.create(photos / "sub" / "project") as project:
        _image(project.folder / "images" / "copy.png")
        _image(project.folder / "runs" / "0001" / "preview.png")
        assert "copy.png" not in {f.name for f in find_images([photos])}
        inside = find_images([project.folder], project_folder=project.folder)
        assert [f.name for f in inside] == ["copy.png"]  # not the run's files


def test_check_reads_exif_16_bit_and_reports_every_unreadable_file(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60 wide, 40 high: shown turned by 90 degrees
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(root / "turned.jpg",
                                                          exif=exif.tobytes())
    save_image(root / "deep.tif", (np.arange(50 * 70).reshape(50, 70) * 13).astype(np.uint16))
    _truncated(root / "cut.jpg")
    _truncated(root / "cut.png")
    (root / "fake.png").write_text("this is text")
    progress = []
    checked, problems = check_images(find_images([root]),
                                     lambda done, total, what: progress.append((done, total)),
                                     sources=[root])
    sizes = {c.name.as_posix(): (c.width, c.height) for c in checked}
    assert sizes == {"turned.jpg": (40, 60), "deep.tif": (70, 50)}
    assert len(problems) == 3
    for name in ("cut.jpg", "cut.png", "fake.png"):
        line = next(p for p in problems if p.startswith(str((root / name).resolve())))
        assert "corrupt or truncated" in line or "not an image file" in line
    assert progress[-1] == (5, 5)


def test_check_can_stop_early(photos):
    files = find_images([photos])
    calls = []
    checked, problems = check_images(files, stop=lambda: len(calls) >= 2,
                                     progress=lambda *a: calls.append(a))
    assert len(checked) == 2 and not problems


def test_by_reference_unlabeled_and_adding_again_skips(project, photos):
    checked, _ = check_images(find_images([photos]), sources=[photos])
    report = add_images(project, checked, split=Split.VAL)
    assert (report.added, report.already_in_project, report.problems) == (4, 0, [])
    records = project.store.images()
    assert {r.path for r in records} == {"../photos/a.jpg", "../photos/B.JPG",
                                         "../photos/sub/c.png", "../photos/sub/deeper/d.bmp"}
    assert {(r.status, r.split) for r in records} == {(ImageStatus.UNLABELED, Split.VAL)}
    assert (records[0].width, records[0].height) == (30, 20)
    assert not (project.folder / "images").exists()
    again = add_images(project, checked)
    assert (again.added, again.already_in_project) == (0, 4)


def test_copies_keep_subfolders_and_never_overwrite(project, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _image(first / "x.png", seed=1)
    _image(first / "sub" / "y.png", seed=2)
    _image(second / "x.png", seed=3)  # another file of the same name
    _image(project.folder / "images" / "sub" / "y.png", seed=9)  # not the project's: kept
    report = add_images(project, check_images(find_images([first]), sources=[first])[0],
                        copy=True)
    assert report.added == 2
    assert {r.path for r in project.store.images()} == {"images/x.png", "images/sub/y-2.png"}
    assert (project.folder / "images/x.png").read_bytes() == (first / "x.png").read_bytes()
    assert (project.folder / "images/sub/y.png").read_bytes() != (
        first / "sub" / "y.png").read_bytes()

    report = add_images(project, check_images(find_images([second, first]),
                                              sources=[second, first])[0], copy=True)
    assert (report.added, report.already_in_project) == (1, 2)
    assert project.store.image_by_path("images/x-2.png") is not None
    assert (project.folder / "images/x-2.png").read_bytes() == (second / "x.png").read_bytes()


def test_copies_named_alike_on_a_mac_are_kept_apart(project, tmp_path):
    """é.png spelled NFC (Windows) and NFD (a Mac) were both copied to images/ under their
    own spellings: two files on Linux, one on a Mac's disk, where the project copied there
    lost a picture and put one image's labels on another's. Like names that differ only in
    case, the second gets -2."""
    import unicodedata
    nfc, nfd = (unicodedata.normalize(form, "é.png") for form in ("NFC", "NFD"))
    _image(tmp_path / "a" / nfc, seed=1)
    _image(tmp_path / "b" / nfd, seed=2)
    _image(tmp_path / "c" / "É.PNG", seed=3)
    for folder, name in (("a", nfc), ("b", nfd), ("c", "É.PNG")):
        add_images(project, check_images([tmp_path / folder / name])[0], copy=True)
    stored = {unicodedata.normalize("NFC", r.path) for r in project.store.images()}
    assert stored == {"images/é.png", "images/é-2.png", "images/É-3.PNG"}


def test_a_file_inside_the_project_folder_is_not_copied_again(project):
    inside = _image(project.folder / "images" / "own.png")
    checked, _ = check_images([inside])
    plans, already = plan_images(project, checked, set(), copy=True)
    assert [(p.stored, p.copy) for p in plans] == [("images/own.png", False)] and already == 0


def test_nothing_is_written_when_the_transaction_fails(project, photos, monkeypatch):
    checked, _ = check_images(find_images([photos]), sources=[photos])
    original = project.store.add_image
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(project.store, "add_image", failing)
    with pytest.raises(OSError, match="disk full"):
        add_images(project, checked, copy=True)
    assert project.store.image_count() == 0
    assert not [f for f in (project.folder / "images").rglob("*") if f.is_file()]


def test_removed_images_come_back_with_their_ids(project, photos):
    checked, _ = check_images(find_images([photos]), sources=[photos])
    records = add_images(project, checked).records
    for record in records:
        project.store.remove_image(record.id)
    project.store.restore_images(records)
    assert project.store.images() == sorted(records, key=lambda r: r.path)


def test_images_on_another_drive_are_named_in_a_warning(tmp_path):
    on_d = PlannedImage(tmp_path / "x.jpg", "D:/photos/x.jpg", 30, 20, False)
    near = PlannedImage(tmp_path / "y.jpg", "../photos/y.jpg", 30, 20, False)
    assert path_warnings([near]) == []
    (warning,) = path_warnings([near, on_d])
    assert f"by absolute path (1; the first: {tmp_path / 'x.jpg'})" in warning


def test_a_folder_tree_nested_too_deep_is_named_not_a_traceback(tmp_path):
    """os.walk of Python 3.11 recursed: 1,900 folders deep raised RecursionError."""
    from isegui.core.add_images import MAX_DEPTH, find_images
    from isegui.core.errors import InputFileError
    deep = tmp_path / "photos"
    here = deep
    for _ in range(MAX_DEPTH + 2):
        here = here / "d"
    here.mkdir(parents=True)
    with pytest.raises(InputFileError, match="nested over"):
        find_images([deep])


def test_an_empty_file_under_the_name_is_kept_not_taken_for_a_copy_cut_short(project, tmp_path):
    """Any file starts with nothing: an empty file proves no copy (it was SQLite's live WAL
    once), so it stays and the copy goes beside it."""
    source = _image(tmp_path / "src" / "a.png")
    (project.folder / "images").mkdir()
    (project.folder / "images" / "a.png").write_bytes(b"")
    report = add_images(project, check_images([source])[0], copy=True)
    assert report.added == 1 and project.store.images()[0].path == "images/a-2.png"
    assert (project.folder / "images" / "a.png").read_bytes() == b""
