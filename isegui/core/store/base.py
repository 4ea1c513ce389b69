"""The core of a project store: opening it on its engine (a project file on SQLite, or a
team's schema on PostgreSQL: core.store.engine), transactions and snapshots, the meta table, and
what its failures mean in words. core.store.project_data builds the project's data on it."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, UTC
from pathlib import Path, PurePath
from typing import Any, TypeVar
from urllib.parse import quote

from isegui.core.store import schema
from isegui.core.errors import ProjectError
from isegui.core.fileio import copy_new
from isegui.core.store.engine import Engine, PostgresFailure, PostgresLockTimeout, SqliteEngine

S = TypeVar("S", bound="StoreBase")

# what a write to the project file can raise when the disk, the share or the file fails
WRITE_FAILURES = (sqlite3.Error, PostgresFailure, OSError)


def write_failure_in_words(exc: BaseException) -> str:
    """Why a project file could not be read or written, for a person: what it means first,
    the system's words after."""
    text = str(exc) or type(exc).__name__
    errno_ = getattr(exc, "errno", None)
    if "full" in text or errno_ == errno.ENOSPC:
        advice = "the disk is full"
    elif "malformed" in text or "not a database" in text:
        advice = "the project file is damaged; restore it from a backup"
    elif "locked" in text or "busy" in text:
        advice = "another program holds the project file"
    elif "readonly" in text or errno_ in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "the project file cannot be written (read-only, or no permission)"
    elif "disk I/O" in text or errno_ in (errno.EIO, errno.ENOENT, errno.ESTALE,
                                          errno.EHOSTDOWN, errno.ENOTCONN):
        advice = "the disk or network share holding the project cannot be reached"
    else:
        advice = "the project file could not be read or written"
    if isinstance(exc, PostgresLockTimeout):
        who = f"{' and '.join(exc.holders)}'s" if exc.holders else "a team mate's"
        return (f"waited for {who} change, not yet finished, which holds these rows (the "
                "server gave up after a moment); try again")
    if isinstance(exc, PostgresFailure) and "statement timeout" in text:
        return "the team's database took too long over this step and stopped it; try again"
    if isinstance(exc, PostgresFailure):
        return f"the team's database could not be reached or refused the change (PostgreSQL: " \
               f"{text})"
    return f"{advice} ({'SQLite' if isinstance(exc, sqlite3.Error) else 'system'}: {text})"


def _refuse_empty(db_path: Path) -> None:
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        raise ProjectError(f"{db_path}: not found") from None
    if size == 0:
        raise ProjectError(f"{db_path}: the project file is empty (0 bytes): it was truncated or "
                           "not copied whole. Restore it from a backup (or a "
                           f"{db_path.name}.v*.bak beside it); isegui will not start a new, empty "
                           "project over it")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _on_read_only_media(db_path: Path) -> bool:
    """Whether the project file lies where nothing can be written (a write-protected stick, a
    read-only share or snapshot) and has no write-ahead log beside it. SQLite reads a file in
    WAL mode only with its -shm file, which it cannot make there; such a file, which nobody
    can change, is opened as unchanging instead."""
    folder = db_path.parent
    return (not os.access(folder, os.W_OK)
            and not any(db_path.with_name(db_path.name + s).exists() for s in ("-wal", "-shm")))


def sqlite_uri(path: PurePath) -> str:
    """The SQLite URI of an absolute path, with an empty authority whatever the path. A share's
    path as a URI has the server as its authority (`file://server/share/...`, Path.as_uri),
    which SQLite refuses unless built to allow it (Windows Python's is not): "invalid uri
    authority". With the server kept in the path (`file:////server/share/...`), SQLite on
    Windows opens `\\\\server\\share\\...`; a drive's path is `file:///C:/...`."""
    posix = path.as_posix()
    if not posix.startswith("/"):  # C:/...
        posix = "/" + posix
    return "file://" + quote(posix, safe="/:")


class StoreBase:
    def __init__(self, db_path: Path, *, read_only: bool = False, create: bool = False,
                 on_share: bool = False):
        """Open the project file at `db_path`; only `create` makes a new one (an existing but
        empty file is a lost project, never silently started afresh). `on_share`: the file is
        on a network share, where SQLite's write-ahead log is unsafe (every process must be
        on one host), so a rollback journal is used."""
        self.path = db_path
        self.read_only = read_only
        self.on_share = on_share
        if not create:
            _refuse_empty(db_path)
        uri = f"{sqlite_uri(db_path.resolve())}?mode={'ro' if read_only else 'rwc'}"
        if read_only and _on_read_only_media(db_path):
            uri += "&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row  # rows are read by column name
            self.engine: Engine = SqliteEngine(conn)
            conn.execute("PRAGMA busy_timeout = 10000")
            if not create and schema.read_version(self.engine, str(db_path)) == 0:
                conn.close()
                raise ProjectError(f"{db_path}: an SQLite file that holds no isegui project; "
                                   "isegui will not turn it into one")
            if not read_only:
                conn.execute(f"PRAGMA journal_mode = {'DELETE' if on_share else 'WAL'}")
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if read_only:
                schema.check_readable(self.engine, str(db_path))
            else:
                schema.migrate(self.engine, str(db_path),
                               backup=lambda: _backup_file(conn, db_path))
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{db_path}: not a readable isegui project file ({exc})") from exc
        self._depth = 0
        self.user = _login_name()
        self.damaged_rows: list[str] = []  # rows left out as unreadable, in words (Store)

    @classmethod
    def on_engine(cls: type[S], engine: Engine, where: str, *, read_only: bool = False,
                  create: bool = False) -> S:
        """A store in a database other than a project file (a team's PostgreSQL schema);
        `where` names it in messages."""
        store = cls.__new__(cls)
        store.path, store.read_only, store.on_share = Path(where), read_only, False
        store.engine, store._depth, store.damaged_rows = engine, 0, []
        store.user = str(engine.query("SELECT current_user")[0][0])  # the team member
        if not create and schema.read_version(engine, where) == 0:
            raise ProjectError(f"{where}: holds no isegui project")
        if read_only:
            schema.check_readable(engine, where)
        else:
            schema.migrate(engine, where)
        return store

    def another(self: S) -> S:
        """A second connection to the same store (another writer, as a second PC would be)."""
        if isinstance(self.engine, SqliteEngine):
            return type(self)(self.path, read_only=self.read_only, on_share=self.on_share)
        from isegui.core.store.engine import PostgresEngine
        assert isinstance(self.engine, PostgresEngine)
        engine = PostgresEngine(self.engine.url, self.engine.schema,
                                connect_timeout=self.engine.connect_timeout)
        return type(self).on_engine(engine, str(self.path), read_only=self.read_only)

    def close(self) -> None:
        self.engine.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all. Nests: only the outermost commits."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.engine.begin()
        self._depth = 1
        try:
            yield
            self.engine.commit()  # a failed COMMIT (disk full) rolls back too
        except BaseException:
            self.engine.rollback()
            raise
        finally:
            self._depth = 0

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside all see the store at one moment, while others go on writing (the
        training data of a team project that is being labeled meanwhile)."""
        if self._depth:  # inside a transaction already: that is one moment
            yield
            return
        self.engine.begin_snapshot()
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            self.engine.rollback()  # nothing was written

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        return self.engine.query(sql, args)

    # ------------------------------------------------------------------ meta

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else default

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction():
            if value is None:
                self.engine.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.engine.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT "
                                    "(key) DO UPDATE SET value = excluded.value", (key, value))


def _backup_file(conn: sqlite3.Connection, db_path: Path) -> None:
    """A copy of the project file beside it before a migration changes it."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    version = schema.read_version(SqliteEngine(conn))
    # a new file: never written through a link, never over an earlier backup
    backup = db_path.with_name(f"{db_path.name}.v{version}.bak")
    k = 1
    while os.path.lexists(backup):
        k += 1
        backup = db_path.with_name(f"{db_path.name}.v{version}-{k}.bak")
    copy_new(db_path, backup)


def _login_name() -> str:
    """Who edits a project file: the user logged in to this PC."""
    import getpass
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the user database
        return "unknown"
