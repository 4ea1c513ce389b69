"""Images kept in a team project's database, for a team without a shared folder: each image
file is stored once (its bytes and SHA-256) when it is added, in the same transaction as its
record, and every PC reads it from its own folder when the file is there, else from a local
cache filled from the database on first use. Cache files are named by content hash, so a
stored path (even one with "../") never decides where anything is written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from isegui.core.errors import ProjectError
from isegui.core.fileio import atomic_write_bytes, inside_folder, writable_inside
from isegui.core.store import team_rules
from isegui.core.store.engine import PostgresEngine
from isegui.core.store.project_data import Store

META_KEY = "images_in_database"
CACHE_DIR = ".isegui-image-cache"
_TABLE = """CREATE TABLE IF NOT EXISTS image_files (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL)"""


def enable(store: Store) -> None:
    """From now on the team project keeps its images in its database."""
    with store.transaction():
        store.engine.execute(_TABLE)
        if isinstance(store.engine, PostgresEngine):
            team_rules.restrict_image_files(store.engine, store.engine.schema)
        store.set_meta(META_KEY, "1")


def enabled(store: Store) -> bool:
    return store.meta(META_KEY) == "1"


class ImageFiles:
    """A team project's image files in its database; `folder` is this PC's image folder."""

    def __init__(self, store: Store, folder: Path):
        self.store, self.folder = store, folder
        self.cache = folder / CACHE_DIR
        self._hashes: dict[str, str] = {}

    def upload(self, stored_paths: Iterable[str], files: Iterable[Path]) -> int:
        """Store each file under its record's path (one already stored is kept); returns how
        many were stored. Runs inside the caller's transaction, with the records."""
        count = 0
        with self.store.transaction():
            for stored, file in zip(stored_paths, files):
                try:
                    data = Path(file).read_bytes()
                except OSError as exc:
                    raise ProjectError(f"{file}: cannot read it to keep it in the team's "
                                       f"database: {exc.strerror or exc}") from None
                sha = hashlib.sha256(data).hexdigest()
                count += self.store.engine.execute(
                    "INSERT INTO image_files (path, sha256, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (path) DO NOTHING", (stored, sha, data))
                self._hashes[stored] = sha
        return count

    def missing(self, stored_paths: Iterable[str]) -> list[str]:
        """The paths of these records that have no file in the database."""
        wanted = list(stored_paths)
        have = {r[0] for r in self.store.engine.query("SELECT path FROM image_files")}
        return [p for p in wanted if p not in have]

    def local_copy(self, stored: str) -> Path | None:
        """This PC's copy of the stored image (fetched into the cache when needed), or None
        when the database has no file for it."""
        sha = self._hashes.get(stored)
        if sha is None:
            rows = self.store.engine.query("SELECT sha256 FROM image_files WHERE path = ?",
                                           (stored,))
            if not rows:
                return None
            sha = self._hashes[stored] = str(rows[0][0])
        target = self.cache / f"{sha}{_suffix(stored)}"
        if target.is_file():
            return target
        rows = self.store.engine.query("SELECT data FROM image_files WHERE path = ?", (stored,))
        if not rows:
            return None
        data = bytes(rows[0][0])
        if hashlib.sha256(data).hexdigest() != sha:
            raise ProjectError(f"{stored}: the copy in the team's database does not match its "
                               "checksum; add the image again")
        inside_folder(self.folder, self.cache)  # a cache linked elsewhere is not filled
        self.cache.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(writable_inside(self.folder, target), data)
        return target


def _suffix(stored: str) -> str:
    """The file's extension (kept so that readers know the format), nothing else of it."""
    suffix = Path(stored).suffix.lower()
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ""
