"""Which file the watch judged under each name, kept for a restart: beside the results file
(RESULTS.judged), one JSON line per judged part with its name's label and the file's size and
time stamp. After a restart a file under a name judged before is judged again unless it is
that file. The results file alone cannot tell: its time is its own drive's clock (a share,
another disk) and a part moved into the folder keeps its times (on Windows its creation time
too), so a new part under a reused name looked judged."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from pathlib import Path

from isegui.core.errors import IseguiError
from isegui.core.fileio import open_no_follow
from isegui.core.one_line import one_line

log = logging.getLogger(__name__)

SUFFIX = ".judged"
LINE_LIMIT = 4096  # bytes: a longer line is no line of ours
Stamp = tuple[int, int]  # (size, mtime_ns) of a judged file


def judged_path(results: Path) -> Path:
    return results.with_name(results.name + SUFFIX)


class JudgedFiles:
    """The judged files' stamps, appended as parts are judged. Failing to keep one costs a
    part judged twice after a restart, never a part left unjudged: it is said once and the
    line goes on."""

    def __init__(self, results: Path):
        self.path = judged_path(results)
        self._said = False

    def read(self, labels: Collection[str]) -> dict[str, Stamp]:
        """The last stamp kept for each of `labels`; lines that do not read are skipped."""
        wanted, stamps = set(labels), {}
        try:
            fd = open_no_follow(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        except (OSError, IseguiError) as exc:
            log.warning("%s", one_line(f"{self.path} cannot be read ({exc}): a file under a "
                                       "name judged before is judged again if written since"))
            return {}
        with os.fdopen(fd, "rb") as file:
            for line in iter(lambda: file.readline(LINE_LIMIT + 1), b""):
                if len(line) > LINE_LIMIT:
                    while line and not line.endswith(b"\n"):  # its rest, a bit at a time
                        line = file.readline(LINE_LIMIT)
                    continue
                try:
                    row = json.loads(line)
                    name, stamp = row["file"], (row["size"], row["mtime_ns"])
                except (ValueError, TypeError, KeyError):
                    continue
                if name in wanted and all(type(v) is int for v in stamp):
                    stamps[name] = stamp
        return stamps

    def add(self, label: str, stamp: Stamp) -> None:
        line = json.dumps({"file": label, "size": stamp[0], "mtime_ns": stamp[1]},
                          ensure_ascii=True) + "\n"
        try:
            fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, line.encode("ascii"))
            finally:
                os.close(fd)
        except (OSError, IseguiError) as exc:
            if not self._said:
                self._said = True
                log.warning("%s", one_line(f"{self.path} cannot be written ({exc}): after a "
                                           "restart, parts under names judged before may be "
                                           "judged again"))


def stamp_of(identity: tuple[int, ...]) -> Stamp:
    """The stamp of a watched_files.file_identity."""
    return identity[2], identity[3]
