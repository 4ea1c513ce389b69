"""A project file or team schema holding tables, views, indexes or triggers isegui did not make
is refused in one line before anything reads or writes it: a view where a table should be can
make a read endless, a trigger can rewrite what isegui writes. The file is left as it was."""

from __future__ import annotations

import sqlite3

import pytest

from isegui.core.errors import ProjectError
from isegui.core.project import PROJECT_FILE, Project
from isegui.core.store import schema

ENDLESS = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n"

HOSTILE = {
    "endless view in place of a table": (
        "ALTER TABLE classes RENAME TO classes_kept;"
        f"CREATE VIEW classes AS SELECT x AS id, '' AS name, '' AS color, 0 AS position "
        f"FROM ({ENDLESS})", '"classes"'),
    "trigger rewriting a new image's path": (
        "CREATE TRIGGER elsewhere AFTER INSERT ON images BEGIN "
        "UPDATE images SET path = '../../outside.png' WHERE id = NEW.id; END", '"elsewhere"'),
    "table of its own": ("CREATE TABLE notes (x TEXT)", '"notes"'),
    "index of its own": ("CREATE INDEX images_by_status ON images(status)", '"images_by_status"'),
    "view of its own": (f"CREATE VIEW numbers AS {ENDLESS}", '"numbers"'),
    "table changed in place": (
        "PRAGMA writable_schema = ON;"
        "UPDATE sqlite_master SET sql = replace(sql, 'DEFAULT ''train''', 'DEFAULT ''test''') "
        "WHERE name = 'images'", '"images"'),
}


def _tamper(db, script: str) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(script)
    conn.commit()
    conn.close()


@pytest.mark.parametrize("script, named", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("read_only", [False, True], ids=["edit", "read"])
def test_a_project_file_with_objects_isegui_did_not_make_is_refused(tmp_path, script, named,
                                                                    read_only):
    Project.create(tmp_path / "p").close()
    db = tmp_path / "p" / PROJECT_FILE
    _tamper(db, script)
    before = db.read_bytes()
    with pytest.raises(ProjectError) as refused:
        Project.open(tmp_path / "p", read_only=read_only).close()
    message = str(refused.value)
    assert "\n" not in message and str(db) in message and named in message
    assert db.read_bytes() == before


def test_an_older_project_file_is_checked_against_its_own_version(tmp_path, monkeypatch):
    """A version-1 file with a trigger is refused before it is migrated (no backup made); a
    clean one is migrated as before."""
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        Project.create(tmp_path / "clean").close()
        Project.create(tmp_path / "hostile").close()
    _tamper(tmp_path / "hostile" / PROJECT_FILE, HOSTILE["trigger rewriting a new image's path"][0])
    with pytest.raises(ProjectError, match='"elsewhere"'):
        Project.open(tmp_path / "hostile")
    assert not list((tmp_path / "hostile").glob("*.bak"))
    with Project.open(tmp_path / "clean") as project:
        assert project.store.meta("schema_version") == str(schema.current_version())


def test_sqlites_own_statistics_are_not_foreign(tmp_path):
    with Project.create(tmp_path / "p") as project:
        project.store.add_image("a.png", 10, 10)
    _tamper(tmp_path / "p" / PROJECT_FILE, "ANALYZE")
    with Project.open(tmp_path / "p") as project:
        assert project.store.image_count() == 1


# --------------------------------------------------------------- a team's PostgreSQL schema

TEAM_SCHEMA = "isegui_line3"
PG_HOSTILE = {
    "view": ("CREATE VIEW {s}.numbers AS SELECT 1 AS x", '"numbers"'),
    "trigger": ("CREATE FUNCTION {s}.moved() RETURNS trigger AS $$ BEGIN "
                "NEW.path := '../outside.png'; RETURN NEW; END $$ LANGUAGE plpgsql;"
                "CREATE TRIGGER moved BEFORE INSERT ON {s}.images FOR EACH ROW "
                "EXECUTE FUNCTION {s}.moved()", '"'),
    "rule": ("CREATE RULE quiet AS ON DELETE TO {s}.instances DO INSTEAD NOTHING",
             '"instances.quiet"'),
    "table": ("CREATE TABLE {s}.notes (x TEXT)", '"notes"'),
    "index": ("CREATE INDEX images_by_status ON {s}.images (status)", '"images_by_status"'),
}


def _team(pg_database, images_in_database=False):
    from isegui.core.store import team_images
    from isegui.core.store.team import open_team_store
    store = open_team_store(pg_database, "line3", create=True)
    if images_in_database:
        team_images.enable(store)
    store.close()


def _pg_tamper(url: str, script: str) -> None:
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script.format(s=TEAM_SCHEMA))


@pytest.mark.parametrize("script, named", PG_HOSTILE.values(), ids=PG_HOSTILE.keys())
def test_a_team_schema_with_objects_isegui_did_not_make_is_refused(pg_database, script, named):
    from isegui.core.store.team import open_team_store
    _team(pg_database)
    _pg_tamper(pg_database, script)
    for read_only in (False, True):
        with pytest.raises(ProjectError) as refused:
            open_team_store(pg_database, "line3", read_only=read_only).close()
        message = str(refused.value)
        assert "\n" not in message and "line3" in message and named in message


def test_a_team_schema_with_a_view_for_its_meta_table_is_refused_at_once(pg_database):
    """`meta` is read first of all: a view there is not read (it could be endless)."""
    from isegui.core.store.team import open_team_store
    _team(pg_database)
    _pg_tamper(pg_database, "ALTER TABLE {s}.meta RENAME TO meta_kept;"
                            "CREATE VIEW {s}.meta AS SELECT * FROM {s}.meta_kept")
    with pytest.raises(ProjectError, match="line3"):
        open_team_store(pg_database, "line3").close()


def test_a_team_schema_as_isegui_made_it_opens(pg_database):
    """Its change notices, its roles' guards and its image files are isegui's own."""
    from isegui.core.store.team import open_team_store
    _team(pg_database, images_in_database=True)
    store = open_team_store(pg_database, "line3")
    try:
        assert store.add_image("a.png", 10, 10).path == "a.png"
    finally:
        store.close()
