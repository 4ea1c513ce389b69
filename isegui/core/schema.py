"""The project file's SQL schema, its version, and the migrations between versions."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from isegui.core.errors import SchemaVersionError

SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE classes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    split TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'val', 'test')),
    status TEXT NOT NULL DEFAULT 'unlabeled'
        CHECK (status IN ('unlabeled', 'labeled', 'reviewed')),
    next_instance_id INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE instances (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
    shape BLOB NOT NULL,
    z INTEGER NOT NULL DEFAULT 0,
    track_id INTEGER,
    source TEXT NOT NULL DEFAULT 'manual',
    crowd INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, id)
) WITHOUT ROWID;
CREATE INDEX instances_by_class ON instances(class_id);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    checkpoint TEXT,
    finished TEXT
);
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
    shape BLOB NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX predictions_by_image ON predictions(image_id, run_id);
"""


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # not executescript(): it commits first, and a migration must stay one transaction
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _create_v1(conn: sqlite3.Connection) -> None:
    _run_script(conn, SCHEMA_V1)


# MIGRATIONS[n] turns a version-n file into version n+1; version 0 is an empty file.
# A new schema version appends one function here and never edits an earlier one.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1]


def current_version() -> int:
    return len(MIGRATIONS)


def read_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def check_readable(conn: sqlite3.Connection, db_path: Path) -> None:
    """For read-only use: the file must be at this version exactly (nothing is migrated)."""
    found = read_version(conn)
    if found > current_version():
        raise SchemaVersionError(_too_new(db_path, found))
    if found < current_version():
        raise SchemaVersionError(f"{db_path}: an older project file (schema {found}); open it "
                                 "once for editing so isegui can update it")


def _too_new(db_path: Path, found: int) -> str:
    return (f"{db_path}: written by a newer isegui (project schema {found}; this version reads "
            f"up to {current_version()}). Update isegui to open it; the file was not changed.")


def migrate(conn: sqlite3.Connection, db_path: Path) -> int:
    """Bring the file up to the current version, all steps in one transaction.

    Before changing a file that already holds data, a copy is kept beside it
    (`project.isegui.v<N>.bak`). Returns the version found."""
    found = read_version(conn)
    target = current_version()
    if found > target:
        raise SchemaVersionError(_too_new(db_path, found))
    if found == target:
        return found
    if found > 0:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy2(db_path, db_path.with_name(f"{db_path.name}.v{found}.bak"))
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[found:]:
            step(conn)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                     (str(target),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (disk full)
            conn.execute("ROLLBACK")
        raise
    return found
