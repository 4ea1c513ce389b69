"""The watch's results file: one row per inspected image appended to a CSV (every cell through
core.csv_cells, so no name is ever a formula there) or a JSON-lines file; read back at a
restart to go on where it ended. Written all or nothing, by one watch at a time."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from isegui.core.csv_cells import CsvDictWriter, unescape_row
from isegui.core.errors import InputFileError
from isegui.core.fileio import not_regular_problem, open_no_follow, writable_inside
from isegui.core.one_line import one_line
from isegui.core.store.lock import ProjectLock

log = logging.getLogger(__name__)

CSV_FIELD_LIMIT = 1 << 24  # what reading back the results accepts in one cell


def _warn(text: str) -> None:
    log.warning("%s", one_line(text))


class ResultsFile:
    """Rows appended as images are inspected. A file another program holds (Excel locks the
    CSV it shows) queues them: they go in, in order, once it lets go. Every cell of the CSV
    goes through core.csv_cells, so a name starting with "=" is never a formula there.

    The file is written only as a plain file that is no link: a link would append the rows
    wherever it leads (a folder copied from elsewhere may hold one), and opening a FIFO waits
    for ever. Such a file is refused when the watch starts, and at each write too."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path, self.columns = path, list(columns)
        self.waiting: list[dict[str, Any]] = []
        self.jsonl = path.suffix.lower() in (".jsonl", ".json")
        self.damaged = 0  # lines of a JSON-lines file that did not read back
        if path.suffix.lower() not in (".csv", ".jsonl", ".json"):
            raise InputFileError(path, "results go to a .csv or .jsonl file (an image or a "
                                       "project file of that name would be written over)")
        self._refuse_unusable()
        # one watch per results file: two would judge every image twice, each writing a row
        self.lock = ProjectLock(path.with_name(path.name + ".lock"))
        self.hold()
        weakref.finalize(self, self.lock.release)

    def hold(self) -> None:
        """Take the results file's lock (InputFileError, in one line, when another watch
        holds it)."""
        if not self.lock.held and not self.lock.try_acquire():
            raise InputFileError(self.path, f"another watch writes its results here"
                                 f"{self.lock.holder()}: one watch per results file (stop the "
                                 "other, or give this one another --out)")

    def _refuse_unusable(self) -> None:
        """InputFileError (in one line) for a results file that is a link, a FIFO or anything
        but a plain file; one that does not exist yet is made at the first row."""
        writable_inside(self.path.parent, self.path)
        try:
            mode = self.path.stat().st_mode  # no link: the file's own
        except OSError:
            return  # not there yet, or not to be looked at now: the writes say so
        problem = not_regular_problem(mode)
        if problem is not None:
            raise InputFileError(self.path, f"cannot hold the results: {problem}")

    def done_files(self) -> set[str]:
        """The files a run before this one already inspected (a restart goes on from there).
        A file that is not isegui's results (another header, not JSON lines of rows, not
        readable back) is refused (InputFileError) and left as it is; a damaged JSON line is
        skipped and counted. A last row without its line end is mended only then: kept with a
        line end when it is whole, taken off (its image judged again) when a failed write cut
        it."""
        if not self.path.is_file():
            return set()
        try:
            # newline="": a name holding a line break (U+2028 too) stays in its own row;
            # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark
            with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as f:
                text = f.read()
            csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
            rows = self._json_rows(text.split("\n")) if self.jsonl else \
                self._csv_rows(csv.DictReader(io.StringIO(text, newline="")))
        except (OSError, csv.Error, TypeError, ValueError) as exc:
            raise InputFileError(self.path, f"cannot read back the images inspected before "
                                 f"({exc}); move it away to start a new results file") from None
        if text and not text.endswith("\n"):
            rows = self._mend_last_row(text, rows)
        return {str(r["file"]) for r in rows if r.get("file") is not None}

    def _csv_rows(self, reader: csv.DictReader[str]) -> list[dict[str, Any]]:
        """The rows of a results CSV this watch can append to: one whose columns are other
        (another model's classes, or no results at all) would get rows that do not fit."""
        if self.columns and reader.fieldnames is not None \
                and list(reader.fieldnames) != self.columns:  # no columns: only reading it
            raise ValueError(f"its columns ({', '.join(reader.fieldnames)[:200]}) are not this "
                             f"watch's ({', '.join(self.columns)[:200]}): another model's "
                             "classes?")
        return [unescape_row(row) for row in reader]

    def _json_rows(self, lines: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for line in filter(str.strip, lines):
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                row = None
            if not rows and not self.damaged and not (isinstance(row, dict) and "file" in row):
                # a JSON document (an array of rows too), no results of a watch
                raise ValueError("its first line is no row of a watch's results: not a "
                                 "JSON-lines results file")
            if isinstance(row, dict):
                rows.append(row)
            else:
                self.damaged += 1
        if self.damaged and not rows:
            raise ValueError("no line of it is a row of a watch's results")
        return rows

    def _mend_last_row(self, text: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The file ends without a line end: the last row is whole (a file saved by another
        program) and gets one, or a failed write cut it and it is taken off."""
        if self.jsonl:
            try:
                whole = isinstance(json.loads(text.rsplit("\n", 1)[-1]), dict)
            except (ValueError, RecursionError):
                whole = False
        else:  # a row cut short lacks its last cells
            whole = bool(rows) and all(rows[-1].get(c) is not None for c in self.columns)
        with os.fdopen(open_no_follow(self.path, os.O_RDWR), "r+b") as f:
            end = f.seek(0, os.SEEK_END)
            if whole:
                f.write(b"\n" if self.jsonl else b"\r\n")
                return rows
            keep, pos = 0, end
            while pos > 0:  # back to the last line break: what is after it is the cut row
                step = min(pos, 1 << 16)
                f.seek(pos - step)
                cut = f.read(step).rfind(b"\n")
                if cut >= 0:
                    keep = pos - step + cut + 1
                    break
                pos -= step
            f.truncate(keep)
        _warn(f"{self.path}: its last row was cut off (a failed write); taken off, so its "
              "image is judged again")
        if self.jsonl:
            self.damaged -= 1
            return rows
        return rows[:-1]

    def add(self, row: dict[str, Any]) -> None:
        self.waiting.append(row)
        self.flush()

    def flush(self) -> bool:
        """Write what waits, all of it or none (a write cut short by a full disk is taken
        back); False while the file cannot be written (the rows stay queued)."""
        if not self.waiting:
            return True
        try:
            fd = open_no_follow(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        except (OSError, InputFileError) as exc:  # InputFileError: made a link or FIFO since
            _warn(f"{self.path} cannot be written ({exc}): {len(self.waiting)} rows wait")
            return False
        try:
            before = os.fstat(fd).st_size
            data = self._text(new=before == 0).encode("utf-8", errors="backslashreplace")
            if before and _last_byte(fd, before) != b"\n":
                # its last line end was lost since (an editor's save): our row on a line of its
                # own, never joined to that one
                data = (b"\n" if self.jsonl else b"\r\n") + data
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
            except OSError as exc:
                try:
                    os.ftruncate(fd, before)  # no half row left for the next one to join
                except OSError:
                    pass
                _warn(f"{self.path} cannot be written ({exc}): {len(self.waiting)} rows wait")
                return False
        finally:
            os.close(fd)
        self.waiting.clear()
        return True

    def _text(self, new: bool) -> str:
        if self.jsonl:
            return "".join(json.dumps(row, allow_nan=False) + "\n" for row in self.waiting)
        buffer = io.StringIO(newline="")
        writer = CsvDictWriter(buffer, self.columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(self.waiting)
        return buffer.getvalue()


def _last_byte(fd: int, size: int) -> bytes:
    """The file's last byte (os.pread is not on Windows; appends go to the end wherever the
    position is)."""
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1)
