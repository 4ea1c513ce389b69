"""The two database engines a project store runs on, behind one small interface: SQLite (one
file, the embedded default) and PostgreSQL (a team's server, through psycopg 3). The store
writes its SQL once, with `?` placeholders and the SQL both engines share; an engine carries
out statements and transactions and maps rows so they read by column name or by position."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from isegui.core.redact import redact_passwords

Args = Sequence[object]


class PostgresFailure(Exception):
    """A PostgreSQL error (connection lost, server down, permission, ...), the driver's
    exception as the cause."""


class PostgresIntegrityFailure(PostgresFailure):
    """A constraint said no (a duplicate name, a missing referenced row)."""


class PostgresConnectionLost(PostgresFailure):
    """The server went away in the middle of a transaction (that transaction is lost: the
    server rolled it back), or is still away after the engine waited for it; the next
    statement connects again."""


class PostgresPermissionDenied(PostgresFailure):
    """The server's roles do not allow this user that change (an inspector marking an image
    reviewed): refused, nothing written; the connection is fine."""


class PostgresLockTimeout(PostgresFailure):
    """Rows this step needs are held by another session's unfinished change (psql left open,
    a long import): the step waited lock_timeout and was refused; `holders` names who."""

    def __init__(self, message: str, holders: Sequence[str] = ()):
        super().__init__(message)
        self.holders = tuple(holders)


class Row(tuple[Any, ...]):
    """A result row that reads by position and by column name (like sqlite3.Row)."""
    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)


class Engine:
    """What the store needs from a database."""
    dialect = ""
    integrity_errors: tuple[type[BaseException], ...] = ()
    for_update = ""  # appended to a SELECT that reads a row it will then change

    def query(self, sql: str, args: Args = ()) -> list[Any]:
        raise NotImplementedError

    def execute(self, sql: str, args: Args = ()) -> int:
        """Run one statement; how many rows it changed."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        raise NotImplementedError

    def insert(self, sql: str, args: Args) -> int:
        """An INSERT ... RETURNING id; the new row's id."""
        return int(self.query(sql, args)[0][0])

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def begin_snapshot(self) -> None:
        """A read-only transaction whose reads all see one moment of the data."""
        raise NotImplementedError

    def ids_restored(self, table: str) -> None:
        """Rows were put back with their own ids: new ids must still go above them."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteEngine(Engine):
    dialect = "sqlite"
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def query(self, sql: str, args: Args = ()) -> list[Any]:
        return self.conn.execute(sql, tuple(args)).fetchall()

    def execute(self, sql: str, args: Args = ()) -> int:
        return self.conn.execute(sql, tuple(args)).rowcount

    def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        self.conn.executemany(sql, [tuple(r) for r in rows])

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")  # the write lock now: no deadlock on upgrade

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def begin_snapshot(self) -> None:
        self.conn.execute("BEGIN")  # deferred: a read transaction sees one state of the file

    def rollback(self) -> None:
        """Undo an open transaction without hiding why it failed: after some errors (disk
        full, I/O) SQLite has already rolled back, and a second ROLLBACK would raise "no
        transaction is active" in place of the real cause."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self.conn.close()


def _postgres_sql(sql: str) -> str:
    # the store's SQL has no literal '?' or '%': placeholders are all there is to change
    return sql.replace("?", "%s")


class PostgresEngine(Engine):
    dialect = "postgresql"
    integrity_errors = (PostgresIntegrityFailure,)
    for_update = " FOR UPDATE"

    RECONNECT_FOR_S = 10.0  # how long a lost server is waited for before giving up
    # How long a statement waits for rows another session holds (a member's open
    # transaction, psql included) before it is refused; a window waits less.
    LOCK_TIMEOUT_MS = 5000
    STATEMENT_TIMEOUT_MS = 300_000  # a statement that runs 5 minutes is stuck
    IDLE_IN_TRANSACTION_MS = 600_000  # a transaction of isegui's left open 10 minutes
    # Never answer a server asking for the password in clear text (or as MD5, which a fake
    # server can crack): a team file edited to point at another host must not collect it.
    REQUIRE_AUTH = "!password,!md5"

    def __init__(self, url: str, schema: str, *, connect_timeout: int = 10):
        import psycopg
        self._psycopg = psycopg
        self.url, self.schema, self.connect_timeout = url, schema, connect_timeout
        self.reconnects = 0  # how many times the connection was made again (said to users)
        # how long a lost server is waited for before a statement gives up (a window waits
        # less: it must not freeze)
        self.reconnect_for_s = self.RECONNECT_FOR_S
        self._away_until = 0.0  # until then the server was just found away: no more waiting
        self._in_transaction = False
        self.lock_timeout_ms = self.LOCK_TIMEOUT_MS
        self.conn = self._connect()

    def conninfo(self) -> str:
        """The URL with what every connection isegui opens to the team's server adds: the
        time limits (no member's open transaction freezes a window or a command) and the
        authentication it accepts."""
        from psycopg.conninfo import make_conninfo
        return make_conninfo(
            self.url, require_auth=self.REQUIRE_AUTH,
            options=f"-c lock_timeout={int(self.lock_timeout_ms)} "
                    f"-c statement_timeout={self.STATEMENT_TIMEOUT_MS} "
                    f"-c idle_in_transaction_session_timeout={self.IDLE_IN_TRANSACTION_MS}")

    def set_lock_timeout(self, milliseconds: int) -> None:
        """Wait at most this long for rows another session holds (a window: under 2 s)."""
        self.lock_timeout_ms = int(milliseconds)
        if not self.conn.closed:
            self.conn.execute(f"SET lock_timeout = {self.lock_timeout_ms}")

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            # never longer than the caller would wait for the server to come back
            timeout = max(1, min(self.connect_timeout, math.ceil(self.reconnect_for_s)))
            conn = psycopg.connect(self.conninfo(), autocommit=True, row_factory=_rows,
                                   connect_timeout=timeout)
            conn.execute(f'SET search_path TO "{self.schema}"')
            return conn
        except psycopg.Error as exc:
            raise PostgresFailure(f"cannot connect to {_safe(self.url)}: {exc}") from exc

    def _reconnect(self) -> None:
        """The server is back (a restart, a network blip): a new connection, retried for
        `reconnect_for_s`. A transaction that was open is gone; the caller says so. Once that
        wait has run out, the statements that follow try once each (for another such span),
        so that one step of a window does not wait again at every statement."""
        import time
        now = time.monotonic()
        deadline = now if now < self._away_until else now + self.reconnect_for_s
        while True:
            try:
                self.conn = self._connect()
                self.reconnects += 1
                self._away_until = 0.0
                return
            except PostgresFailure as exc:
                if time.monotonic() >= deadline:
                    self._away_until = time.monotonic() + self.reconnect_for_s
                    raise PostgresConnectionLost(
                        f"the team's database is not reachable ({_first_line(exc)})") from exc
                time.sleep(0.25)

    def _run(self, sql: str, args: Args = (), many: list[Args] | None = None) -> Any:
        psycopg = self._psycopg
        if self.conn.closed and not self._in_transaction:
            self._reconnect()
        try:
            return self._execute(sql, args, many)
        except psycopg.OperationalError as exc:
            if not self._connection_lost():
                raise PostgresFailure(str(exc)) from exc
            if self._in_transaction:  # the server rolled it back: the caller's step is lost
                raise PostgresConnectionLost(
                    f"the connection to the team's database was lost ({_first_line(exc)}); "
                    "the step was not saved") from exc
            self._reconnect()  # nothing was open: run the statement on the new connection
            return self._execute(sql, args, many)

    def _connection_lost(self) -> bool:
        """After an OperationalError: is the server gone? (psycopg does not always mark the
        connection broken at once, e.g. in the pipeline executemany uses.)"""
        if self.conn.broken or self.conn.closed:
            return True
        try:
            self.conn.execute("SELECT 1")
        except self._psycopg.Error:
            return True
        return False

    def _execute(self, sql: str, args: Args, many: list[Args] | None) -> Any:
        psycopg = self._psycopg
        try:
            cur = self.conn.cursor()
            if many is not None:
                cur.executemany(_postgres_sql(sql), [tuple(r) for r in many])
            else:
                cur.execute(_postgres_sql(sql), tuple(args))
            return cur
        except psycopg.errors.LockNotAvailable as exc:  # an OperationalError: before it
            raise PostgresLockTimeout(_first_line(exc), self._lock_holders()) from exc
        except psycopg.errors.QueryCanceled as exc:  # statement_timeout; the server is fine
            raise PostgresFailure(_first_line(exc)) from exc
        except psycopg.OperationalError:
            raise
        except psycopg.errors.IntegrityError as exc:
            raise PostgresIntegrityFailure(str(exc)) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PostgresPermissionDenied(_first_line(exc)) from exc
        except psycopg.Error as exc:
            raise PostgresFailure(str(exc)) from exc

    def _lock_holders(self) -> list[str]:
        """The logins whose sessions hold write locks on this project's tables now: who a
        step that timed out on a lock was most likely waiting for (other logins' transaction
        times are hidden from members). Asked on a connection of its own (this one's
        transaction, if any, is aborted); [] if that fails."""
        psycopg = self._psycopg
        try:
            with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=2) as conn:
                rows = conn.execute(
                    "SELECT DISTINCT a.usename::text FROM pg_catalog.pg_locks l "
                    "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
                    "JOIN pg_catalog.pg_class c ON c.oid = l.relation "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND l.granted AND l.pid <> %s AND c.relkind = 'r' "
                    "AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', "
                    "'ExclusiveLock', 'AccessExclusiveLock') ORDER BY 1",
                    (self.schema, self.conn.info.backend_pid)).fetchall()
            return [str(r[0]) for r in rows if r[0]]
        except psycopg.Error:
            return []

    def query(self, sql: str, args: Args = ()) -> list[Any]:
        cur = self._run(sql, args)
        return list(cur.fetchall()) if cur.description else []

    def execute(self, sql: str, args: Args = ()) -> int:
        return int(self._run(sql, args).rowcount)

    def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        self._run(sql, many=list(rows))

    def begin(self) -> None:
        self.execute("BEGIN")
        self._in_transaction = True

    def commit(self) -> None:
        """COMMIT; when the connection is lost in it, whether it took is asked of the server
        once it is back (by the transaction's id), so a saved step is never said lost."""
        xid = self.query("SELECT pg_current_xact_id_if_assigned()")[0][0]  # None: nothing written
        try:
            self.execute("COMMIT")
        except PostgresConnectionLost:
            self._in_transaction = False
            if xid is None or self._committed(xid):
                return
            raise
        finally:
            self._in_transaction = False

    def _committed(self, xid: Any) -> bool:
        try:
            self._reconnect()
            status = self.query("SELECT pg_xact_status(?::xid8)", (str(xid),))[0][0]
        except PostgresFailure as exc:
            raise PostgresConnectionLost(
                "the connection to the team's database was lost while saving, and it did not "
                f"come back ({exc}): the step may or may not have been saved") from exc
        return bool(status == "committed")

    def begin_snapshot(self) -> None:
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._in_transaction = True

    def rollback(self) -> None:
        self._in_transaction = False
        if self.conn.broken or self.conn.closed:
            return  # the server has rolled it back already
        if self.conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
            try:
                self.conn.execute("ROLLBACK")
            except self._psycopg.Error:
                pass

    def ids_restored(self, table: str) -> None:
        self.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                     f"GREATEST((SELECT MAX(id) FROM {table}), 1))")

    def close(self) -> None:
        self.conn.close()


def _rows(cursor: Any) -> Any:
    """psycopg's row factory: rows that read by name and by position."""
    names = {c.name: k for k, c in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        row = Row(bytes(v) if isinstance(v, memoryview) else v for v in values)
        row.names = names
        return row
    return make


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _safe(url: str) -> str:
    """A connection URL without its password, for messages."""
    return redact_passwords(url)
