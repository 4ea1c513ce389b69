"""One editor per project (and one process per training run): an OS file lock, released by
the OS if the process dies. The lock file is written and truncated, so it is opened only as a
plain file and never through a link, symbolic or hard (a copied folder's link would make the
lock overwrite whatever it points at, the project file included)."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from isegui.core.errors import ProjectLockedError, UnsafePathError
from isegui.core.fileio import open_no_follow

if sys.platform == "win32":  # pragma: no cover - exercised on the Windows runner
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class ProjectLock:
    """Held while a project is open for editing. A second holder gets ProjectLockedError."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        if not self.try_acquire():
            raise ProjectLockedError(
                f"{self.path.parent}: this project is already open in another isegui"
                f"{self.holder()}; close it there first (or open this one read-only)")

    def try_acquire(self) -> bool:
        """Take the lock if no live process holds it; False (nothing held) if one does."""
        fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            return False
        # Byte 0 carries the lock on Windows, so the note about the holder starts after it.
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        os.lseek(fd, 1, os.SEEK_SET)
        os.write(fd, note)
        os.ftruncate(fd, 1 + len(note))
        self._fd = fd
        return True

    def _note(self) -> dict[str, Any]:
        """What the holder wrote about itself ({"pid", "host"}), or {} when unreadable."""
        try:
            with os.fdopen(open_no_follow(self.path, os.O_RDONLY), "rb") as f:
                f.seek(1)  # byte 0 carries the lock on Windows
                note = json.loads(f.read(4096).decode() or "{}")
        except (OSError, ValueError, UnsafePathError):
            return {}
        return note if isinstance(note, dict) else {}

    def holder_host(self) -> str | None:
        """The host name the holder noted, if any."""
        return self._note().get("host")

    def held_elsewhere(self) -> bool:
        """True when a live process on another host holds the lock (it is tried, and let go
        at once if it was free)."""
        if not self.path.is_file() or self.held:
            return False
        if self.try_acquire():
            self.release()
            return False
        host = self.holder_host()
        return host is not None and host != socket.gethostname()

    def holder(self) -> str:
        """" (process P on HOST)" as the holder noted it, or ""."""
        note = self._note()
        if "pid" in note and "host" in note:
            return f" (process {note['pid']} on {note['host']})"
        return ""

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
