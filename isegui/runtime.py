"""How isegui runs: from source or as the packaged (PyInstaller) program. No Qt, no torch."""

from __future__ import annotations

import os
import sys


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def isegui_command() -> tuple[str, list[str]]:
    """How to run the `isegui` command line from here: the frozen app is its own program."""
    if is_frozen():
        return sys.executable, []
    return sys.executable, ["-m", "isegui"]


def ensure_streams() -> None:
    """Standard streams every command can use. A windowed program (the .exe without a
    console) starts with sys.stdin, sys.stdout and sys.stderr set to None, and the first use
    would raise: they are the null device instead (what matters is logged to the log file as
    well). Output written to a pipe or a file is UTF-8, whatever the PC's code page (Windows
    writes cp1252, cp1250 or cp932 there: a class name garbled in the window that reads it,
    and a `px²` that cp932 lacks would end a redirected `isegui watch`); a character the
    stream still cannot take is written as an escape, never an error."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif hasattr(stream, "reconfigure"):
            utf8 = (stream.encoding or "").lower().replace("-", "") == "utf8"
            stream.reconfigure(**({} if utf8 else {"encoding": "utf-8"}),
                               errors="backslashreplace")
