"""The team-security audit's probes (../shared/audits/team-security-2026-12-07.md), replayed
against the real PostgreSQL as the owner, an inspector, a reviewer, a member of another
project and another application's login. Each must be refused, or do no harm."""

from __future__ import annotations

import time

import psycopg
import pytest
from shapely.geometry import box

from isegui.core.project import Project
from isegui.core.store.engine import PostgresLockTimeout, PostgresPermissionDenied
from isegui.core.store.team import ChangeFeed, open_team_store

REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException)


# --------------------------------------------------------------------------- F1 least privilege

def test_the_owner_cannot_touch_other_logins_or_the_server(team):
    """B23: the README's owner login takes over no other login and runs nothing on the
    server."""
    for statement in (f'ALTER ROLE "{team.payroll}" PASSWORD \'taken\'',
                      'CREATE ROLE evil LOGIN',
                      f'GRANT pg_execute_server_program TO "{team.owner}"',
                      f'GRANT pg_read_server_files TO "{team.owner}"',
                      f'GRANT "{team.payroll}" TO "{team.owner}"',
                      f'ALTER ROLE "{team.anna}" CREATEROLE',
                      "COPY (SELECT 1) TO PROGRAM 'id'"):
        with pytest.raises(psycopg.Error):
            team.sql(team.owner, statement)
    rows = team.sql(team.owner, "SELECT rolcreaterole, rolsuper FROM pg_roles "
                                "WHERE rolname = current_user")
    assert rows == [(False, False)]


def test_the_setup_function_gives_no_one_the_roles_of_another_project(team):
    """The owner may call IT's function with any name: never for roles that exist and are not
    theirs, never for a name outside isegui's; no one else may call it."""
    victim = f"isegui_victim_{team.owner[-8:]}"
    with psycopg.connect(team.server.url(team.database), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{victim}_inspector" NOLOGIN')  # made by someone else
    try:
        with pytest.raises(psycopg.Error, match="not yours"):
            team.sql(team.owner, "SELECT isegui_setup.make_team_roles(%s)", (victim,))
        for schema in ("isegui_x'; DROP ROLE postgres; --", "payroll", "isegui_"):
            with pytest.raises(psycopg.Error, match="not a team project"):
                team.sql(team.owner, "SELECT isegui_setup.make_team_roles(%s)", (schema,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            team.sql(team.anna, "SELECT isegui_setup.make_team_roles('isegui_mine')")
    finally:
        with psycopg.connect(team.server.url(team.database), autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{victim}_inspector"')


def test_a_login_of_no_team_cannot_connect(team):
    with pytest.raises(psycopg.OperationalError, match="CONNECT"):
        team.sql(team.payroll, "SELECT 1")


# --------------------------------------------------------------------------- F2 reviewed

def test_a_temporary_pg_namespace_does_not_make_an_inspector_the_owner(team, labeled):
    """B8e: the reviewer guard read pg_namespace through the caller's search path."""
    oid = team.sql(team.anna, "SELECT oid FROM pg_roles WHERE rolname = current_user")[0][0]
    with psycopg.connect(team.url(team.anna), autocommit=True,
                         options=f"-c search_path={team.schema}") as conn:
        conn.execute(f"CREATE TEMP TABLE pg_namespace AS SELECT '{team.schema}'::name "
                     f"AS nspname, {oid}::oid AS nspowner, 0::oid AS oid")
        conn.execute("CREATE TEMP TABLE pg_roles AS SELECT * FROM pg_catalog.pg_roles")
        with pytest.raises(REFUSED, match="reviewer"):
            conn.execute("UPDATE images SET status = 'reviewed' WHERE id = %s", (labeled[0],))
    assert _status(team, labeled[0])[0] != "reviewed"


def test_an_inspector_cannot_insert_delete_or_forge_reviewed(team, labeled):
    """B8b, B8d, B8f: an image inserted reviewed, a reviewed image deleted to be inserted
    again, a status_by naming the reviewer."""
    with pytest.raises(REFUSED, match="reviewer"):
        team.sql(team.anna, "INSERT INTO images (path, width, height, status, status_by) "
                            "VALUES ('forged.png', 10, 10, 'reviewed', %s)", (team.ben,))
    with pytest.raises(REFUSED, match="reviewer or the owner"):
        team.sql(team.anna, "DELETE FROM images WHERE id = %s", (labeled[3],))
    team.sql(team.anna, "UPDATE images SET status_by = %s, status_at = '2020-01-01' "
                        "WHERE id = %s", ("anna-not-a-reviewer", labeled[3]))
    assert _status(team, labeled[3])[1] == team.ben  # the server's record stands
    team.sql(team.anna, "UPDATE images SET status = 'unlabeled', status_by = %s "
                        "WHERE id = %s", (team.ben, labeled[0]))
    assert _status(team, labeled[0]) == ("unlabeled", team.anna)  # who did, not who was named


def test_delete_from_images_is_refused_to_an_inspector(team, labeled):
    """B3b: one statement emptied the project."""
    with pytest.raises(REFUSED):
        team.sql(team.anna, "DELETE FROM images")
    assert team.sql(team.owner, f'SELECT count(*) FROM "{team.schema}".images')[0][0] == 4
    assert team.sql(team.owner, f'SELECT count(*) FROM "{team.schema}".instances')[0][0] == 8


# --------------------------------------------------------------------------- F3 claims, meta

def test_a_held_image_is_protected_whole(team, labeled):
    """B3, B4, B5, A2b: a held image deleted, its status or split changed, its claim stolen and
    put back, claims faked in another's name."""
    cara = open_team_store(team.url(team.cara), team.project)
    try:
        assert cara.claim_image(labeled[1]) is None
    finally:
        cara.close()
    for statement, args in (
            ("DELETE FROM images WHERE id = %s", (labeled[1],)),
            ("UPDATE images SET split = 'test' WHERE id = %s", (labeled[1],)),
            ("UPDATE images SET status = 'unlabeled' WHERE id = %s", (labeled[1],)),
            ("UPDATE instances SET shape = shape WHERE image_id = %s", (labeled[1],)),
            ("UPDATE images SET claimed_by = %s WHERE id = %s", (team.ben, labeled[0])),
            ("UPDATE images SET claimed_by = %s, claimed_at = '2099-01-01' "
             "WHERE claimed_by IS NULL", (team.ben,))):
        with pytest.raises(REFUSED):
            team.sql(team.anna, statement, args)
    # a take-over is for oneself, and the old claim cannot be put back under its old time
    team.sql(team.anna, "UPDATE images SET claimed_by = %s WHERE id = %s",
             (team.anna, labeled[1]))
    with pytest.raises(REFUSED, match="for themselves"):
        team.sql(team.anna, "UPDATE images SET claimed_by = %s, claimed_at = '2020-01-01' "
                            "WHERE id = %s", (team.cara, labeled[1]))
    (held_at,) = team.sql(team.anna, "SELECT claimed_at FROM images WHERE id = %s",
                          (labeled[1],))[0]
    assert held_at > "2026"  # the server's clock, not the one asked for


def test_only_the_owner_changes_what_makes_the_project(team, labeled):
    """B18: schema_version set to 99 took the project offline for everyone."""
    for key in ("schema_version", "project_id", "notify_channel", "team_rules"):
        with pytest.raises(REFUSED, match="only the owner"):
            team.sql(team.anna, "UPDATE meta SET value = '99' WHERE key = %s", (key,))
    with pytest.raises(REFUSED):
        team.sql(team.anna, "DELETE FROM meta")
    team.sql(team.anna, "INSERT INTO meta (key, value) VALUES ('mm_per_px', '0.05') "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    Project.open(team.team_file).close()  # still opens, for everyone


def test_image_files_are_added_never_swapped(team):
    """B24: an inspector wrote another part's bytes under a file's name."""
    from isegui.core.store import team_images
    with Project.open(team.team_file) as owner:
        team_images.enable(owner.store)
        owner.store.engine.execute("INSERT INTO image_files (path, sha256, data) "
                                   "VALUES ('a.png', 'x', 'abc'::bytea)")
    for statement in ("UPDATE image_files SET data = 'evil'::bytea",
                      "DELETE FROM image_files"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            team.sql(team.anna, statement)
    team.sql(team.anna, "INSERT INTO image_files (path, sha256, data) "
                        "VALUES ('b.png', 'y', 'abc'::bytea)")


# --------------------------------------------------------------------------- F6 authorship

def test_who_changed_what_and_the_version_are_the_servers(team, labeled):
    """B6, B7: edited_by/created_by and versions were the client's word."""
    team.sql(team.anna, "UPDATE instances SET edited_by = %s, created_by = %s, "
                        "edited_at = '2020-01-01', version = 1 WHERE image_id = %s AND id = 1",
             (team.ben, team.ben, labeled[0]))
    row = team.sql(team.owner, f'SELECT edited_by, created_by, edited_at, version FROM '
                               f'"{team.schema}".instances WHERE image_id = %s AND id = 1',
                   (labeled[0],))[0]
    assert row[0] == team.anna and row[1] != team.ben and row[2] > "2026" and row[3] == 2
    team.sql(team.anna, "INSERT INTO instances (image_id, id, class_id, shape, created_by, "
                        "edited_by) SELECT image_id, 9, class_id, shape, %s, %s FROM "
                        "instances WHERE image_id = %s AND id = 1",
             (team.ben, team.ben, labeled[0]))
    row = team.sql(team.owner, f'SELECT created_by, edited_by FROM "{team.schema}".instances '
                               'WHERE image_id = %s AND id = 9', (labeled[0],))[0]
    assert row == (team.anna, team.anna)


# --------------------------------------------------------------------------- F4 undo

def test_an_inspectors_undo_works(team, labeled):
    """A3c: restoring a class, predictions and instances set a sequence members could not."""
    anna = open_team_store(team.url(team.anna), team.project)
    try:
        extra = anna.add_class("extra")
        position = anna.class_position(extra.id)
        anna.delete_class(extra.id)
        anna.restore_class(extra, position)  # undo of the delete
        assert any(c.id == extra.id for c in anna.classes())
        anna.add_predictions(labeled[0], None, [(extra.id, box(1, 1, 5, 5), 0.9)])
        taken = anna.take_predictions([p.id for p in anna.predictions(labeled[0])])
        anna.restore_predictions(taken)  # undo of an accept
        assert len(anna.predictions(labeled[0])) == 1
        chip = anna.classes()[0].id
        moved = anna.merge_classes(extra.id, chip)
        assert moved == 0
    finally:
        anna.close()


# --------------------------------------------------------------------------- F8 claims end

def test_a_claim_not_renewed_runs_out(team, labeled):
    """D10: a killed window's claim blocked the owner's import for ever. The expiry is read
    when a claim is checked, so it is shortened only once the claim has been seen to hold (a
    1-s expiry from the start ran out before the first check on a loaded machine)."""
    cara = open_team_store(team.url(team.cara), team.project)
    anna = open_team_store(team.url(team.anna), team.project)
    try:
        assert cara.claim_image(labeled[2]) is None
        with pytest.raises(PostgresPermissionDenied, match="is labeling"):
            anna.add_instance(labeled[2], None, box(1, 1, 4, 4))
        with Project.open(team.team_file) as owner:
            owner.store.set_meta("claim_expiry_s", "1")
        time.sleep(2.2)  # cara's window is gone: nobody renews the claim
        assert labeled[2] not in anna.claims()
        anna.add_instance(labeled[2], None, box(1, 1, 4, 4))
        assert anna.claim_image(labeled[2]) is None  # free: no take-over needed
    finally:
        cara.close()
        anna.close()


def test_a_class_merge_goes_through_a_held_image(team, labeled):
    """A2c: one held image refused a class merge for the whole project."""
    cara = open_team_store(team.url(team.cara), team.project)
    anna = open_team_store(team.url(team.anna), team.project)
    try:
        assert cara.claim_image(labeled[0]) is None
        chip = anna.classes()[0].id
        other = anna.add_class("other").id
        assert anna.merge_classes(chip, other) == 8
        with pytest.raises(PostgresPermissionDenied):  # a shape of it still may not change
            anna.update_instance(labeled[0], 1, shape=box(0, 0, 9, 9))
    finally:
        cara.close()
        anna.close()


# --------------------------------------------------------------------------- F9 stalls

def test_an_open_transaction_holds_no_one_longer_than_the_lock_timeout(team, labeled):
    """B20, D7: cara's forgotten psql transaction froze anna's window 24 s."""
    anna = open_team_store(team.url(team.anna), team.project)
    anna.engine.set_lock_timeout(1500)  # the window's
    try:
        with psycopg.connect(team.url(team.cara), options=f"-c search_path={team.schema}") \
                as cara:
            cara.execute("UPDATE images SET split = split WHERE id = %s", (labeled[1],))
            start = time.monotonic()
            with pytest.raises(PostgresLockTimeout, match="lock timeout") as waited:
                anna.claim_image(labeled[1])
            assert time.monotonic() - start < 4
            assert waited.value.holders == (team.cara,)
            cara.rollback()
        assert anna.claim_image(labeled[1]) is None
    finally:
        anna.close()
    from isegui.core.store.base import write_failure_in_words
    assert f"waited for {team.cara}'s change" in write_failure_in_words(waited.value)


# --------------------------------------------------------------------------- F5 notices

def test_notices_cannot_be_heard_or_forged_from_outside_and_bad_ones_are_skipped(team, labeled):
    """B19, D4, D5: dave, in another project, heard and forged line3's notices; a malformed one
    raised in the window and the genuine ones of its batch were lost."""
    anna = open_team_store(team.url(team.anna), team.project)
    feed = ChangeFeed(anna)
    try:
        assert feed.channel != team.schema and feed.channel.startswith(team.schema)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # dave cannot read meta
            team.sql(team.dave, f'SELECT value FROM "{team.schema}".meta')
        with psycopg.connect(team.url(team.dave), autocommit=True) as dave:
            dave.execute(f'LISTEN "{team.schema}"')  # the old, guessable channel
            team.sql(team.cara, "UPDATE images SET split = 'val' WHERE id = %s",
                     (labeled[0],))
            assert list(dave.notifies(timeout=0.5, stop_after=1)) == []
        team.sql(team.dave, f'NOTIFY "{team.schema}", \'{{"table": "images", "image": 1}}\'')
        team.sql(team.cara, f"NOTIFY \"{feed.channel}\", 'not json at all'")
        team.sql(team.cara, f"NOTIFY \"{feed.channel}\", '{{\"table\": \"*\"}}'")
        team.sql(team.cara, "UPDATE images SET split = 'train' WHERE id = %s", (labeled[0],))
        changes = feed.poll(timeout=1.0)
        # cara's two genuine changes; nothing of dave's, nor the two malformed notices
        assert {(c.table, c.image_id, c.by) for c in changes} == {
            ("images", labeled[0], team.cara)}
    finally:
        feed.close()
        anna.close()


def _status(team, image_id: int) -> tuple[str, str | None]:
    return tuple(team.sql(team.owner, f'SELECT status, status_by FROM "{team.schema}".images '
                                      "WHERE id = %s", (image_id,))[0])


def test_a_replacing_import_skips_an_image_a_team_mate_holds_and_says_so(team, labeled,
                                                                         tmp_path):
    """D10: one held image made the owner's whole `import --existing replace` fail."""
    import numpy as np

    from isegui.core.formats.exporter import export_dataset
    from isegui.core.formats.importer import ImportOptions, import_dataset
    from isegui.core.images import save_image
    for n in range(1, 5):
        save_image(tmp_path / "share" / f"p{n}.png", np.zeros((80, 100, 3), np.uint8))
    out = tmp_path / "coco"
    with Project.open(team.team_file) as owner:
        export_dataset(owner, "coco", out, copy_images=False)
    cara = open_team_store(team.url(team.cara), team.project)
    try:
        assert cara.claim_image(labeled[0]) is None
        with Project.open(team.team_file) as owner:
            report = import_dataset(owner, ImportOptions(
                format="coco", source=out / "annotations" / "instances_train.json",
                existing="replace", images_root=tmp_path / "share"))
        assert report.images_skipped == 1
        assert any(f"{team.cara} is labeling it" in w for w in report.warnings)
    finally:
        cara.close()


def test_predictions_of_a_held_image_are_the_holders(team, labeled):
    """Claims protect predictions too: accepting, rejecting or replacing another's."""
    cara = open_team_store(team.url(team.cara), team.project)
    anna = open_team_store(team.url(team.anna), team.project)
    try:
        chip = cara.classes()[0].id
        cara.add_predictions(labeled[0], None, [(chip, box(1, 1, 5, 5), 0.9)])
        assert cara.claim_image(labeled[0]) is None
        (prediction,) = cara.predictions(labeled[0])
        with pytest.raises(PostgresPermissionDenied, match="is labeling"):
            anna.add_predictions(labeled[0], None, [(chip, box(2, 2, 6, 6), 0.8)])
        with pytest.raises(PostgresPermissionDenied, match="is labeling"):
            anna.take_predictions([prediction.id])
        assert [p.id for p in cara.predictions(labeled[0])] == [prediction.id]
        assert cara.take_predictions([prediction.id])  # the holder accepts it
    finally:
        cara.close()
        anna.close()
