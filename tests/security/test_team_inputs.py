"""What a team URL, a team file and a name may hold (the audit's C1d, C2, C5c, C6, D9): a team
file is handed round and edited by anyone on the share, so it names a server and nothing that
could send a password elsewhere; names stay short and printable."""

from __future__ import annotations

import json

import pytest

from isegui.core.errors import ProjectError
from isegui.core.store.engine import PostgresEngine
from isegui.core.store.team import TeamRef, checked_url, schema_name

SERVER = "postgresql://anna@dbserver:5432/isegui"


@pytest.mark.parametrize("extra", ["hostaddr=10.6.6.6", "options=-c%20search_path%3Devil",
                                   "passfile=/tmp/x", "require_auth=password",
                                   "sslmode=disable&host=evil", "service=corp",
                                   "krbsrvname=x", "target_session_attrs=any"])
def test_a_team_url_names_a_server_and_nothing_else(extra):
    if extra.startswith("sslmode=disable&host"):
        checked_url(f"{SERVER}?sslmode=disable")  # sslmode alone is fine
        extra = "hostaddr=10.6.6.6&sslmode=disable"
    with pytest.raises(ValueError, match="names only") as refused:
        checked_url(f"{SERVER}?{extra}")
    assert "\n" not in str(refused.value)


def test_a_team_file_edited_to_send_the_password_elsewhere_is_refused(tmp_path):
    path = tmp_path / "line3.isegui-team"
    path.write_text(json.dumps({"isegui_team": 1, "project": "line3", "images": str(tmp_path),
                                "url": f"{SERVER}?hostaddr=127.0.0.1"}))
    with pytest.raises(ProjectError, match="hostaddr"):
        TeamRef.read(path)
    path.write_text(json.dumps({"isegui_team": 1, "project": "line3", "images": str(tmp_path),
                                "url": f"{SERVER}?sslmode=verify-full&sslrootcert=/etc/ca.pem"}))
    assert TeamRef.read(path).url.endswith("sslrootcert=/etc/ca.pem")


def test_every_connection_refuses_clear_text_and_md5_passwords_and_has_time_limits():
    engine = PostgresEngine.__new__(PostgresEngine)
    engine.url, engine.lock_timeout_ms = SERVER, 1500
    from psycopg.conninfo import conninfo_to_dict
    settings = conninfo_to_dict(engine.conninfo())
    assert settings["require_auth"] == "!password,!md5"
    assert "lock_timeout=1500" in settings["options"]
    assert "idle_in_transaction_session_timeout" in settings["options"]
    assert "statement_timeout" in settings["options"]


@pytest.mark.parametrize("name", ["nl8\n", "line3\n", " line3", "line3\x00"])
def test_a_project_name_with_a_line_break_or_space_is_refused(name):
    with pytest.raises(ValueError, match="1-51 letters"):
        schema_name(name)


@pytest.mark.parametrize("name, words", [("L" * 101, "at most 100"), ("a\x00b", "control"),
                                         ("x\ny", "control"), ("\u202egnp.exe", "control")])
def test_a_class_name_is_short_and_printable(store, name, words):
    with pytest.raises(ValueError, match=words):
        store.add_class(name)
    store.add_class("L" * 100)
    store.add_class("ünïcødé ✓ 傷 🔩")
