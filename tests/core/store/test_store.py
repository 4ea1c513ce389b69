import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from shapely.geometry import box

from isegui.core.store import schema
from isegui.core.entities import ImageStatus, RunStatus
from isegui.core.errors import (ProjectLockedError, ProjectNotFoundError, SchemaVersionError)
from isegui.core.project import PROJECT_FILE, Project


def test_create_reopen_and_data_survives(tmp_path):
    folder = tmp_path / "p"
    with Project.create(folder, name="line 3") as p:
        cls = p.store.add_class("pill")
        img = p.store.add_image("images/a.png", 64, 48)
        inst = p.store.add_instance(img.id, cls.id, box(1, 2, 10, 12), track_id=7)
        p.set_calibration(0.05)
    with Project.open(folder) as p:
        assert p.name == "line 3" and p.mm_per_px == 0.05
        (got,) = p.store.instances(img.id)
        assert got == inst and got.shape.equals(box(1, 2, 10, 12)) and got.track_id == 7
        # the first instance leaves it unlabeled: in progress until its person marks it labeled
        assert p.store.image(img.id).status == ImageStatus.UNLABELED
    conn = sqlite3.connect(folder / PROJECT_FILE)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_twice_is_a_clear_error_but_reading_is_fine(tmp_path):
    with Project.create(tmp_path / "p"):
        with pytest.raises(ProjectLockedError, match="already open in another isegui"):
            Project.open(tmp_path / "p")
        with Project.open(tmp_path / "p", read_only=True) as reader:
            assert reader.store.image_count() == 0
            with pytest.raises(sqlite3.OperationalError):
                reader.store.add_class("x")
    Project.open(tmp_path / "p").close()  # the lock went with the first editor


def test_the_lock_dies_with_its_process(tmp_path):
    Project.create(tmp_path / "p").close()
    code = textwrap.dedent(f"""
        import time
        from isegui.core.project import Project
        p = Project.open({str(tmp_path / 'p')!r})
        print('open', flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(ProjectLockedError, match=f"process {proc.pid}"):
            Project.open(tmp_path / "p")
    finally:
        proc.kill()
        proc.wait()
    Project.open(tmp_path / "p").close()


def test_not_a_project(tmp_path):
    with pytest.raises(ProjectNotFoundError, match="not an isegui project"):
        Project.open(tmp_path)


def test_a_newer_schema_is_refused_and_left_alone(tmp_path):
    Project.create(tmp_path / "p").close()
    db = tmp_path / "p" / PROJECT_FILE
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(SchemaVersionError, match="newer isegui"):
        Project.open(tmp_path / "p")
    with pytest.raises(SchemaVersionError):
        Project.open(tmp_path / "p", read_only=True)
    assert db.read_bytes() == before


def test_migration_runs_once_keeps_a_backup_and_rolls_back_on_failure(tmp_path, monkeypatch):
    current = schema.current_version()
    with Project.create(tmp_path / "p") as p:
        p.store.add_class("pill")

    def add_note_column(conn):
        conn.execute("ALTER TABLE classes ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    def broken(conn):
        conn.execute("ALTER TABLE classes ADD COLUMN other TEXT")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [broken])
    with pytest.raises(RuntimeError):
        Project.open(tmp_path / "p")
    conn = sqlite3.connect(tmp_path / "p" / PROJECT_FILE)
    assert "other" not in [r[1] for r in conn.execute("PRAGMA table_info(classes)")]
    conn.close()

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:current] + [add_note_column])
    with Project.open(tmp_path / "p") as p:
        assert [c.name for c in p.store.classes()] == ["pill"]
        assert p.store.meta("schema_version") == str(current + 1)
    assert (tmp_path / "p" / f"{PROJECT_FILE}.v{current}.bak").is_file()


def test_instance_ids_are_never_reused(store):
    img = store.add_image("a.png", 10, 10)
    a = store.add_instance(img.id, None, box(0, 0, 2, 2))
    b = store.add_instance(img.id, None, box(3, 3, 5, 5))
    gone = store.delete_instances(img.id, [b.id])
    c = store.add_instance(img.id, None, box(6, 6, 8, 8))
    assert (a.id, b.id, c.id) == (1, 2, 3)
    store.restore_instances(gone)  # undo of the delete brings id 2 back
    assert [i.id for i in store.instances(img.id)] == [1, 2, 3]
    assert store.add_instance(img.id, None, box(0, 5, 1, 6)).id == 4


def test_z_order_and_updates(store):
    img = store.add_image("a.png", 10, 10)
    a = store.add_instance(img.id, None, box(0, 0, 5, 5))
    b = store.add_instance(img.id, None, box(2, 2, 7, 7))
    assert (a.z, b.z) == (0, 1)
    store.update_instance(img.id, a.id, z=5, shape=box(0, 0, 4, 4))
    assert [i.id for i in store.instances(img.id)] == [b.id, a.id]
    with pytest.raises(TypeError):
        store.update_instance(img.id, a.id, image_id=3)
    with pytest.raises(KeyError):
        store.update_instance(img.id, 99, z=1)


def test_a_failed_transaction_changes_nothing(store):
    img = store.add_image("a.png", 10, 10)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_class("pill")
            store.add_instance(img.id, None, box(0, 0, 1, 1))
            raise RuntimeError("stop")
    assert store.classes() == [] and store.instances(img.id) == []


def test_classes_rename_merge_delete(store):
    s = store
    pill, capsule, chip = (s.add_class(n) for n in ("pill", "capsule", "chip"))
    img = s.add_image("a.png", 10, 10)
    s.add_instance(img.id, capsule.id, box(0, 0, 1, 1))
    s.add_instance(img.id, chip.id, box(2, 2, 3, 3))
    with pytest.raises(ValueError, match="already exists"):
        s.rename_class(chip.id, "pill")
    assert s.merge_classes(capsule.id, pill.id) == 1
    assert [c.name for c in s.classes()] == ["pill", "chip"]
    assert s.delete_class(chip.id) == 1  # kept without a class
    assert [i.class_id for i in s.instances(img.id)] == [pill.id, None]
    assert s.delete_class(pill.id, delete_instances=True) == 1
    assert len(s.instances(img.id)) == 1


def test_predictions_and_runs_are_apart_from_labels(store):
    s = store
    img = s.add_image("a.png", 10, 10)
    run = s.add_run("first", {"model": "fast"})
    s.add_predictions(img.id, run.id, [(None, box(0, 0, 4, 4), 0.9), (None, box(5, 5, 6, 6), 0.2)])
    assert s.instances(img.id) == []
    assert [p.score for p in s.predictions(img.id, min_score=0.5)] == [0.9]
    s.add_predictions(img.id, run.id, [(None, box(0, 0, 1, 1), 0.5)])  # replaces the run's
    assert len(s.predictions(img.id)) == 1
    done = s.update_run(run.id, status=RunStatus.FINISHED, metrics={"mask_map": 0.5},
                        checkpoint="runs/1/best.pt")
    assert done.finished and done.metrics == {"mask_map": 0.5}
    assert s.runs() == [done]
    s.set_meta("active_run", str(run.id))
    s.set_meta("active_run", "7")  # replaced, not added
    assert s.meta("active_run") == "7"
    s.set_meta("active_run", None)
    assert s.meta("active_run") is None


KILL_WRITER = """
import sys
from shapely.geometry import box
from isegui.core.project import Project
from isegui.core.entities import Source
p = Project.open(sys.argv[1])
img = p.store.images()[0]
print("writing", flush=True)
with p.store.transaction():
    for k in range(200000):
        p.store.add_instance(img.id, None, box(k % 50, 0, k % 50 + 1, 1), source=Source.IMPORTED)
print("committed", flush=True)
"""


@pytest.mark.parametrize("delay", [0.05, 0.4, 1.5])
def test_killed_during_a_write_the_project_has_the_old_or_the_new_state(tmp_path, delay):
    with Project.create(tmp_path / "p") as p:
        img = p.store.add_image("a.png", 64, 64)
        p.store.add_instance(img.id, None, box(0, 0, 5, 5))
    proc = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(tmp_path / "p")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Project.open(tmp_path / "p") as p:
        count = len(p.store.instances(img.id))
        assert count in (1, 200001)
        assert p.store.add_instance(img.id, None, box(9, 9, 10, 10)).id == count + 1


def test_only_polygons_are_stored(store):
    from shapely.geometry import LineString, Polygon
    from isegui.core.errors import ShapeError
    img = store.add_image("a.png", 10, 10)
    for bad in (LineString([(0, 0), (1, 1)]), Polygon()):
        with pytest.raises(ShapeError):
            store.add_instance(img.id, None, bad)
    assert store.instances(img.id) == []


def test_restored_rows_keep_their_ids_and_new_ones_go_above(store):
    """Undo puts rows back with their own ids; the engine's id counter must still move past
    them (PostgreSQL's identity sequences do not on their own)."""
    from isegui.core.entities import LabelClass
    a = store.add_class("pill")
    store.delete_class(a.id)
    store.restore_class(LabelClass(a.id, "pill", a.color), 0)
    store.restore_class(LabelClass(a.id + 5, "chip", a.color), 1)
    assert store.add_class("washer").id == a.id + 6
    img = store.add_image("a.png", 10, 10)
    run = store.add_run("r", {})
    store.add_predictions(img.id, run.id, [(a.id, box(0, 0, 2, 2), 0.9)])
    (pred,) = store.take_predictions([p.id for p in store.predictions(img.id)])
    store.restore_predictions([pred])
    assert [p.id for p in store.predictions(img.id)] == [pred.id]
    store.add_predictions(img.id, None, [(None, box(1, 1, 3, 3), 0.4)])
    assert len(store.predictions(img.id)) == 2  # a run-less set beside the run's
    store.add_predictions(img.id, None, [(None, box(1, 1, 3, 3), 0.3)])
    assert sorted(p.score for p in store.predictions(img.id)) == [0.3, 0.9]


def test_shapes_round_trip_exactly(store):
    from shapely.geometry import Polygon
    img = store.add_image("a.png", 100, 100)
    ring = Polygon([(0, 0), (50.25, 0), (50.25, 40.5), (0, 40.5)], [[(10, 10), (20, 10), (20, 20)]])
    made = store.add_instance(img.id, None, ring)
    assert store.instance(img.id, made.id).shape.equals_exact(ring, 0)
    assert [i.shape.wkb for _, insts in store.iter_labeled() for i in insts] == [ring.wkb]


def test_an_edit_names_its_version_and_a_stale_one_is_refused(store):
    from isegui.core.errors import StaleEdit
    img = store.add_image("a.png", 10, 10)
    mine = store.add_instance(img.id, None, box(0, 0, 2, 2))
    assert (mine.version, mine.created_by, mine.edited_by) == (1, store.user, store.user)
    other = store.another()  # a team mate on another PC
    try:
        theirs = other.update_instance(img.id, mine.id, expected_version=1,
                                       shape=box(0, 0, 3, 3))
        assert theirs.version == 2 and theirs.edited_at
        with pytest.raises(StaleEdit, match=f"changed by {other.user} at") as refused:
            store.update_instance(img.id, mine.id, expected_version=1, shape=box(0, 0, 9, 9))
        assert (refused.value.image_id, refused.value.instance_id) == (img.id, mine.id)
        assert store.instance(img.id, mine.id).shape.equals(box(0, 0, 3, 3))  # theirs kept
        with pytest.raises(StaleEdit):
            store.delete_instances(img.id, [mine.id], expected_versions={mine.id: 1})
        assert store.instance(img.id, mine.id).version == 2  # not deleted
        gone = other.delete_instances(img.id, [mine.id], expected_versions={mine.id: 2})
        with pytest.raises(StaleEdit, match="deleted by someone else"):
            store.update_instance(img.id, mine.id, expected_version=2, z=3)
        other.restore_instances(gone)  # undone: back with its version
        assert store.instance(img.id, mine.id).version == 2
    finally:
        other.close()


def test_an_image_status_says_who_set_it(store):
    img = store.add_image("a.png", 10, 10)
    store.set_status(img.id, ImageStatus.REVIEWED)
    by, at = store._query("SELECT status_by, status_at FROM images WHERE id = ?", (img.id,))[0]
    assert by == store.user and at


def test_a_version_1_project_file_is_brought_up_to_date_with_its_data(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        with Project.create(tmp_path / "p") as p:
            img = p.store.add_image("a.png", 10, 10)
            p.store.engine.execute(
                "INSERT INTO instances (image_id, id, class_id, shape, z) VALUES (?,?,?,?,?)",
                (img.id, 1, None, box(0, 0, 2, 2).wkb, 0))
    with Project.open(tmp_path / "p") as p:
        (inst,) = p.store.instances(img.id)
        assert inst.version == 1 and inst.edited_by is None
        assert p.store.meta("schema_version") == str(schema.current_version())
        assert p.store.update_instance(img.id, 1, expected_version=1, z=2).version == 2
    assert (tmp_path / "p" / f"{PROJECT_FILE}.v1.bak").is_file()


def test_an_image_is_claimed_by_one_labeler_until_released_or_taken_over(store):
    img = store.add_image("a.png", 10, 10)
    other = store.another()
    other.user = "bob"  # a second person (the team store knows them by their login)
    try:
        assert store.claim_image(img.id) is None
        assert store.claim_image(img.id) is None  # again: still theirs
        who, since = other.claim_image(img.id)
        assert who == store.user and since
        assert store.claims() == {img.id: (store.user, since)}
        other.release_image(img.id)  # not theirs to release
        assert store.claims()[img.id][0] == store.user
        assert other.claim_image(img.id, take_over=True) is None
        assert store.claim_image(img.id) == ("bob", store.claims()[img.id][1])
        other.release_image(img.id)
        assert store.claims() == {} and store.claim_image(img.id) is None
    finally:
        other.close()


def test_a_snapshot_reads_one_moment_while_others_write(store):
    img = store.add_image("a.png", 10, 10)
    store.add_instance(img.id, None, box(0, 0, 2, 2))
    other = store.another()
    try:
        with store.snapshot():
            before = [len(i) for _, i in store.iter_labeled()]
            other.add_instance(img.id, None, box(3, 3, 5, 5))  # committed meanwhile
            other.add_image("b.png", 10, 10)
            assert [len(i) for _, i in store.iter_labeled()] == before == [1]
        assert [len(i) for _, i in store.iter_labeled()] == [2, 0]
    finally:
        other.close()


def test_a_read_only_open_of_an_older_project_brings_it_up_to_date_first(tmp_path,
                                                                         monkeypatch):
    """An inspector who updates isegui and runs `isegui predict` (a read-only open) on last
    week's project is not sent to open it for editing first."""
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        Project.create(tmp_path / "p").close()
    with Project.open(tmp_path / "p", read_only=True) as p:
        assert p.store.meta("schema_version") == str(schema.current_version())
    assert (tmp_path / "p" / f"{PROJECT_FILE}.v1.bak").is_file()
    with monkeypatch.context() as patch:  # while someone edits it, it is not touched
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        Project.create(tmp_path / "q").close()
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        editor = Project.open(tmp_path / "q")  # an older isegui holds it
    try:
        with pytest.raises(ProjectLockedError):
            Project.open(tmp_path / "q", read_only=True)
    finally:
        editor.close()
