"""The labeling log: each instance's tool, clicks and seconds, appended in the project folder
and read back as what labeling costs per tool."""

import os

import pytest

from isegui.core.errors import UnsafePathError
from isegui.core.labeling_log import (LABELING_LOG_FILE, LabelingEntry, append_entry,
                                      effort_by_tool, read_entries)


def test_entries_are_appended_and_read_back_with_their_clicks(tmp_path):
    first = LabelingEntry("click", 2, 3.5, 7, ((10.0, 12.5, True), (30.0, 12.0, False)))
    append_entry(tmp_path, first)
    append_entry(tmp_path, LabelingEntry("polygon", 14, 20.0, 7))
    assert read_entries(tmp_path) == [first, LabelingEntry("polygon", 14, 20.0, 7)]


def test_damaged_lines_are_passed_over_and_the_rest_kept(tmp_path):
    append_entry(tmp_path, LabelingEntry("click", 1, 2.0, 1))
    with open(tmp_path / LABELING_LOG_FILE, "a", encoding="utf-8") as f:
        f.write('{"tool": "click", "clicks": -3, "seconds": 1, "image_id": 1}\n')
        f.write('{"tool": "click", "clicks": true, "seconds": 1, "image_id": 1}\n')
        f.write("[[[[[[[[[[[[" * 2000 + "\n")
        f.write('{"tool": "click", "clicks": 2, "seconds": 4')  # a write cut short
    assert [e.clicks for e in read_entries(tmp_path)] == [1]


def test_a_log_that_is_a_link_is_neither_written_through_nor_read(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    project = tmp_path / "p"
    project.mkdir()
    os.symlink(outside, project / LABELING_LOG_FILE)
    with pytest.raises(UnsafePathError):
        append_entry(project, LabelingEntry("click", 1, 1.0, 1))
    with pytest.raises(UnsafePathError):
        read_entries(project)
    assert outside.read_text() == "keep me\n"


def test_effort_per_tool_is_mean_clicks_and_median_seconds_most_used_first():
    entries = [LabelingEntry("click", n, s, 1) for n, s in ((1, 2.0), (3, 4.0), (2, 600.0))]
    entries.append(LabelingEntry("polygon", 12, 30.0, 1))
    click, polygon = effort_by_tool(entries)
    assert (click.tool, click.instances, click.mean_clicks, click.median_seconds) == \
        ("click", 3, 2.0, 4.0)
    assert (polygon.tool, polygon.instances, polygon.mean_clicks) == ("polygon", 1, 12.0)
