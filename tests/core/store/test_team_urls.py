"""A team's connection URL: a password in it is refused and never printed or logged, however it
is written; a URL listing several hosts that do not answer is given up on within one overall
wait, not 10 s per host; a team file that is not one (nested JSON, a bad name) is refused in one
line naming it."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from isegui.cli import main
from isegui.core.errors import ProjectError
from isegui.core.store import team
from isegui.core.store.team import TeamRef, checked_url, open_team_store

SECRET = "hunter2"


@pytest.mark.parametrize("text, shown", [
    (f"postgresql://anna:{SECRET}@db/line", "postgresql://anna:***@db/line"),
    (f"postgresql://anna@db/line?password={SECRET}", "postgresql://anna@db/line?password=***"),
    (f"postgresql://anna@db/line?sslmode=require&password={SECRET}&connect_timeout=3",
     "postgresql://anna@db/line?sslmode=require&password=***&connect_timeout=3"),
    (f"host=db user=anna password={SECRET} dbname=line",
     "host=db user=anna password=*** dbname=line"),
    (f"host=db password='{SECRET} x' dbname=line", "host=db password=*** dbname=line"),
    (f"postgres://db/line?sslpassword={SECRET}", "postgres://db/line?sslpassword=***"),
    ("postgresql://anna@db/line", "postgresql://anna@db/line"),
])
def test_passwords_are_redacted_however_written(text, shown):
    from isegui.core.redact import redact_passwords
    assert redact_passwords(f"cannot connect to {text}: refused") == \
        f"cannot connect to {shown}: refused"


@pytest.mark.parametrize("url", [
    f"postgresql://anna@db/line?password={SECRET}",
    f"postgresql://anna@db/line?sslmode=require&password={SECRET}",
    f"postgresql://anna:{SECRET}@db/line",
])
def test_a_password_in_the_url_is_refused_without_showing_it(url):
    with pytest.raises(ValueError, match="must not hold a password") as refused:
        checked_url(url)
    assert SECRET not in str(refused.value)


def test_a_team_file_with_a_password_is_refused_without_showing_it(tmp_path):
    path = tmp_path / "line3.isegui-team"
    path.write_text(json.dumps({"isegui_team": 1, "project": "line3", "images": ".",
                                "url": f"postgresql://anna@db/line?password={SECRET}"}))
    with pytest.raises(ProjectError, match="must not hold a password") as refused:
        TeamRef.read(path)
    assert SECRET not in str(refused.value) and str(path) in str(refused.value)


def test_the_command_line_neither_prints_nor_logs_a_password(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ISEGUI_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "images").mkdir()
    url = f"postgresql://anna@127.0.0.1:9/line?password={SECRET}"
    code = main(["team", "create", url, "line3", "--images", str(tmp_path / "images"),
                 "--file", str(tmp_path / "line3.isegui-team")])
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert code != 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "password" in out.err
    log = (tmp_path / "logs" / "cli.log").read_text(encoding="utf-8")
    assert "team create" in log and SECRET not in log


def test_a_log_record_holding_a_password_is_written_without_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ISEGUI_LOG_DIR", str(tmp_path / "logs"))
    from isegui.logs import start_logging
    path = start_logging("cli")
    try:
        raise RuntimeError(f"cannot connect to postgresql://anna:{SECRET}@db/line")
    except RuntimeError:
        logging.getLogger("isegui.test").exception("failed at postgresql://db/x?password=%s",
                                                   SECRET)
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "RuntimeError" in text and SECRET not in text


@pytest.fixture
def silent_hosts():
    """Two addresses that accept a connection and then never answer (a server that hangs,
    or a firewall that swallows the reply)."""
    sockets = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sockets.append(sock)
    yield ",".join(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets)
    for sock in sockets:
        sock.close()


def test_several_silent_hosts_are_given_up_on_within_one_overall_wait(silent_hosts,
                                                                      monkeypatch):
    monkeypatch.setattr(team, "CONNECT_BUDGET_S", 4, raising=False)
    started = time.monotonic()
    with pytest.raises(ProjectError, match="line3") as refused:
        open_team_store(f"postgresql://anna@{silent_hosts}/line", "line3")
    assert time.monotonic() - started < 7  # 4 s in all (2 s a host), not 10 s a host
    assert "\n" not in str(refused.value) and "2 hosts" in str(refused.value)


def test_a_url_listing_more_hosts_than_the_wait_allows_is_refused():
    hosts = ",".join(f"db{n}" for n in range(team.CONNECT_BUDGET_S))
    with pytest.raises(ValueError, match="hosts"):
        checked_url(f"postgresql://anna@{hosts}/line")
    assert checked_url("postgresql://anna@db1,db2/line")


@pytest.mark.parametrize("content, problem", [
    ("[" * 20_000 + "]" * 20_000, "nested too deep"),
    (" " * 100_000, "over 64 KB"),
    (json.dumps({"isegui_team": 1, "url": "postgresql://anna@db/line", "project": "../x",
                 "images": "."}), "team project's name"),
    (json.dumps({"isegui_team": 1, "url": "postgresql://anna@db/line", "project": "line3",
                 "images": "a\0b"}), "images"),
])
def test_a_team_file_that_is_not_one_is_refused_in_one_line(tmp_path, content, problem):
    path = tmp_path / "bomb.isegui-team"
    path.write_text(content)
    with pytest.raises(ProjectError, match=problem) as refused:
        TeamRef.read(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
