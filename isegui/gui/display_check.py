"""Before Qt opens a window on Linux: is there a display, and are the system libraries Qt's
xcb plugin needs installed? Says exactly what to do instead of Qt's plugin error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# library file -> the Debian/Ubuntu package that has it
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libEGL.so.1": "libegl1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-randr.so": "libxcb-randr0", "libX11-xcb.so.1": "libx11-xcb1",
    "libGL.so.1": "libgl1", "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0",
    "libfreetype.so.6": "libfreetype6", "libxcb.so.1": "libxcb1",
}


def problems() -> list[str]:
    """What stops a window from opening here; empty when nothing does (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return []  # offscreen, wayland, vnc...: the user chose
    found = []
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        found.append("There is no display (DISPLAY is not set). Run isegui on a desktop, or on "
                     "a virtual screen: `xvfb-run -a make run` (Debian: apt-get install xvfb).")
    missing = missing_libraries()
    if missing:
        packages = sorted({DEBIAN_PACKAGES.get(lib, lib) for lib in missing})
        found.append("Qt needs system libraries that are not installed: "
                     f"{', '.join(missing)}.\nOn Debian or Ubuntu install them with:\n"
                     f"  sudo apt-get install {' '.join(packages)}")
    return found


def missing_libraries() -> list[str]:
    plugin = _xcb_plugin()
    if plugin is None:
        return []
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted(set(re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)))


def _xcb_plugin() -> Path | None:
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def main() -> int:
    found = problems()
    for text in found:
        print(text, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
