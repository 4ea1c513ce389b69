"""Files and names a folder of photos can hold that are no image to record (issue 26, items 6
and 10): a FIFO named like an image, a name that is not UTF-8, names of 255 bytes. Each is left
out and named, or kept under a name that fits; none stops the others, none makes isegui wait."""

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.add_images import check_images, find_images
from isegui.core.fileio import atomic_write_text
from isegui.core.formats.exporter import export_dataset
from isegui.core.images import save_image
from isegui.core.project import Project
from tests.core.helpers import add_labeled_image

EXIT_SOME_LEFT_OUT = 1
NAME_MAX = 255  # bytes in one file name: ext4, and NTFS counts UTF-16 units (never more)
LONG = "é" * 2 + "a" * 247 + ".png"  # 255 bytes in UTF-8, the most one name may have
WAIT = 20  # seconds; the fixed code answers at once


def _image(path, seed=0):
    rng = np.random.default_rng(seed)
    save_image(path, rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    return path


def _finishes(call, *args):
    """call(*args) in a thread: its result, or a failure if it still waits after WAIT s."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call(*args)), daemon=True)
    thread.start()
    thread.join(WAIT)
    return thread, result


def _release(fifo: Path) -> None:
    """Let a reader stuck on `fifo` go (it reads an empty file)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


# --------------------------------------------------------------------------- FIFOs (item 6)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_named_like_an_image_is_left_out_and_named_not_waited_on(tmp_path, capsys):
    photos = tmp_path / "photos"
    _image(photos / "a.png")
    fifo = photos / "b.png"
    os.mkfifo(fifo)
    try:
        thread, result = _finishes(main, ["new", str(tmp_path / "proj"), "--images",
                                          str(photos)])
        assert not thread.is_alive(), f"`isegui new` still waits on {fifo} after {WAIT} s"
        assert result == [EXIT_SOME_LEFT_OUT]
        err = capsys.readouterr().err
        assert f"{fifo}: not a regular file but a FIFO" in err
        # named directly, and through the window's functions
        thread, result = _finishes(main, ["add", str(tmp_path / "proj"), str(fifo)])
        assert not thread.is_alive() and result == [EXIT_SOME_LEFT_OUT]
        assert f"{fifo}: not a regular file" in capsys.readouterr().err
        checked, problems = check_images(find_images([photos]), sources=[photos])
        assert [c.file.name for c in checked] == ["a.png"] and len(problems) == 1
    finally:
        _release(fifo)
    with Project.open(tmp_path / "proj", read_only=True) as project:
        assert [r.path for r in project.store.images()] == ["../photos/a.png"]


# --------------------------------------------------------------------------- names (item 10)


def _odd_name(folder: Path) -> Path:
    """A file whose name is not UTF-8 (Latin-1 'ü'), as an old Linux share may hold."""
    if sys.platform in ("win32", "darwin"):
        pytest.skip("this file system keeps only Unicode names")
    path = Path(os.fsdecode(os.fsencode(folder) + b"/Pr\xfcfung.png"))
    try:
        _image(path)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    return path


@pytest.mark.parametrize("copy", [False, True])
def test_a_name_that_is_not_utf8_is_left_out_and_named_the_others_added(tmp_path, capsys,
                                                                        copy):
    photos = tmp_path / "photos"
    _image(photos / "a.png")
    _odd_name(photos)
    args = ["new", str(tmp_path / "proj"), "--images", str(photos)] + (["--copy"] if copy else [])
    assert main(args) == EXIT_SOME_LEFT_OUT
    captured = capsys.readouterr()
    assert "1 image added" in captured.out
    assert "Pr\\xfcfung.png: the name is not UTF-8 text" in captured.err
    with Project.open(tmp_path / "proj", read_only=True) as project:
        assert [Path(r.path).name for r in project.store.images()] == ["a.png"]


def test_a_255_byte_name_that_collides_on_copy_is_kept_under_a_name_that_fits(tmp_path,
                                                                              capsys):
    first, second = tmp_path / "week1", tmp_path / "week2"
    _image(first / LONG)
    _image(second / LONG, seed=1)  # another picture, the same long name
    assert main(["new", str(tmp_path / "proj"), "--images", str(first), "--copy"]) == 0
    assert main(["add", str(tmp_path / "proj"), str(second), "--copy"]) == 0
    assert "1 image added" in capsys.readouterr().out
    with Project.open(tmp_path / "proj", read_only=True) as project:
        names = [Path(r.path).name for r in sorted(project.store.images(), key=lambda r: r.id)]
    assert names[0] == LONG and names[1] != LONG and names[1].endswith("-2.png")
    assert all(len(name.encode()) <= NAME_MAX for name in names)
    assert (tmp_path / "proj" / "images" / LONG).read_bytes() == (first / LONG).read_bytes()
    assert (tmp_path / "proj" / "images" / names[1]).read_bytes() \
        == (second / LONG).read_bytes()


def test_255_byte_names_are_written_and_exported_in_every_format(tmp_path):
    atomic_write_text(tmp_path / LONG, "whole")  # its temporary name must fit too
    assert (tmp_path / LONG).read_text() == "whole"
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, LONG)
        add_labeled_image(project, "b.png", seed=1)
        for fmt in ("coco", "labelme", "masks", "yolo"):
            export_dataset(project, fmt, tmp_path / fmt)
            files = [p for p in (tmp_path / fmt).rglob("*") if p.is_file()]
            assert any(p.suffix == ".png" and p.name.startswith("éé") for p in files), fmt
            assert all(len(p.name.encode()) <= NAME_MAX for p in files)
        export_dataset(project, "coco", tmp_path / ("x" * NAME_MAX))  # a long destination


def test_names_equal_but_for_unicode_normalisation_are_exported_apart(tmp_path):
    """é.png spelled é (one code point, Windows) and e + a combining accent (a Mac): one file
    on macOS, where one image and its labels would overwrite the other's."""
    import unicodedata
    with Project.create(tmp_path / "proj") as project:
        add_labeled_image(project, unicodedata.normalize("NFC", "é.png"))
        add_labeled_image(project, unicodedata.normalize("NFD", "é.png"), seed=1)
        for fmt in ("yolo", "labelme"):
            export_dataset(project, fmt, tmp_path / fmt)
            names = [unicodedata.normalize("NFC", p.name).casefold()
                     for p in (tmp_path / fmt).rglob("*") if p.is_file()]
            assert len(names) == len(set(names)), (fmt, sorted(names))


def test_a_file_and_a_folder_never_share_a_name_in_an_export(tmp_path):
    """a.png/x.png (a folder named a.png) and b/x.png keep their folders; c/a.png went flat to
    a.png, a file where the folder a.png is: every format failed. As Windows compares names,
    A.PNG/x.png clashes with a.png just the same."""
    import unicodedata
    for case, folder in (("exact", "a.png"), ("case", "A.PNG")):
        with Project.create(tmp_path / case / "proj") as project:
            for seed, name in enumerate((f"{folder}/x.png", "b/x.png", "c/a.png")):
                add_labeled_image(project, name, seed=seed)
            for fmt in ("coco", "labelme", "masks", "yolo"):
                out = tmp_path / case / fmt
                export_dataset(project, fmt, out)
                names = [unicodedata.normalize("NFC", p.relative_to(out).as_posix()).casefold()
                         for p in out.rglob("*")]
                assert len(names) == len(set(names)), (case, fmt, sorted(names))
                assert any(n.endswith("/a-2.png") or n == "a-2.png" for n in names), names
