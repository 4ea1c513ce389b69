"""Folders isegui reads data from outside a project: the per-user weights folder, where
`isegui weights add` puts pretrained files so every run finds them, and the weights the packaged
program ships. No Qt, no torch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

WEIGHTS_DIR_VARIABLE = "ISEGUI_WEIGHTS_DIR"  # overrides the per-user folder (tests, a lab PC)
BUNDLED_WEIGHTS = "weights"  # inside the PyInstaller bundle (build.spec puts them there)


def user_weights_folder() -> Path:
    """%LOCALAPPDATA%\\isegui\\weights on Windows, $XDG_DATA_HOME/isegui/weights
    (~/.local/share/isegui/weights) elsewhere; ISEGUI_WEIGHTS_DIR overrides both."""
    override = os.environ.get(WEIGHTS_DIR_VARIABLE)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
        return Path(base) / "isegui" / "weights"
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "isegui" / "weights"


def bundled_weights_folder() -> Path | None:
    """The weights folder of the packaged program, or None when running from source (the
    repository's build/weights/ is what the build bundles, not a place runs look in)."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / BUNDLED_WEIGHTS if bundle else None

