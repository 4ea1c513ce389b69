"""A private PostgreSQL cluster on 127.0.0.1 and a free port, for the tests and the bench:
initdb into a fresh folder, start, stop and remove. Trust authentication, so never for real
data. As root it runs every PostgreSQL command as the `postgres` user (the server refuses root)."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql

INSTALL_HINT = "install PostgreSQL's server: `apt-get install postgresql` (Debian/Ubuntu)"
_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"  # nothing else gets in


class PgServerError(RuntimeError):
    """The cluster could not be made, started or stopped; the message ends with its log."""


class PgNotInstalledError(PgServerError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine."""


def find_bindir() -> Path:
    """The folder with initdb and pg_ctl: pg_config's, else Debian's newest, else PATH's."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            candidates.append(Path(subprocess.run([pg_config, "--bindir"], capture_output=True,
                                                  text=True, timeout=30).stdout.strip()))
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]  # <version>/bin
    candidates += sorted(found, key=lambda p: [int(n) for n in p.parent.name.split(".")
                                               if n.isdigit()], reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all(shutil.which(tool, path=str(bindir)) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PgNotInstalledError(f"PostgreSQL's initdb/pg_ctl/postgres not found: {INSTALL_HINT}")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """One running cluster. `LocalServer.start()`, then `url()`, `create_database()`, ...,
    `stop()` (or use it as a context manager)."""

    host = "127.0.0.1"
    superuser = "isegui_admin"

    def __init__(self, bindir: Path, folder: Path, port: int, remove_folder: bool) -> None:
        self.bindir, self.folder, self.port = bindir, folder, port
        self.data, self.log = folder / "data", folder / "server.log"
        self._remove_folder, self._running = remove_folder, False

    @classmethod
    def start(cls, folder: Path | None = None, *, fast: bool = False, port: int | None = None,
              bindir: Path | None = None) -> LocalServer:
        """A started cluster in `folder` (reused if it holds one; default: a fresh temporary
        folder, removed by stop()). `fast` turns fsync and full-page writes off: tests only."""
        if bindir is not None and not (bindir / "initdb").exists():
            raise PgNotInstalledError(f"no initdb in {bindir}: {INSTALL_HINT}")
        bindir = bindir or find_bindir()
        remove = folder is None
        folder = Path(tempfile.mkdtemp(prefix="isegui-pg-")) if folder is None else folder
        server = cls(bindir, folder.resolve(), port or _free_port(), remove)
        try:
            server._prepare_folder()
            if not (server.data / "PG_VERSION").exists():
                server._initdb()
            elif server._run(["pg_ctl", "status", "-D", str(server.data)], check=False) == 0:
                raise PgServerError(f"a server already runs on {server.data}")
            for attempt in range(3):
                try:
                    server._pg_ctl_start(fast)
                    break
                except PgServerError as e:  # the free port got taken meanwhile: try another
                    if port is not None or "already in use" not in str(e) or attempt == 2:
                        raise
                    server.port = _free_port()
        except BaseException:
            if server._running:  # it may have started without answering in time
                server._run(["pg_ctl", "stop", "-D", str(server.data), "-m", "immediate"],
                            check=False)
            server._cleanup()
            raise
        atexit.register(server.stop)
        return server

    def url(self, database: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.superuser}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str, owner: str | None = None) -> None:
        from psycopg import sql
        owner_sql = sql.SQL(" OWNER {}").format(sql.Identifier(owner)) if owner else sql.SQL("")
        self._admin(sql.SQL("CREATE DATABASE {}{}").format(sql.Identifier(name), owner_sql))

    def drop_database(self, name: str) -> None:
        """Drops it, ending its open connections first (WITH (FORCE))."""
        from psycopg import sql
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create_role(self, name: str, login: bool = True, password: str | None = None) -> None:
        """A role; the password is stored, but trust authentication never asks for it."""
        from psycopg import sql
        query = sql.SQL("CREATE ROLE {} {}").format(
            sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN"))
        if password is not None:
            query = sql.SQL("{} PASSWORD {}").format(query, sql.Literal(password))
        self._admin(query)

    def stop(self) -> None:
        """Stops the server (fast mode: open sessions end) and removes a temporary folder."""
        atexit.unregister(self.stop)
        if self._running:
            self._running = False
            self._run(["pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w"])
        self._cleanup()

    def halt(self) -> None:
        """Stops the server but keeps its cluster and port: resume() starts it again (a
        server restart, as clients see it)."""
        if self._running:
            self._running = False
            self._run(["pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w"])

    def resume(self, fast: bool = False) -> None:
        self._pg_ctl_start(fast)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _admin(self, query: sql.Composed) -> None:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(query)

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if _is_root():  # the server runs as postgres: it must own the folder and reach it
            import pwd
            pg = pwd.getpwnam("postgres")
            os.chown(self.folder, pg.pw_uid, pg.pw_gid)
            self.folder.chmod(0o700)
            probe = subprocess.run(self._as_pg(["test", "-w", str(self.folder)]))
            if probe.returncode != 0:
                raise PgServerError(f"the postgres user cannot reach {self.folder}: "
                                    "give a folder outside root's private ones (not /root)")

    def _initdb(self) -> None:
        self._run(["initdb", "-D", str(self.data), "-U", self.superuser, "-E", "UTF8",
                   "--locale=C", "--auth=trust", "--no-sync", "--no-instructions"])
        (self.data / "pg_hba.conf").write_text(_HBA)

    def _pg_ctl_start(self, fast: bool) -> None:
        opts = f"-c listen_addresses={self.host} -p {self.port} -k {self.folder}"
        opts += " -c fsync=off -c full_page_writes=off" if fast else ""
        self._running = True
        self._run(["pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l",
                   str(self.log), "-o", opts])

    def _as_pg(self, argv: list[str]) -> list[str]:
        if not _is_root():
            return argv
        return (["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else
                ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]) + argv

    def _run(self, argv: list[str], check: bool = True) -> int:
        """Runs bindir's argv[0] (as postgres when root); PgServerError if it fails and check."""
        what = " ".join(argv[:2] if argv[0] == "pg_ctl" else argv[:1])
        try:
            done = subprocess.run(self._as_pg([str(self.bindir / argv[0]), *argv[1:]]),
                                  cwd=self.folder, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PgServerError(f"{what} failed: {e}") from e
        if done.returncode != 0 and check:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            tail = "\n".join((done.stdout + done.stderr + log).strip().splitlines()[-20:])
            raise PgServerError(f"{what} failed (exit {done.returncode}):\n{tail}")
        return done.returncode

    def _cleanup(self) -> None:
        if self._remove_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
