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
    """A windowed program (the .exe without a console) starts with sys.stdout and sys.stderr
    set to None, and the first write to them would raise; they go to the null device instead.
    What matters is logged to the log file as well."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
