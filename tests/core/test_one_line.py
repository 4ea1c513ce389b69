"""Text from outside made safe for one terminal line (issue 26, the re-test): a name or a value
holding a line break, ESC, NUL, a Unicode line separator or a bidi override prints escaped on
its own line; a huge one is cut. `isegui new`/`add` name the files they leave out that way."""

from __future__ import annotations

import os
import sys

import pytest

from isegui.core.add_images import check_images, path_warnings
from isegui.core.one_line import ELLIPSIS, MAX_CHARS, one_line


@pytest.mark.parametrize("text, shown", [
    ("plain name.png", "plain name.png"),
    ("x\nerror: nothing wrong.jpg", "x\\nerror: nothing wrong.jpg"),
    ("a\rb\tc", "a\\rb\\tc"),
    ("\x1b]0;PWNED\x07\x1b[2J", "\\x1b]0;PWNED\\x07\\x1b[2J"),
    ("nul\x00here", "nul\\x00here"),
    ("del\x7f c1\x85 csi\x9b", "del\\x7f c1\\x85 csi\\x9b"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("bidi\u202egnp.exe\u2066\u200b", "bidi\\u202egnp.exe\\u2066\\u200b"),
    ("C:\\data\\part.png", "C:\\data\\part.png"),  # a backslash stays as it is
    ("é ß 日本 \u00a0nbsp 😀", "é ß 日本 \u00a0nbsp 😀"),  # printable text is kept
    (os.fsdecode(b"part\xff.png") if sys.platform != "win32" else "part\udcff.png",
     "part\\xff.png"),  # a byte that is no UTF-8
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
])
def test_characters_a_terminal_acts_on_are_shown_escaped(text, shown):
    assert one_line(text) == shown
    assert one_line(text).isprintable() or "\u00a0" in text
    assert one_line(one_line(text)) == one_line(text)  # escaping twice changes nothing
    one_line(text).encode("utf-8")  # it prints


def test_a_huge_text_is_cut_with_an_ellipsis_and_quickly():
    huge = "mm" * 5_000_000 + "\n"
    shown = one_line(huge)
    assert len(shown) == MAX_CHARS and shown.endswith(ELLIPSIS)
    assert one_line("x" * MAX_CHARS) == "x" * MAX_CHARS
    assert one_line("x" * (MAX_CHARS + 1)) == "x" * (MAX_CHARS - 3) + ELLIPSIS


def test_an_escape_is_never_cut_in_half():
    shown = one_line("\x1b" * 200, limit=20)
    assert shown == "\\x1b" * 4 + ELLIPSIS


def test_paths_and_other_objects_are_shown_by_their_text(tmp_path):
    assert one_line(tmp_path / "a\nb.png") == f"{tmp_path}{os.sep}a\\nb.png"
    assert one_line(ValueError("bad\x00value")) == "bad\\x00value"


@pytest.mark.skipif(sys.platform == "win32", reason="names Windows cannot hold")
def test_a_file_left_out_cannot_forge_a_line_of_its_own(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    forged = folder / "x\nerror: nothing wrong, all fine.jpg"
    forged.write_bytes(b"not a picture")
    escape = folder / "\x1b[2Jclear.png"
    escape.write_bytes(b"\x89PNG\r\n\x1a\n torn")
    checked, problems = check_images([forged, escape])
    assert checked == [] and len(problems) == 2
    for problem in problems:
        assert problem.isprintable() and len(problem.splitlines()) == 1, repr(problem)
    assert problems[0].startswith(f"{folder}/x\\nerror: nothing wrong, all fine.jpg: ")
    assert problems[1].startswith(f"{folder}/\\x1b[2Jclear.png: ")


def test_a_warning_naming_a_file_is_one_line(tmp_path):
    class Plan:
        file = tmp_path / "far\naway.png"
        stored = "/elsewhere/far\naway.png"
    (warning,) = path_warnings([Plan()])
    assert len(warning.splitlines()) == 1 and "far\\naway.png" in warning
