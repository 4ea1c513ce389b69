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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

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
        lock = self.lock.path
        if not self.lock.held and lock.is_file() and lock.stat().st_size > 1 \
                and not self.lock.holder():  # a file of someone's own under that name
            raise InputFileError(lock, "is there and is no watch's lock: isegui keeps its "
                                       "lock under this name; move the file away")
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
        """The files a run before this one already inspected (a restart goes on from there),
        read row by row (a year of rows is not held in memory). A file that is not isegui's
        results (another header, not JSON lines of rows, a line longer than any row) is
        refused (InputFileError) and left as it is; a damaged JSON line is skipped and
        counted. A last row without its line end is mended only then: kept with a line end
        when it is whole, taken off (its image judged again) when a failed write cut it."""
        if not self.path.is_file():
            return set()
        try:
            # newline="": a name holding a line break (U+2028 too) stays in its own row;
            # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark
            with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as f:
                csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
                names, last = self._json_names(_lines(f)) if self.jsonl else \
                    self._csv_names(csv.DictReader(_lines(f)))
            ends_open = _ends_without_line_end(self.path)
        except (OSError, csv.Error, TypeError, ValueError) as exc:
            raise InputFileError(self.path, f"cannot read back the images inspected before "
                                 f"({exc}); move it away to start a new results file") from None
        # a JSON line a failed write cut does not parse; a CSV row it cut lacks cells
        whole = last is None or (bool(last) if self.jsonl else
                                 all(last.get(c) is not None for c in self.columns or ["file"]))
        if ends_open:
            self._mend_last_row(whole)
        if last is not None and (whole or not ends_open) and last.get("file") is not None:
            names.add(str(last["file"]))
        return names

    def _csv_names(self, reader: csv.DictReader[str]
                   ) -> tuple[set[str], dict[str, Any] | None]:
        """The files of a results CSV this watch can append to, but its last row's, and that
        row: one whose columns are other (another model's classes, or no results at all)
        would get rows that do not fit."""
        if self.columns and reader.fieldnames is not None \
                and list(reader.fieldnames) != self.columns:  # no columns: only reading it
            raise ValueError(f"its columns ({', '.join(reader.fieldnames)[:200]}) are not this "
                             f"watch's ({', '.join(self.columns)[:200]}): another model's "
                             "classes?")
        names: set[str] = set()
        last: dict[str, Any] | None = None
        for row in reader:
            if last is not None and last.get("file") is not None:
                names.add(str(last["file"]))
            last = unescape_row(row)
        return names, last

    def _json_names(self, lines: Iterable[str]) -> tuple[set[str], dict[str, Any] | None]:
        """As _csv_names, for JSON lines; the last row is {} when the last line is damaged."""
        names: set[str] = set()
        last: dict[str, Any] | None = None
        seen = False
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                row = None
            if not seen and not (isinstance(row, dict) and "file" in row):
                # a JSON document (an array of rows too), no results of a watch
                raise ValueError("its first line is no row of a watch's results: not a "
                                 "JSON-lines results file")
            if not seen and self.columns and isinstance(row, dict) and \
                    set(row) - set(self.columns):  # another model's classes
                raise ValueError(f"its columns ({', '.join(row)[:200]}) are not this watch's "
                                 f"({', '.join(self.columns)[:200]}): another model's classes?")
            seen = True
            if last and last.get("file") is not None:
                names.add(str(last["file"]))
            if isinstance(row, dict):
                last = row
            else:
                self.damaged += 1
                last = {}
        return names, last

    def _mend_last_row(self, whole: bool) -> None:
        """The file ends without a line end: the last row is whole (a file saved by another
        program) and gets one, or a failed write cut it and it is taken off."""
        with os.fdopen(open_no_follow(self.path, os.O_RDWR), "r+b") as f:
            end = f.seek(0, os.SEEK_END)
            if whole:
                f.write(b"\n" if self.jsonl else b"\r\n")
                return
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
        if self.jsonl:
            self.damaged -= 1  # counted as damaged when read: it was cut, and is gone
        _warn(f"{self.path}: its last row was cut off (a failed write); taken off, so its "
              "image is judged again")

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


MAX_LINE = 1 << 26  # characters: far more than any row a watch writes (its cells are bounded)


def _lines(f: TextIO) -> Iterator[str]:
    """The file's lines, none longer than MAX_LINE (a file of gigabytes without a line break,
    a sparse one, is no results file: never read whole into memory)."""
    while True:
        line = f.readline(MAX_LINE)
        if not line:
            return
        if len(line) >= MAX_LINE and not line.endswith("\n"):
            raise ValueError(f"a line longer than {MAX_LINE >> 20} M characters: no results "
                             "of a watch")
        yield line


def _ends_without_line_end(path: Path) -> bool:
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        return end > 0 and f.seek(end - 1) >= 0 and f.read(1) != b"\n"
