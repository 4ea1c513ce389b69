"""What the app remembers for the user, apart from any project (QSettings: the registry under
HKEY_CURRENT_USER\\Software\\isegui on Windows, ~/.config/isegui/isegui.conf on Linux): the
last project and the recent ones, most recent first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from isegui.core.project import project_exists

ORGANIZATION, APPLICATION = "isegui", "isegui"
LAST_PROJECT = "projects/last"
RECENT_PROJECTS = "projects/recent"
MAX_RECENT = 8


def settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def last_project() -> Path | None:
    value = settings().value(LAST_PROJECT)
    if value and project_exists(value):
        return Path(value)
    return None


def recent_projects() -> list[Path]:
    """Folders that no longer hold a project (and team files gone) are left out."""
    value = settings().value(RECENT_PROJECTS) or []
    if isinstance(value, str):  # QSettings reads a one-item list back as a plain string
        value = [value]
    return [Path(v) for v in value if project_exists(v)][:MAX_RECENT]


def remember_project(folder: Path) -> None:
    """`folder` is the last project and first among the recent ones."""
    folder = Path(folder).resolve()
    kept = [p for p in recent_projects() if p.resolve() != folder]
    store = settings()
    store.setValue(LAST_PROJECT, str(folder))
    store.setValue(RECENT_PROJECTS, [str(p) for p in [folder, *kept][:MAX_RECENT]])
