"""PostgreSQL for the tests: one private server per test session (isegui.testing.pg_server) and a
fresh database per test. Real PostgreSQL, no mock: where it is missing and we are root, the
session installs Debian's `postgresql` once; otherwise the tests that need it skip, saying why.
ISEGUI_REQUIRE_PG=1 (.ci/run) turns that skip into a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from isegui.testing.pg_server import LocalServer, PgNotInstalledError, find_bindir


def _install_postgresql() -> str | None:
    """Installs the package when we may (root, apt-get); None, or why it did not work."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return "not root or no apt-get: run `sudo apt-get install postgresql` (or `make test`)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return f"`{' '.join(argv)}` failed: {(done.stdout + done.stderr).strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def pg_server():
    """A started LocalServer (fsync off) for the whole session; stopped and removed after."""
    try:
        find_bindir()
    except PgNotInstalledError as missing:
        why = _install_postgresql()
        if why is not None:
            message = f"PostgreSQL is not installed and could not be installed ({why}): {missing}"
            if os.environ.get("ISEGUI_REQUIRE_PG") == "1":
                pytest.fail(message)
            pytest.skip(message)
    server = LocalServer.start(fast=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_server):
    """The superuser's URL of a fresh, empty database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    pg_server.create_database(name)
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def own_server(pg_server):  # pg_server: PostgreSQL is installed (or the test skips)
    """A private PostgreSQL with a database "line", for tests that stop and start it."""
    import tempfile
    from pathlib import Path
    server = LocalServer.start(Path(tempfile.mkdtemp(prefix="isegui-pg-restart-")), fast=True)
    server.create_database("line")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
