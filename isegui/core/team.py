"""Team projects: a project whose store is a schema in a PostgreSQL database the team shares,
named by a small `NAME.isegui-team` file (the connection, never a password: PostgreSQL's
password file, the environment or a prompt supply that) and a local image root."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from isegui.core.errors import ProjectError
from isegui.core.sql import PostgresEngine, PostgresFailure
from isegui.core.store import Store

TEAM_SUFFIX = ".isegui-team"
TEAM_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,50}$")


def schema_name(project: str) -> str:
    """The PostgreSQL schema that holds a team project."""
    if not _NAME.match(project):
        raise ValueError(f"{project!r}: a team project's name is 1-51 letters, digits, '-' or "
                         "'_', starting with a letter or digit")
    return "isegui_" + project.lower().replace("-", "_")


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("//")
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        raise ValueError("the connection must not hold a password: put it in PostgreSQL's "
                         "password file (~/.pgpass, %APPDATA%\\postgresql\\pgpass.conf) or the "
                         "PGPASSWORD environment variable")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{url}: not a PostgreSQL connection (postgresql://USER@HOST/DB)")
    return url


@dataclass(frozen=True)
class TeamRef:
    """What a `.isegui-team` file says: where the team's store is and where this PC sees
    the team's images."""
    url: str
    project: str
    images: Path

    def write(self, path: Path) -> None:
        data = {"isegui_team": TEAM_FORMAT, "url": _without_password(self.url),
                "project": self.project, "images": str(self.images)}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> TeamRef:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"{path}: not a readable team file ({exc})") from exc
        if not isinstance(data, dict) or data.get("isegui_team") != TEAM_FORMAT or not all(
                isinstance(data.get(k), str) for k in ("url", "project", "images")):
            raise ProjectError(f"{path}: not an isegui team file (it needs isegui_team: "
                               f"{TEAM_FORMAT}, url, project and images)")
        images = Path(data["images"])
        if not images.is_absolute():
            images = (path.parent / images).resolve()
        try:
            return cls(_without_password(data["url"]), data["project"], images)
        except ValueError as exc:
            raise ProjectError(f"{path}: {exc}") from None


def open_team_store(url: str, project: str, *, create: bool = False,
                    read_only: bool = False) -> Store:
    """The store of team project `project` in the database at `url`; `create` makes it (and
    refuses when the project already exists there)."""
    schema = schema_name(project)
    where = f"team project {project!r}"
    try:
        engine = PostgresEngine(url, schema)
    except PostgresFailure as exc:
        raise ProjectError(f"{where}: {exc}") from exc
    try:
        exists = bool(engine.query("SELECT 1 FROM information_schema.schemata "
                                   "WHERE schema_name = ?", (schema,)))
        if create:
            if exists:
                raise ProjectError(f"{where} already exists in that database; open it with "
                                   "its team file, or choose another name")
            engine.execute(f'CREATE SCHEMA "{schema}"')
        elif not exists:
            raise ProjectError(f"{where}: not found in that database (isegui team create "
                               "makes one)")
        return Store.on_engine(engine, where, read_only=read_only, create=create)
    except BaseException:
        engine.close()
        raise
