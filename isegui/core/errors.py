"""Typed errors. A user can cause each of them; each message names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class IseguiError(Exception):
    """Base of every error isegui raises on purpose."""


class ShapeError(IseguiError, ValueError):
    """A shape that cannot be used: empty, no area, not a polygon."""


class InputFileError(IseguiError):
    """A file given to isegui is unreadable, malformed or unsafe."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ImageReadError(InputFileError):
    """An image file that cannot be decoded: corrupt, truncated, unsupported or too large."""


class FormatError(InputFileError):
    """An annotation file that does not follow its format."""


class UnsafePathError(InputFileError):
    """A path that would leave the folder it must stay in."""


class ProjectError(IseguiError):
    """A project folder that cannot be opened or changed."""


class DamagedRow(ProjectError):
    """A row of the project's store holding what isegui never writes (another program changed
    the file, or a team member wrote the table directly)."""


class ProjectNotFoundError(ProjectError):
    pass


class ProjectLockedError(ProjectError):
    pass


class SchemaVersionError(ProjectError):
    pass


class OlderSchemaError(SchemaVersionError):
    """A store written by an earlier isegui: opening it for editing brings it up to date."""


class ImportFailed(IseguiError):
    """An import found problems; the project was not changed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        if len(problems) == 1:  # one problem, one line
            super().__init__(f"{problems[0]} (import stopped; the project was not changed)")
            return
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"import stopped, the project was not changed:\n  {shown}{more}")


class StaleEdit(ProjectError):
    """An edit made against a version of an instance that someone else has changed (or
    deleted) since: refused, nothing written. `by` and `at` say who and when, if known."""

    def __init__(self, message: str, image_id: int, instance_id: int, by: str | None = None,
                 at: str | None = None):
        super().__init__(message)
        self.image_id, self.instance_id, self.by, self.at = image_id, instance_id, by, at
