"""A run's progress events on disk: `runs/NNNN/events.jsonl`, one JSON object per line
({"event": "step" | "epoch", ...the fields of the event}), appended by the training process
(the main one of a DDP run) as it goes, so the curves of a run can be drawn again later: when
it is resumed, or picked in the runs list. No torch, no Qt."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from isegui.core.fileio import open_no_follow, read_regular_bytes

EVENTS_FILE = "events.jsonl"
LOGGED = ("step", "epoch")  # the events that make the curves


class RunLog:
    """Appends events to a run folder's events file; each line is flushed as it is written,
    so a reader (or a crash) sees whole lines only, except perhaps the last."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / EVENTS_FILE
        self._file: IO[str] | None = None

    def append(self, kind: str, fields: dict[str, Any]) -> None:
        if kind not in LOGGED:
            return
        # never through a link, symbolic or hard (a run folder copied from elsewhere):
        # appending would change the file under its other name too
        if self._file is None:
            fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._file.write(json.dumps({"event": kind, **fields}, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_run_log(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """The step and epoch events of a run, in order. A run that went on from an earlier point
    (resumed after a crash, from its last checkpoint) replaces what it did again: an event
    whose step (epoch) is not after the previous one drops the earlier ones from that step
    (epoch) on. Broken lines (a crash mid-write, bytes that are not UTF-8, JSON nested deeper
    than the parser goes) are skipped. The file is read only as a plain file: the window's
    thread reads it, and a FIFO under that name (a folder copied from elsewhere) would keep it
    waiting for ever."""
    path = Path(folder) / EVENTS_FILE
    try:
        lines = read_regular_bytes(path).splitlines()
    except OSError:
        return []
    events: list[tuple[str, dict[str, Any]]] = []
    last: dict[str, float] = {}
    for line in lines:
        try:
            fields = json.loads(line.decode("utf-8"))
            kind = fields.pop("event")
            key = "step" if kind == "step" else "epoch"
            at = float(fields[key])
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue  # UnicodeDecodeError is a ValueError
        if kind not in LOGGED:
            continue
        if kind in last and at <= last[kind]:  # done again: the later pass counts
            events = [(k, f) for k, f in events if k != kind or f[key] < at]
        last[kind] = at
        events.append((kind, fields))
    return events


def history_events(history: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Curves for a run from before events files: its epoch history (mean losses at the
    epoch's last step, validation metrics)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for h in history:
        losses = {k: v for k, v in h.items() if k == "loss" or k.startswith("loss_")}
        if losses and "step" in h:
            out.append(("step", {"step": h["step"], "epoch": h.get("epoch"), "losses": losses}))
        out.append(("epoch", dict(h)))
    return out
