"""What labeling really costs here: one line per instance the window added with a tool (which
tool, how many clicks, how many seconds, and the clicks themselves), appended to
`labeling_log.jsonl` in the project folder, read back as clicks and seconds per instance per
tool. Simulated annotators overstate what a click model saves (RClicks); this is the inspector's
own figure, and the clicks are what the click model can learn from next (issue 30)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from isegui.core.fileio import inside_folder, open_no_follow
from isegui.core.project import LABELING_LOG_FILE
MAX_LINE = 64 * 1024  # bytes: a line longer than this is no entry of ours
MAX_READ = 64 * 1024 * 1024  # bytes read at most (a log of ~300,000 instances)


@dataclass(frozen=True)
class LabelingEntry:
    tool: str  # click, box-mask, polygon
    clicks: int  # each press the instance took (a box: 2)
    seconds: float  # from the first press to the instance added
    image_id: int
    points: tuple[tuple[float, float, bool], ...] = field(default=())  # (x, y, positive)

    def as_line(self) -> str:
        return json.dumps({"tool": self.tool, "clicks": self.clicks,
                           "seconds": round(self.seconds, 2), "image_id": self.image_id,
                           "points": [[round(x, 1), round(y, 1), bool(p)]
                                      for x, y, p in self.points]}) + "\n"


def log_path(project_folder: Path) -> Path:
    return inside_folder(project_folder, project_folder / LABELING_LOG_FILE)


def append_entry(project_folder: Path, entry: LabelingEntry) -> None:
    """One line added at the end (a link or a file that is not a plain one is refused:
    UnsafePathError)."""
    fd = open_no_follow(log_path(project_folder), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "a", encoding="utf-8", newline="") as f:
        f.write(entry.as_line())


def read_entries(project_folder: Path) -> list[LabelingEntry]:
    """The log's entries; lines that are not one (damaged, cut short) are passed over."""
    path = log_path(project_folder)
    try:
        fd = open_no_follow(path, os.O_RDONLY)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_READ)
    entries = []
    for line in data.split(b"\n"):
        entry = _entry(line) if 0 < len(line) <= MAX_LINE else None
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(line: bytes) -> LabelingEntry | None:
    try:
        data = json.loads(line)
        clicks, seconds = data["clicks"], data["seconds"]
        if not (isinstance(data["tool"], str) and type(clicks) is int and 0 < clicks < 10_000
                and isinstance(seconds, (int, float)) and 0 <= seconds < 86_400):
            return None
        points = tuple((float(x), float(y), bool(p)) for x, y, p in data.get("points", ()))
        return LabelingEntry(data["tool"][:40], clicks, float(seconds), int(data["image_id"]),
                             points)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


@dataclass(frozen=True)
class ToolEffort:
    tool: str
    instances: int
    mean_clicks: float
    median_seconds: float


def effort_by_tool(entries: Sequence[LabelingEntry]) -> list[ToolEffort]:
    """Clicks (mean) and seconds (median: a coffee break is not a slow tool) per instance,
    per tool, the most used tool first."""
    tools: dict[str, list[LabelingEntry]] = {}
    for entry in entries:
        tools.setdefault(entry.tool, []).append(entry)
    return sorted((ToolEffort(tool, len(found), statistics.fmean(e.clicks for e in found),
                              statistics.median(e.seconds for e in found))
                   for tool, found in tools.items()), key=lambda t: -t.instances)
