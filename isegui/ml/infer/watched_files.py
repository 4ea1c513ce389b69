"""What the line watch knows of a file in its folder: its name as the results give it, which
file is under a name (a camera writing each part as part.png puts another file there), whether
it was written since a time, and a checksum of its bytes that never waits on it."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from isegui.core.errors import ImageReadError
from isegui.core.images import open_image_file

DIGEST_SAMPLES, DIGEST_BLOCK = 16, 1 << 16  # what is read of an unreadable file at a look


def file_label(path: Path) -> str:
    """The name as the results file and the screen give it, one label per name. A name that
    is not UTF-8 (bytes a Linux share can hold) shows its odd bytes as \\xNN, and then (as in
    any name holding a backslash) a backslash of its own is written twice: the bytes a\\xff
    and the characters `a\\xff` are two names, never one label (the second part would never
    be judged). Writing a label never fails; a restart finds the same label for a file."""
    raw = os.fsencode(path.name)
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        name = None
    if name is not None and "\\" not in name:
        return name
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def stat_of(path: Path) -> os.stat_result | None:
    """The file under `path`; a link that leads nowhere (a share that is down) as itself, a
    part the watch judges unreadable; None when nothing is there."""
    try:
        return path.stat()
    except OSError:
        try:
            return path.lstat()
        except OSError:
            return None


def file_identity(path: Path) -> tuple[int, ...] | None:
    """Which file is under `path` (a file written elsewhere and renamed in is another), or
    None when none is. Its inode is 0 on some Windows file systems: size and times tell
    files apart there."""
    stat = stat_of(path)
    return None if stat is None else identity_of(stat)


def identity_of(stat: os.stat_result) -> tuple[int, ...]:
    # ctime too: a part rewritten in place keeps its inode and may keep its size and the
    # time stamp a copy sets back, but not the time its contents last changed
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def changed_after(identity: tuple[int, ...], ns: int) -> bool:
    """Whether the file was written (or renamed in: its ctime) after `ns`."""
    return max(identity[3], identity[4]) > ns


def written_until(results: os.stat_result | None, folder: Path) -> int | None:
    """When the results file was last written, by the clock of the watched folder's file
    system (the same one when it is on the same device), or None."""
    folder_stat = stat_of(folder)
    if results is None or folder_stat is None or folder_stat.st_dev != results.st_dev:
        return None
    return results.st_mtime_ns


def real_path(folder: Path) -> str:
    return os.path.realpath(folder)


def path_exists(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def bytes_digest(path: Path) -> int:
    """A checksum of the file's bytes, or of DIGEST_SAMPLES blocks spread over a large file (a
    copy filling it changes one of them every 1/16 of the way; no more than 1 MiB is read at a
    look); -1 when it cannot be read."""
    try:  # a FIFO swapped in since the listing is never waited on
        with open_image_file(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size <= DIGEST_SAMPLES * DIGEST_BLOCK:
                return zlib.crc32(f.read())
            crc = 0
            for k in range(DIGEST_SAMPLES):
                f.seek((size - DIGEST_BLOCK) * k // (DIGEST_SAMPLES - 1))
                crc = zlib.crc32(f.read(DIGEST_BLOCK), crc)
            return crc
    except (OSError, ImageReadError):
        return -1


def link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError as exc:
        return str(exc)
