"""Files written whole or not at all, and paths that must stay inside a folder.

A project folder may come from elsewhere (a copy, an archive, a share) holding links to
anywhere, FIFOs, or names no file system of ours keeps. Everything isegui writes, truncates,
deletes or copies inside a folder goes through the checks here, so there is one rule and one
message for each: `inside_folder` (no link or `..` on the way leads out), `writable_inside`
(and the file itself is no link, symbolic or hard), `open_no_follow` (the same at the moment of
opening, where the system can tell), `fitted_name` (names within the 255 bytes a file name may
have). A hard link is another name for the same file, perhaps outside the folder: writing one in
place writes the other. Replacing it whole (`atomic_open`) or removing it leaves the other alone.
"""

from __future__ import annotations

import errno
import filecmp
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import unicodedata
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
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp",
                                   prefix=fitted_name(f".{path.name}", ".", TEMP_PREFIX_MAX))
    except OSError as exc:  # it names the hidden file it tried, which the user never named
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        if sys.platform != "win32":  # mkstemp makes a private 0600 file; the result is normal
            os.fchmod(fd, 0o666 & ~current_umask())
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
              else os.fdopen(fd, "wb")) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        replace_file(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and (str(exc.filename) == tmp or (
                exc.filename is None and exc.errno in _WRITE_ERRNOS)):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


# what a write (which names no file) fails with: a full disk or quota, a read-only mount
_WRITE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EROFS,
                 getattr(errno, "EDQUOT", errno.ENOSPC)}


NAME_MAX = 255  # bytes in one file name (ext4, APFS; NTFS counts UTF-16 units, never more)
# mkstemp adds 8 random characters and ".tmp" to the prefix
TEMP_PREFIX_MAX = NAME_MAX - 8 - len(".tmp")


def folded_name(name: str) -> str:
    """A name (or path) as file systems compare names: case folded (Windows, macOS) and
    normalised (macOS holds one é.png, whichever way é is spelled: NFC from Windows, NFD from
    a Mac); Unicode's canonical caseless match, as folding may undo a normalisation. Two names
    with the same fold are one file somewhere a project or an export may be copied to."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def fitted_name(stem: str, tail: str = "", limit: int = NAME_MAX) -> str:
    """`stem + tail` in at most `limit` bytes of UTF-8, the stem cut at a character's end
    where the whole would not fit: a temporary name or a "-2" copy adds to a name that
    already had all the bytes it may have."""
    room = limit - len(tail.encode("utf-8", "surrogatepass"))
    raw = stem.encode("utf-8", "surrogatepass")
    if len(raw) <= room:
        return stem + tail
    return raw[:max(room, 0)].decode("utf-8", "ignore") + tail


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


def read_regular_bytes(path: str | Path) -> bytes:
    """The bytes of a plain file. A FIFO, socket or device named like a data file (a rules
    file, a label file, /dev/zero) raises OSError at once: it would be waited on for ever, or
    read without end."""
    fd = os.open(path, os.O_RDONLY | _NO_WAIT | _BINARY)
    try:
        problem = not_regular_problem(os.fstat(fd).st_mode)
        if problem is not None:
            raise OSError(errno.EINVAL, problem)
        with os.fdopen(fd, "rb") as file:
            fd = -1  # the file object closes it now
            return file.read()
    finally:
        if fd >= 0:
            os.close(fd)


def read_regular_text(path: str | Path) -> str:
    """A plain file's text (UTF-8, a BOM in front dropped); UnicodeDecodeError when it is not
    UTF-8."""
    return read_regular_bytes(path).decode("utf-8-sig")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; FormatError names the file, the line and what is wrong."""
    path = Path(path)
    try:
        return json.loads(read_regular_text(path), object_pairs_hook=_no_key_twice)
    except _KeyTwice as exc:
        raise FormatError(path, f"the key {exc.args[0]!r} is given twice in one object (which "
                                "one is meant?)") from None
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


class _KeyTwice(ValueError):
    pass


def _no_key_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key is given twice (the last would win without a word:
    "name": "pill", "name": "chip" made pill's labels chip's)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _KeyTwice(key)
            seen.add(key)
    return obj


def safe_relative(name: str, what: str = "file name",
                  windows: bool = sys.platform == "win32") -> PurePosixPath:
    """A file name from a data file, as a relative path that cannot leave its folder.

    Refuses absolute paths (POSIX or Windows, drive letters, UNC) and any `..` part; on
    Windows (`windows`) also a device's name or a stream's."""
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
    if windows:
        for part in parts:
            problem = windows_name_problem(part)
            if problem is not None:
                raise UnsafePathError(name, f"the {what} {problem}; refused")
    return PurePosixPath(*parts)


# names Windows gives to devices, whatever the extension: opening CON.png reads the console;
# Windows reads the superscripts ¹ ² ³ as port digits too (COM¹ is a serial port)
WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                             *(f"{port}{k}" for port in ("COM", "LPT")
                               for k in "123456789\u00b9\u00b2\u00b3")})


# what Windows refuses in a name, and line breaks (a name in a list file would be two lines)
_NOT_IN_WINDOWS_NAMES = re.compile(r'[<>:"|?*\x00-\x1f\x7f-\x9f\u2028\u2029]')


def windows_safe_part(part: str) -> str:
    """One part of a path as Windows can hold it, as near `part` as that allows: the
    characters it refuses (and line breaks) as "_", a device's name (CON.jpg) with "_"
    after it (CON_.jpg), trailing dots and spaces (which Windows drops) kept by an "_"."""
    part = _NOT_IN_WINDOWS_NAMES.sub("_", part)
    if _names_a_device(part):
        stem, dot, suffix = part.partition(".")
        part = f"{stem}_{dot}{suffix}"
    if part.endswith((".", " ")):
        part += "_"
    return part


def _names_a_device(part: str) -> bool:
    """CON, CON.png and "CON .txt" are the console to Windows, whatever the extension."""
    return part.split(".")[0].rstrip(" ").upper() in WINDOWS_DEVICES


def windows_name_problem(part: str) -> str | None:
    """What Windows would make of one part of a path other than a file of that name, or
    None: a device (CON.png), a hidden stream of another file (a.png:x)."""
    if _names_a_device(part):
        return f"names a device on Windows ({part!r})"
    if ":" in part:
        return f"names a hidden stream of another file on Windows ({part!r})"
    return None


def utf8_problem(path: str | Path) -> str | None:
    """Why `path` cannot be recorded as text, or None when it can."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return ("the name is not UTF-8 text, so isegui cannot record it; rename the file "
                "(or its folder)")
    return None


def not_regular_problem(mode: int) -> str | None:
    """Why a file of this `st_mode` is no file to read or write, or None for a plain file.
    Opening a FIFO waits for a writer that never comes; a device never ends."""
    if stat.S_ISREG(mode):
        return None
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a folder" if stat.S_ISDIR(mode) else "not a file")
    return f"not a regular file but {kind}; isegui reads and writes plain files only"


def inside_folder(root: Path, path: Path) -> Path:
    """`path`, once it is known to stay inside `root` with every link and `..` on the way
    followed; otherwise UnsafePathError names it. A link that stays inside is only a way
    round."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and not real.is_relative_to(real_root):
        raise UnsafePathError(path, f"leads out of the folder {root} (to {real}, through a "
                                    "link or '..'); isegui follows no path out of it: remove "
                                    "the link")
    return path


def refuse_link(path: Path) -> Path:
    """`path`, once it is known not to be a link itself: writing, truncating or removing
    through a link changes another file, even one inside the folder (the project file)."""
    if path.is_symlink() or _is_junction(path):
        raise UnsafePathError(path, f"a link (to {os.path.realpath(path)}), not a file; "
                                    "isegui writes nothing through links: remove the link")
    return path


def _is_junction(path: Path) -> bool:
    """A Windows junction: a link Path.is_symlink does not report (before Python 3.12)."""
    is_junction = getattr(os.path, "isjunction", None)
    return bool(is_junction(path)) if is_junction is not None else False


def refuse_hard_link(path: Path) -> Path:
    """`path`, once it is known to be no file with other hard links (or not there at all)."""
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return path
    problem = hard_link_problem(st)
    if problem is not None:
        raise UnsafePathError(path, problem)
    return path


def hard_link_problem(st: os.stat_result) -> str | None:
    """Why a file of this stat is not to be written in place, or None: a plain file with other
    hard links would change under each of its names (a folder always has several)."""
    if not stat.S_ISREG(st.st_mode) or st.st_nlink <= 1:
        return None
    return (f"a file with {st.st_nlink - 1} other hard link(s) (the same file under another "
            "name, perhaps outside the folder); isegui writes nothing through links: replace "
            "it with a copy of its own")


def writable_inside(root: Path, path: Path) -> Path:
    """`path` may be written, truncated or removed: it is no link (symbolic or hard), and
    nothing on the way leads out of `root`."""
    return inside_folder(root, refuse_hard_link(refuse_link(path)))


def links_in(folder: Path) -> list[Path]:
    """The entries of `folder` that are links (none when it does not exist)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_symlink() or _is_junction(p))
    except (FileNotFoundError, NotADirectoryError):
        return []


_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows: refuse_link checks there
_NO_WAIT = getattr(os, "O_NONBLOCK", 0)  # a FIFO opened without it waits for the other end
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: bytes as they are, no newline translation


_WRITES = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC


def open_no_follow(path: Path, flags: int, mode: int = 0o666) -> int:
    """os.open for a plain file that is no link (checked, and where the system can, refused
    at the moment of opening too); a FIFO, socket or device is refused without waiting. A
    file opened for writing has no other hard links either (reading through one is fine)."""
    writing = bool(flags & _WRITES)
    refuse_link(path)
    if writing:  # before opening: O_TRUNC would empty the other name's file at once
        refuse_hard_link(path)
    try:
        fd = os.open(path, flags | _NO_FOLLOW | _NO_WAIT | _BINARY, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # made a link since the check
            refuse_link(path)
        raise
    st = os.fstat(fd)  # the file opened, whatever the name led to since the checks
    problem = not_regular_problem(st.st_mode) or (hard_link_problem(st) if writing else None)
    if problem is not None:
        os.close(fd)
        raise UnsafePathError(path, problem)
    if sys.platform != "win32":  # a plain file: reads and writes may wait again
        os.set_blocking(fd, True)
    return fd


def same_bytes(a: Path, b: Path) -> bool:
    """Whether the plain file `a` holds exactly the bytes of `b` (False when either cannot be
    read)."""
    try:
        return a.is_file() and not a.is_symlink() and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def cut_copy_of(a: Path, b: Path) -> bool:
    """Whether the plain file `a` is a copy of `b` cut short (a copy killed mid-way): shorter,
    not empty, and the same bytes as far as it goes. An empty file proves nothing (every file
    starts with nothing): it may be anyone's, SQLite's empty WAL was one."""
    try:
        size = a.stat().st_size if a.is_file() and not a.is_symlink() else 0
        if size == 0 or size >= b.stat().st_size:
            return False
        with open(a, "rb") as cut, open(b, "rb") as whole:
            while chunk := cut.read(1 << 20):
                if whole.read(len(chunk)) != chunk:
                    return False
        return True
    except OSError:
        return False


def copy_new(source: Path, target: Path) -> None:
    """Copy `source` to `target`, which must not exist yet (nothing is overwritten)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src:
        made = False
        try:
            with open(target, "xb") as dst:
                made = True
                shutil.copyfileobj(src, dst, 1 << 20)
            shutil.copystat(source, target)
            # a read-only source makes a read-only copy, which Windows would not let an undo
            # remove (PermissionError, hiding the error that made the undo)
            os.chmod(target, os.stat(target).st_mode | stat.S_IWRITE)
        except BaseException as exc:  # a full disk, Ctrl+C, SIGTERM: no copy cut short is left
            if made:
                target.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename is None:  # a write names no file
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
            raise
