"""Team projects: a project whose store is a schema in a PostgreSQL database the team shares,
named by a small `NAME.isegui-team` file (the connection, never a password: PostgreSQL's
password file, the environment or a prompt supply that) and a local image root.

A connection URL reaches messages and logs only through `redact_passwords`; one that lists
several hosts shares one overall wait among them (psycopg waits connect_timeout per host)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from isegui.core.errors import ProjectError
from isegui.core.fileio import atomic_write_text, refuse_link
from isegui.core.redact import redact_passwords
from isegui.core.store import team_rules
from isegui.core.store.engine import PostgresEngine, PostgresFailure
from isegui.core.store.project_data import Store

log = logging.getLogger(__name__)
PG_NAME_CHARS = 63
TEAM_SUFFIX = ".isegui-team"
TEAM_FORMAT = 1
TEAM_FILE_MAX_BYTES = 64 * 1024  # a team file is a few lines
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,50}")  # whole name: fullmatch

# What a team URL (typed, or read from a team file anyone on the share can edit) may set: a
# hostaddr would send the password meant for the host named to another; options, passfile,
# require_auth and the rest are isegui's to set.
_URL_KEYS = frozenset({"host", "port", "dbname", "user", "sslmode", "sslrootcert"})

# How long a connection waits for the team's server in all, shared among the hosts a URL
# lists; psycopg waits at least 2 s for each, so a URL lists at most 5.
CONNECT_BUDGET_S = 10
_MIN_WAIT_PER_HOST_S = 2

def schema_name(project: str) -> str:
    """The PostgreSQL schema that holds a team project."""
    if not isinstance(project, str) or not _NAME.fullmatch(project):
        raise ValueError(f"{project!r}: a team project's name is 1-51 letters, digits, '-' or "
                         "'_', starting with a letter or digit")
    return "isegui_" + project.lower().replace("-", "_")


def checked_url(url: str) -> str:
    """`url` when it is a PostgreSQL connection without a password, listing no more hosts
    than CONNECT_BUDGET_S allows; else ValueError (its message never shows a password)."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{redact_passwords(url)}: not a PostgreSQL connection "
                         "(postgresql://USER@HOST/DB)")
    params = _connection_parameters(url)
    if redact_passwords(url) != url or {"password", "sslpassword"} & params.keys():
        raise ValueError("the connection must not hold a password: put it in PostgreSQL's "
                         "password file (~/.pgpass, %APPDATA%\\postgresql\\pgpass.conf) or the "
                         "PGPASSWORD environment variable")
    other = sorted(set(params) - _URL_KEYS)
    if other:
        raise ValueError(f"{redact_passwords(url)}: a team connection names only "
                         f"{', '.join(sorted(_URL_KEYS))}; not {', '.join(other)} (a setting "
                         "such as hostaddr or options could send your password elsewhere)")
    hosts = _host_count(params)
    if hosts > CONNECT_BUDGET_S // _MIN_WAIT_PER_HOST_S:
        raise ValueError(f"the connection lists {hosts} hosts; isegui tries at most "
                         f"{CONNECT_BUDGET_S // _MIN_WAIT_PER_HOST_S} (it waits "
                         f"{CONNECT_BUDGET_S} s in all, at least {_MIN_WAIT_PER_HOST_S} s for "
                         "each)")
    return url


def connect_timeout(url: str) -> int:
    """psycopg's connect_timeout (it applies to each host a URL lists) that keeps the whole
    wait within CONNECT_BUDGET_S."""
    hosts = _host_count(_connection_parameters(url))
    return max(_MIN_WAIT_PER_HOST_S, CONNECT_BUDGET_S // hosts)


def _connection_parameters(url: str) -> dict[str, object]:
    """The URL as libpq reads it (its parameters percent-decoded)."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict
    try:
        return dict(conninfo_to_dict(url))
    except Error as exc:
        raise ValueError(redact_passwords(f"{url}: not a valid connection URL "
                                          f"({_first_line(exc)})")) from None


def _host_count(params: dict[str, object]) -> int:
    """How many hosts a connection lists (postgresql://USER@HOST1,HOST2:PORT/DB)."""
    listed = [str(params.get(key) or "") for key in ("host", "hostaddr")]
    return max([1] + [len(value.split(",")) for value in listed if value])


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True)
class TeamRef:
    """What a `.isegui-team` file says: where the team's store is and where this PC sees
    the team's images."""
    url: str
    project: str
    images: Path

    def write(self, path: Path) -> None:
        data = {"isegui_team": TEAM_FORMAT, "url": checked_url(self.url),
                "project": self.project, "images": str(self.images)}
        # a new file in place of whatever the name held: never written through a link
        atomic_write_text(refuse_link(path), json.dumps(data, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> TeamRef:
        data = _team_file_json(path)
        if not isinstance(data, dict) or data.get("isegui_team") != TEAM_FORMAT or not all(
                isinstance(data.get(k), str) for k in ("url", "project", "images")):
            raise ProjectError(f"{path}: not an isegui team file (it needs isegui_team: "
                               f"{TEAM_FORMAT}, url, project and images)")
        if "\0" in data["images"]:
            raise ProjectError(f"{path}: its \"images\" is not a folder name (it holds a NUL "
                               "character)")
        images = Path(data["images"])
        if not images.is_absolute():
            images = (path.parent / images).resolve()
        try:
            schema_name(data["project"])
            return cls(checked_url(data["url"]), data["project"], images)
        except ValueError as exc:
            raise ProjectError(f"{path}: {exc}") from None


def _team_file_json(path: Path) -> object:
    try:
        with path.open("rb") as file:
            raw = file.read(TEAM_FILE_MAX_BYTES + 1)
        if len(raw) > TEAM_FILE_MAX_BYTES:
            raise ProjectError(f"{path}: not a team file (over {TEAM_FILE_MAX_BYTES // 1024} KB; "
                               "a team file is a few lines)")
        return json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(redact_passwords(f"{path}: not a readable team file ({exc})")) \
            from None
    except RecursionError:
        raise ProjectError(f"{path}: not a readable team file (its JSON is nested too "
                           "deep)") from None


def open_team_store(url: str, project: str, *, create: bool = False,
                    read_only: bool = False) -> Store:
    """The store of team project `project` in the database at `url`; `create` makes it (and
    refuses when the project already exists there)."""
    schema = schema_name(project)
    where = f"team project {project!r}"
    try:
        engine = PostgresEngine(url, schema, connect_timeout=connect_timeout(url))
    except (PostgresFailure, ValueError) as exc:
        raise ProjectError(redact_passwords(f"{where}: {_connect_failure(url, exc)}")) from exc
    made = False
    try:
        exists = bool(engine.query("SELECT 1 FROM information_schema.schemata "
                                   "WHERE schema_name = ?", (schema,)))
        if create:
            if exists:
                raise ProjectError(f"{where} already exists in that database; open it with "
                                   "its team file, or choose another name")
            engine.execute(f'CREATE SCHEMA "{schema}"')
            made = True
        elif not exists:
            raise ProjectError(f"{where}: not found in that database, or this login is not "
                               "one of its members (isegui team create makes one; isegui team "
                               "add gives a login a role in it)")
        store = Store.on_engine(engine, where, read_only=read_only, create=create)
        if create:
            with store.transaction():
                team_rules.install(engine, schema, new=True)
        elif (not read_only and team_rules.installed_version(engine) < team_rules.RULES_VERSION
              and _owns(engine, schema)):
            with store.transaction():  # a team project from before these rules
                team_rules.install(engine, schema, new=False)
        return store
    except BaseException:
        if made:  # half made (a login that may not make the team's roles): not kept, or
            _drop_schema(engine, schema)  # every retry would find it "already exists"
        engine.close()
        raise


def _connect_failure(url: str, exc: BaseException) -> str:
    """Why the connection failed, in one line (psycopg lists each host's reason on a line of
    its own)."""
    text = _first_line(exc)
    hosts = _host_count(_connection_parameters(url)) if isinstance(exc, PostgresFailure) else 1
    return f"{text} (every one of the {hosts} hosts it lists)" if hosts > 1 else text


def _owns(engine: PostgresEngine, schema: str) -> bool:
    return bool(engine.query(
        "SELECT pg_has_role(current_user, nspowner, 'MEMBER') FROM pg_namespace "
        "WHERE nspname = ?", (schema,))[0][0])


def drop_team_project(store: Store, project: str) -> None:
    """Remove a team project from its database (one that was just made and cannot be used);
    its roles stay, as logins may be members of them."""
    engine = store.engine
    assert isinstance(engine, PostgresEngine)
    _drop_schema(engine, schema_name(project))


def _drop_schema(engine: PostgresEngine, schema: str) -> None:
    try:
        engine.execute(f'DROP SCHEMA "{schema}" CASCADE')
    except PostgresFailure:
        pass  # the connection is gone: the caller's error says why


EVERYTHING = "*"  # a Change of this table: the feed was away, anything may have changed


@dataclass(frozen=True)
class Change:
    """Another client changed something: which table, which image (None for classes), who."""
    table: str
    image_id: int | None
    by: str


class ChangeFeed:
    """The changes other clients make to a team project, as they commit: a connection of
    its own LISTENs on the project's channel; `poll()` returns what arrived (without
    waiting, for a GUI timer). The store's own changes are left out."""

    def __init__(self, store: Store):
        import psycopg
        engine = store.engine
        if not isinstance(engine, PostgresEngine):
            raise ValueError("only a team project's store announces changes")
        self._engine = engine
        self._own_pid = int(engine.query("SELECT pg_backend_pid()")[0][0])
        self._known_reconnects = engine.reconnects
        self._psycopg = psycopg
        self.url, self.schema = engine.url, engine.schema
        self.channel = team_rules.notice_channel(engine)
        self.lost: str | None = None  # why the feed's connection dropped, until it is back
        try:
            self.conn = psycopg.connect(engine.conninfo(), autocommit=True,
                                        connect_timeout=engine.connect_timeout)
            self.conn.execute(f'LISTEN "{self.channel}"')
        except psycopg.Error as exc:
            raise PostgresFailure(f"cannot follow the team's changes: {exc}") from exc

    def poll(self, timeout: float = 0.0) -> list[Change]:
        """What others committed since the last poll. After the server was away (a restart)
        one Change of table EVERYTHING says that notices may have been missed: reload all."""
        if self.lost is not None:
            return self._listen_again()
        if self._engine.reconnects != self._known_reconnects:  # the store's new connection
            self._own_pid = int(self._engine.query("SELECT pg_backend_pid()")[0][0])
            self._known_reconnects = self._engine.reconnects
        found = []
        try:
            for notice in self.conn.notifies(timeout=timeout, stop_after=1000):
                if notice.pid != self._own_pid:  # the server's word for who sent it
                    change = _change(notice.payload)
                    if change is not None:
                        found.append(change)
        except self._psycopg.OperationalError as exc:
            self.lost = str(exc).strip().splitlines()[0] if str(exc).strip() else "lost"
            return found
        except self._psycopg.Error as exc:
            raise PostgresFailure(f"lost the team's changes: {exc}") from exc
        return found

    def _listen_again(self) -> list[Change]:
        try:
            self.conn.close()
            self.conn = self._psycopg.connect(self._engine.conninfo(), autocommit=True,
                                              connect_timeout=2)
            self.conn.execute(f'LISTEN "{self.channel}"')
        except self._psycopg.Error:
            return []  # still away: the next poll tries again
        self.lost = None
        return [Change(EVERYTHING, None, "")]

    def close(self) -> None:
        self.conn.close()


_NOTICE_TABLES = frozenset({"instances", "images", "classes"})
_NOTICE_MAX_CHARS = 1000


def _change(payload: str) -> Change | None:
    """A notice's change, or None (logged) for one the project's triggers never send: only
    members can send on the channel, but one of them can send anything."""
    try:
        data = json.loads(payload[:_NOTICE_MAX_CHARS])
        table, image, by = data["table"], data.get("image"), data.get("by", "")
        if table not in _NOTICE_TABLES or not (image is None or type(image) is int) \
                or not isinstance(by, str):
            raise ValueError("not a change isegui announces")
        return Change(table, image, by[:PG_NAME_CHARS])
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        log.warning("a change notice that isegui did not send was skipped (%s): %r", exc,
                    payload[:200])
        return None


def add_member(store: Store, login: str, role: str) -> None:
    """Let the PostgreSQL login role `login` (made by IT) work on this team project as an
    inspector or a reviewer (a reviewer loses nothing by also being named an inspector)."""
    engine = store.engine
    if not isinstance(engine, PostgresEngine):
        raise ValueError("members belong to team projects")
    if not engine.query("SELECT 1 FROM pg_roles WHERE rolname = ? AND rolcanlogin", (login,)):
        raise ValueError(f"{login!r}: no such PostgreSQL login (IT creates it: CREATE ROLE "
                         f"{login} LOGIN PASSWORD '...')")
    engine.execute(f'GRANT "{team_rules.role_name(engine.schema, role)}" TO "{login}"')
