"""The private PostgreSQL server the team-store tests run against really runs (the fixtures:
tests/pg_fixtures.py, wired in by tests/conftest.py)."""

import socket
import uuid

import psycopg
import pytest

from isegui.testing.pg_server import LocalServer, PgNotInstalledError, PgServerError


def test_a_table_round_trips(pg_database):
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE parts (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO parts (name) VALUES (%s), (%s)", ("washer", "pill"))
        conn.commit()
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT name FROM parts ORDER BY id").fetchall()
        assert rows == [("washer",), ("pill",)]
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_each_test_gets_an_empty_database(pg_database):
    with psycopg.connect(pg_database) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)


def test_listen_notify_reaches_another_connection(pg_database):
    with psycopg.connect(pg_database, autocommit=True) as listener, \
            psycopg.connect(pg_database) as sender:
        listener.execute("LISTEN project_changed")
        sender.execute("SELECT pg_notify('project_changed', 'image 7')")
        sender.commit()
        received = list(listener.notifies(timeout=2.0, stop_after=1))
    assert [(n.channel, n.payload) for n in received] == [("project_changed", "image 7")]


def test_a_created_role_can_log_in(pg_server, pg_database):
    role = f"labeler_{uuid.uuid4().hex[:8]}"
    pg_server.create_role(role, password="secret")
    try:
        with psycopg.connect(pg_server.url(pg_database.rsplit("/", 1)[1], user=role)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
    finally:
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{role}"')


def test_listens_on_localhost_only(pg_server, pg_database):
    assert pg_server.host == "127.0.0.1"
    assert pg_database == f"postgresql://isegui_admin@127.0.0.1:{pg_server.port}/" \
                          f"{pg_database.rsplit('/', 1)[1]}"
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW port").fetchone() == (str(pg_server.port),)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)  # the tests' fast mode


def test_stop_ends_the_server_and_removes_its_folder(pg_server):
    # (pg_server first: it installs PostgreSQL where it is missing)
    with LocalServer.start(fast=True) as server:
        folder = server.folder
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not folder.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_a_taken_port_fails_with_the_server_log(pg_server):
    with pytest.raises(PgServerError, match="already in use") as failure:
        LocalServer.start(port=pg_server.port)
    assert "pg_ctl start failed" in str(failure.value)


def test_missing_binaries_say_what_to_install(tmp_path):
    with pytest.raises(PgNotInstalledError, match="apt-get install postgresql"):
        LocalServer.start(bindir=tmp_path)
