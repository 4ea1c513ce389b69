"""Names Windows treats as something else than a file (windows audit, section 1.1): a device
(CON.png reads the console), a hidden stream (a.png:x), a drive's or a share's path."""

from __future__ import annotations

from pathlib import PureWindowsPath

import pytest

from isegui.core.errors import UnsafePathError
from isegui.core.fileio import safe_relative


@pytest.mark.parametrize("name, words", [
    ("CON.png", "names a device"), ("images/nul.jpg", "names a device"),
    ("COM1.tif", "names a device"), ("aux .png", "names a device"),
    ("a.png:hidden", "hidden stream"), ("images/a:b.png", "hidden stream"),
])
def test_windows_refuses_what_is_no_file_there(name, words):
    with pytest.raises(UnsafePathError, match=words):
        safe_relative(name, windows=True)
    assert safe_relative(name, windows=False).name  # elsewhere a file of that name is a file


@pytest.mark.parametrize("name", [r"\\server\share\a.png", "C:a.png", r"C:\a.png", "/a.png",
                                  "../a.png", r"images\..\..\a.png"])
def test_no_data_file_leads_out_of_its_folder(name):
    with pytest.raises(UnsafePathError):
        safe_relative(name, windows=True)


def test_console_names_inside_words_are_files():
    assert safe_relative("console.png", windows=True).as_posix() == "console.png"
    assert safe_relative("images/COM10.png", windows=True).as_posix() == "images/COM10.png"


def test_a_share_joined_below_a_folder_is_no_longer_below_it():
    """Why the export never joins a record's path as it is: on Windows a UNC path replaces
    the folder it is joined to."""
    assert PureWindowsPath(r"C:\export") / "//server/share/x.png" == PureWindowsPath(
        r"\\server\share\x.png")


def test_copies_whose_names_differ_in_case_only_are_two_files(tmp_path):
    """part.PNG and Part.png (two files here) planned as images/part.PNG and images/Part.png:
    one file on NTFS, where the second copy failed and the whole add was undone."""
    import numpy as np

    from isegui.cli import main
    from isegui.core.images import save_image
    from isegui.core.project import Project
    save_image(tmp_path / "photos" / "part.PNG", np.zeros((8, 8, 3), np.uint8))
    save_image(tmp_path / "photos" / "Part.png", np.ones((8, 8, 3), np.uint8))
    assert main(["new", str(tmp_path / "p"), "--images", str(tmp_path / "photos"),
                 "--classes", "x", "--copy"]) == 0
    with Project.open(tmp_path / "p", read_only=True) as project:
        paths = sorted(r.path for r in project.store.images())
    assert len({p.casefold() for p in paths}) == 2, paths


def test_a_copy_of_a_read_only_image_can_be_undone(tmp_path):
    import os
    import stat

    from isegui.core.fileio import copy_new
    source = tmp_path / "a.png"
    source.write_bytes(b"png")
    os.chmod(source, 0o444)
    copy_new(source, tmp_path / "copy.png")
    assert os.stat(tmp_path / "copy.png").st_mode & stat.S_IWRITE  # Windows: removable


def test_the_export_s_last_rename_waits_for_a_scanner(tmp_path, monkeypatch):
    from isegui.cli import main
    from isegui.core import fileio
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=2, width=64, height=64).close()
    real, refused = fileio.os.replace, []

    def busy_once(src, dst):
        if not refused and str(dst).endswith("out"):
            refused.append(dst)
            raise PermissionError(13, "The process cannot access the file", str(src))
        real(src, dst)
    monkeypatch.setattr(fileio.os, "replace", busy_once)
    assert main(["export", str(tmp_path / "d"), str(tmp_path / "out"), "--format", "coco"]) == 0
    assert refused and (tmp_path / "out" / "annotations").is_dir()


@pytest.mark.parametrize("name, safe", [
    ("CON.jpg", "CON_.jpg"), ("aux.png", "aux_.png"), ("com1.tar.gz", "com1_.tar.gz"),
    ("=cmd|calc.jpg", "=cmd_calc.jpg"), ('a<b>"c?*.png', "a_b__c__.png"),
    ("part_12:30:01.png", "part_12_30_01.png"), ("trailing.", "trailing._"),
    ("console.png", "console.png"), ("COM10.png", "COM10.png"),
    # Windows reads superscript digits as port numbers: COM¹ is a serial port
    ("COM\u00b9.png", "COM\u00b9_.png"), ("com\u00b2.txt", "com\u00b2_.txt"),
    ("LPT\u00b3 .png", "LPT\u00b3 _.png"), ("COM\u00b9\u00b2.png", "COM\u00b9\u00b2.png")])
def test_exported_names_are_names_windows_can_hold(name, safe):
    from isegui.core.fileio import windows_safe_part
    assert windows_safe_part(name) == safe


def test_superscript_ports_in_a_data_file_are_refused_on_windows():
    with pytest.raises(UnsafePathError, match="names a device"):
        safe_relative("images/COM\u00b9.png", windows=True)
