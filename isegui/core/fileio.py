"""Files written whole or not at all, and paths that must stay inside a folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

from isegui.core.errors import FormatError, UnsafePathError


@contextmanager
def atomic_open(path: str | Path, text: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path` through: a temporary file beside it, flushed to disk and renamed
    over `path` when the block ends without an error, so a reader (or a crash) sees the old
    file or the new one, never half of one. Text is UTF-8 with newlines as written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if os.name != "nt":  # mkstemp makes a private 0600 file; the result is a normal one
            os.fchmod(fd, 0o666 & ~current_umask())
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
              else os.fdopen(fd, "wb")) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        replace_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


REPLACE_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)  # seconds; about 6 s in all


def replace_file(source: str | Path, target: str | Path,
                 waits: Iterable[float] = REPLACE_WAITS) -> None:
    """os.replace, tried again for a while when the target is busy: on Windows a file another
    program has open (a predictor reading best.pt, an antivirus scan) cannot be replaced, and
    that passes within moments."""
    for wait in (*waits, None):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if wait is None:
                raise
            time.sleep(wait)


def current_umask() -> int:
    """The process's umask. Linux tells it in /proc; elsewhere reading it means setting it
    (briefly, and not thread-safe), so that is the fallback."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `path` whole or not at all (see atomic_open); the file gets the usual
    permissions (0666 less the umask), like any file the user's programs make."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: object, *, indent: int | None = None) -> None:
    # allow_nan=False: NaN and Infinity are not JSON; other tools would refuse the file
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False))


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; FormatError names the file, the line and what is wrong."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8-sig"))
    except FileNotFoundError:
        raise FormatError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg}") from None
    except RecursionError:
        raise FormatError(path, "JSON nested too deeply to be a label file") from None
    except OSError as exc:
        raise FormatError(path, f"cannot read the file ({exc.strerror or exc})") from None


def safe_relative(name: str, what: str = "file name") -> PurePosixPath:
    """A file name from a data file, as a relative path that cannot leave its folder.

    Refuses absolute paths (POSIX or Windows, drive letters, UNC) and any `..` part."""
    if not name or "\x00" in name:
        raise UnsafePathError(name or "(empty)", f"an empty or invalid {what}")
    win = PureWindowsPath(name)
    if win.drive or win.root or name.startswith(("/", "\\")):
        raise UnsafePathError(name, f"an absolute {what} is not allowed; it must be relative "
                                    "to the folder it comes from")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(name, f"the {what} leaves its folder ('..'); refused")
    if not parts:
        raise UnsafePathError(name, f"an empty {what}")
    return PurePosixPath(*parts)


def copy_new(source: Path, target: Path) -> None:
    """Copy `source` to `target`, which must not exist yet (nothing is overwritten)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    shutil.copystat(source, target)
