"""Team projects on a real PostgreSQL (started by the test session): made with `isegui team
create`, opened through their team file by every command, two imports at once from two
processes, and clear words for what is wrong."""

import json
import subprocess
import sys

import pytest

from isegui.cli import main
from isegui.core.demo import create_demo_project
from isegui.core.errors import ProjectError
from isegui.core.project import Project


def _exported(tmp_path, name, seed):
    """A small labeled COCO set (images and annotations) made by the demo and our export."""
    demo = tmp_path / f"demo-{name}"
    create_demo_project(demo, n_images=3, width=96, height=80, seed=seed).close()
    with Project.open(demo) as project:  # all three in one file
        project.store.set_split([r.id for r in project.store.images()], "train")
    out = tmp_path / f"coco-{name}"
    assert main(["export", str(demo), "--format", "coco", str(out), "--split", "train"]) == 0
    (ann,) = (out / "annotations").glob("instances_train.json")
    images = out / "images" / "train"
    coco = json.loads(ann.read_text())
    for image in coco["images"]:  # names of its own: the sets do not collide in the team
        (images / image["file_name"]).rename(images / f"{name}-{image['file_name']}")
        image["file_name"] = f"{name}-{image['file_name']}"
    ann.write_text(json.dumps(coco))
    return ann, images


@pytest.fixture
def team(tmp_path, pg_database, monkeypatch):
    root = tmp_path / "share"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["team", "create", pg_database, "line3", "--images", str(root)]) == 0
    return tmp_path / "line3.isegui-team", root


def test_team_create_writes_a_file_every_command_accepts(team, tmp_path, capsys):
    team_file, root = team
    data = json.loads(team_file.read_text())
    assert data["project"] == "line3" and data["images"] == str(root)
    ann, images = _exported(tmp_path, "a", 1)
    assert main(["import", str(team_file), "--format", "coco", str(ann), "--images",
                 str(images), "--copy"]) == 0
    capsys.readouterr()
    assert main(["stats", str(team_file), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["images"] == 3 and stats["instances"] > 0
    with Project.open(team_file, read_only=True) as project:
        assert project.is_team and project.folder == root
        (record, *_) = project.store.images()
        assert project.image_path(record.path).is_file()  # copied under the team's root


def test_a_team_without_a_shared_folder_keeps_its_images_in_the_database(
        tmp_path, pg_database, monkeypatch, capsys):
    from isegui.core.images import load_image
    from isegui.core.store.team_images import CACHE_DIR
    # the second PC's folder sits elsewhere: the first PC's relative paths lead nowhere there
    first_pc, second_pc = tmp_path / "pc1", tmp_path / "other" / "disk" / "pc2"
    first_pc.mkdir()
    second_pc.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main(["team", "create", pg_database, "line4", "--images", str(first_pc),
                 "--images-in-database"]) == 0
    assert "kept in the database" in capsys.readouterr().out
    ann, images = _exported(tmp_path, "a", 1)
    # not copied: the files stay where they are on the first PC, and go into the database
    assert main(["import", "line4.isegui-team", "--format", "coco", str(ann), "--images",
                 str(images)]) == 0
    import shutil
    first = sorted(images.iterdir())[0]
    new = images / f"a-extra{first.suffix}"
    shutil.copy(first, new)
    assert main(["add", "line4.isegui-team", str(new)]) == 0
    # the second PC has an empty folder of its own
    data = json.loads((tmp_path / "line4.isegui-team").read_text())
    (tmp_path / "pc2.isegui-team").write_text(json.dumps({**data, "images": str(second_pc)}))
    with Project.open(tmp_path / "pc2.isegui-team") as second, \
            Project.open(tmp_path / "line4.isegui-team", read_only=True) as first:
        records = second.store.images()
        assert len(records) == 4
        for record in records:
            here, there = second.image_path(record.path), first.image_path(record.path)
            assert here.parent == second_pc / CACHE_DIR
            assert there.resolve().parent == images.resolve()
            assert here.read_bytes() == there.read_bytes()
            assert load_image(here).shape[:2] == (record.height, record.width)
        assert second.image_files.missing([r.path for r in records]) == []
    # out of the team into a project folder of its own: the images are copied in
    assert main(["migrate", str(tmp_path / "pc2.isegui-team"), str(tmp_path / "back")]) == 0
    with Project.open(tmp_path / "back", read_only=True) as back:
        for record in back.store.images():
            assert record.path.startswith("images/")
            assert load_image(back.image_path(record.path)).shape[:2] == (record.height,
                                                                          record.width)


def test_two_imports_at_once_from_two_processes_both_land(team, tmp_path):
    team_file, _ = team
    jobs = []
    for name, seed in (("a", 1), ("b", 2)):
        ann, images = _exported(tmp_path, name, seed)
        jobs.append(subprocess.Popen(
            [sys.executable, "-m", "isegui", "import", str(team_file), "--format", "coco",
             str(ann), "--images", str(images), "--copy", "--split", "train"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for job in jobs:
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err
    with Project.open(team_file, read_only=True) as project:
        records = project.store.images()
        assert len(records) == 6
        ids = [(r.id, i.id) for r in records for i in project.store.instances(r.id)]
        assert len(ids) == len(set(ids)) and ids


def test_a_password_in_the_connection_is_refused(tmp_path, pg_database, capsys):
    root = tmp_path / "share"
    root.mkdir()
    with_password = pg_database.replace("isegui_admin@", "isegui_admin:secret@")
    assert main(["team", "create", with_password, "line4", "--images", str(root), "--file",
                 str(tmp_path / "t.isegui-team")]) == 1
    assert "password" in capsys.readouterr().err
    assert not (tmp_path / "t.isegui-team").exists()


def test_what_is_wrong_with_a_team_file_is_said(team, tmp_path):
    team_file, root = team
    moved = json.loads(team_file.read_text())
    moved["images"] = str(tmp_path / "not-mapped")
    other = tmp_path / "elsewhere.isegui-team"
    other.write_text(json.dumps(moved))
    with pytest.raises(ProjectError, match="not there on this PC"):
        Project.open(other)
    moved["images"], moved["project"] = str(root), "nobody"
    other.write_text(json.dumps(moved))
    with pytest.raises(ProjectError, match="not found in that database"):
        Project.open(other)
    other.write_text("{broken")
    with pytest.raises(ProjectError, match="not a readable team file"):
        Project.open(other)
    with pytest.raises(ProjectError, match="already exists"):
        Project.create_team(moved["url"], "line3", root, tmp_path / "again.isegui-team")


def test_two_writers_adding_the_same_class_at_once_agree_on_it(team):
    """Two team members' imports both need class "scratch": the second waits for the first
    and takes its class instead of failing on the duplicate name."""
    import threading
    team_file, _ = team
    first, second = Project.open(team_file), Project.open(team_file)
    try:
        found = {}
        with first.store.transaction():
            found["first"] = first.store.ensure_classes(["scratch"])["scratch"]
            worker = threading.Thread(target=lambda: found.__setitem__(
                "second", second.store.ensure_classes(["scratch", "dent"])))
            worker.start()
            worker.join(0.5)
            assert worker.is_alive()  # blocked on the first's uncommitted row
        worker.join(10)
        assert found["second"]["scratch"] == found["first"]
        assert [c.name for c in first.store.classes()] == ["scratch", "dent"]
    finally:
        first.close()
        second.close()


def test_other_clients_changes_arrive_within_two_seconds_and_own_ones_do_not(team):
    import time

    from shapely.geometry import box

    from isegui.core.store.team import ChangeFeed
    team_file, _ = team
    mine, theirs = Project.open(team_file), Project.open(team_file)
    feed = ChangeFeed(mine.store)
    try:
        img = mine.store.add_image("a.png", 10, 10)
        assert feed.poll(0.3) == []  # my own changes are not news to me
        start = time.monotonic()
        with theirs.store.transaction():  # one transaction, many rows: one notice
            for k in range(50):
                theirs.store.add_instance(img.id, None, box(k % 5, 0, k % 5 + 1, 1))
        seen = []
        while time.monotonic() - start < 2.0 and not seen:
            seen = [c for c in feed.poll(0.1) if c.table == "instances"]
        assert seen and seen[0].image_id == img.id and seen[0].by == theirs.store.user
        assert len(seen) == 1
        assert time.monotonic() - start < 2.0
    finally:
        feed.close()
        mine.close()
        theirs.close()


def test_migrate_into_a_team_database_and_back_is_exact(tmp_path, pg_database, monkeypatch):
    from shapely.geometry import box

    from isegui.core.entities import RunStatus
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "local"
    create_demo_project(local, n_images=4, width=96, height=80).close()
    with Project.open(local) as project:  # history: a run with predictions, a deleted id
        s = project.store
        img = s.images()[0]
        run = s.add_run("first", {"model": "fast"})
        s.update_run(run.id, status=RunStatus.FINISHED, metrics={"mask_map": 0.5},
                     checkpoint="runs/0001/best.pt")
        s.add_predictions(img.id, run.id, [(s.classes()[0].id, box(1, 1, 9, 9), 0.75)])
        s.delete_instances(img.id, [s.instances(img.id)[0].id])
        project.set_active_run(run.id)
        project.set_calibration(0.05)
    (local / "runs/0001").mkdir(parents=True)
    (local / "runs/0001/best.pt").write_bytes(b"weights")

    def snapshot(project):
        s = project.store
        return ([(c.id, c.name, c.color) for c in s.classes()],
                [(r.id, r.width, r.status, r.split) for r in s.images()],
                [(i.image_id, i.id, i.class_id, i.shape.wkb, i.z, i.track_id, i.source,
                  i.version, i.edited_by) for r in s.images() for i in s.instances(r.id)],
                [(r.id, r.name, r.status, r.metrics, r.checkpoint) for r in s.runs()],
                [(p.id, p.class_id, p.shape.wkb, p.score) for r in s.images()
                 for p in s.predictions(r.id)],
                project.active_run_id, project.mm_per_px,
                {r.id: project.image_path(r.path).read_bytes() for r in s.images()})

    with Project.open(local, read_only=True) as project:
        before = snapshot(project)
        next_ids = {r.id: s for r in project.store.images()
                    for s in [project.store._query(
                        "SELECT next_instance_id FROM images WHERE id = ?", (r.id,))[0][0]]}
    assert main(["migrate", str(local), pg_database, "--name", "line5"]) == 0
    with Project.open(tmp_path / "line5.isegui-team", read_only=True) as team:
        assert team.name == "line5" and snapshot(team) == before
        assert team.folder == local and all(  # the folder is the team's image root
            r.path.startswith("images/") for r in team.store.images())
    back = tmp_path / "back"
    assert main(["migrate", str(tmp_path / "line5.isegui-team"), str(back)]) == 0
    with Project.open(back) as project:
        assert snapshot(project) == before
        assert (back / "runs/0001/best.pt").read_bytes() == b"weights"
        img = project.store.images()[0]
        made = project.store.add_instance(img.id, None, box(0, 0, 3, 3))
        assert made.id == next_ids[img.id]  # ids go on where they stopped, none reused


def test_roles_are_enforced_by_the_server(team, pg_server, pg_database):
    from shapely.geometry import box

    from isegui.core.entities import ImageStatus
    from isegui.core.store.engine import PostgresPermissionDenied
    from isegui.core.store.team import add_member, open_team_store
    import uuid
    team_file, _ = team
    database = pg_database.rsplit("/", 1)[1]
    tag = uuid.uuid4().hex[:6]  # logins belong to the whole server: names of this test's own
    bob_, carol_, dave_ = (f"{name}_{tag}" for name in ("bob", "carol", "dave"))
    for login in (bob_, carol_, dave_):
        pg_server.create_role(login)
    with Project.open(team_file) as owner:
        img = owner.store.add_image("a.png", 10, 10)
        add_member(owner.store, bob_, "inspector")
        add_member(owner.store, carol_, "reviewer")
        with pytest.raises(ValueError, match="no such PostgreSQL login"):
            add_member(owner.store, "nobody", "inspector")
    bob = open_team_store(pg_server.url(database, user=bob_), "line3")
    carol = open_team_store(pg_server.url(database, user=carol_), "line3")
    try:
        made = bob.add_instance(img.id, None, box(0, 0, 2, 2))  # inspectors label
        assert made.created_by == bob_
        bob.set_status(img.id, ImageStatus.LABELED)
        with pytest.raises(PostgresPermissionDenied, match="only a reviewer"):
            bob.set_status(img.id, ImageStatus.REVIEWED)
        carol.set_status(img.id, ImageStatus.REVIEWED)
        assert bob.image(img.id).status == ImageStatus.REVIEWED
        with pytest.raises(PostgresPermissionDenied):  # nor take the mark away
            bob.set_status(img.id, ImageStatus.LABELED)
    finally:
        bob.close()
        carol.close()
    with pytest.raises(ProjectError):  # not a member: not even a look
        open_team_store(pg_server.url(database, user=dave_), "line3").close()


def test_claims_are_enforced_by_the_server(team, pg_server, pg_database):
    """While one member holds an image, another's writes to its labels are refused by
    PostgreSQL itself (a window that missed the take-over cannot write after it); after an
    explicit take-over the roles swap."""
    import uuid

    from shapely.geometry import box

    from isegui.core.store.engine import PostgresPermissionDenied
    from isegui.core.store.team import add_member, open_team_store
    team_file, _ = team
    database = pg_database.rsplit("/", 1)[1]
    bob_ = f"bob_{uuid.uuid4().hex[:6]}"
    pg_server.create_role(bob_)
    with Project.open(team_file) as owner:
        img = owner.store.add_image("a.png", 10, 10)
        free = owner.store.add_image("b.png", 10, 10)
        add_member(owner.store, bob_, "inspector")
        mine = owner.store.add_instance(img.id, None, box(0, 0, 2, 2))
        assert owner.store.claim_image(img.id) is None
        bob = open_team_store(pg_server.url(database, user=bob_), "line3")
        try:
            with pytest.raises(PostgresPermissionDenied, match=f"is labeling image {img.id}"):
                bob.add_instance(img.id, None, box(3, 3, 5, 5))
            with pytest.raises(PostgresPermissionDenied):
                bob.delete_instances(img.id, [mine.id])
            assert [i.id for i in owner.store.instances(img.id)] == [mine.id]  # untouched
            bob.add_instance(free.id, None, box(0, 0, 1, 1))  # an image nobody holds
            assert bob.claim_image(img.id, take_over=True) is None
            bob.add_instance(img.id, None, box(3, 3, 5, 5))
            with pytest.raises(PostgresPermissionDenied, match=f"{bob_} is labeling"):
                owner.store.add_instance(img.id, None, box(6, 6, 8, 8))
            bob.release_image(img.id)
            owner.store.add_instance(img.id, None, box(6, 6, 8, 8))
        finally:
            bob.close()


@pytest.mark.slow
def test_training_and_prediction_run_on_a_team_project(team, tmp_path, capsys):
    """A team member trains on the team's labels (one snapshot of them) while others label;
    the run and its predictions are the team's."""
    team_file, root = team
    ann, images = _exported(tmp_path, "a", 1)
    assert main(["import", str(team_file), "--format", "coco", str(ann), "--images",
                 str(images), "--copy"]) == 0
    assert main(["split", str(team_file), "--val", "0.34"]) == 0
    assert main(["train", str(team_file), "--size", "96", "--epochs", "1", "--batch", "2",
                 "--max-steps", "2", "--device", "cpu", "--workers", "0"]) == 0
    assert main(["predict", str(team_file), "--threshold", "0.0", "--into-project",
                 "--device", "cpu"]) == 0
    with Project.open(team_file, read_only=True) as project:
        (run,) = project.store.runs()
        assert run.status.value == "finished" and (root / run.checkpoint).is_file()
        assert project.store.images_with_predictions(run.id)


def test_an_owner_with_createrole_and_no_setup_function_still_works(tmp_path, pg_server,
                                                                    monkeypatch):
    """A server set up before the README's function (an owner login with CREATEROLE and its
    own database): the owner makes the roles directly; nothing needs a superuser after.
    (tests/security runs the README's set-up as written.)"""
    import uuid

    import psycopg
    tag = uuid.uuid4().hex[:6]
    owner, anna, database = f"owner_{tag}", f"anna_{tag}", f"isegui_{tag}"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{owner}" LOGIN CREATEROLE')
        admin.execute(f'CREATE ROLE "{anna}" LOGIN')
    pg_server.create_database(database, owner=owner)
    root = tmp_path / "share"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["team", "create", pg_server.url(database, user=owner), "line3",
                     "--images", str(root)]) == 0
        assert main(["team", "add", "line3.isegui-team", anna, "--role", "reviewer"]) == 0
        from isegui.core.store.team import open_team_store
        store = open_team_store(pg_server.url(database, user=anna), "line3")
        try:
            img = store.add_image("a.png", 10, 10)
            from isegui.core.entities import ImageStatus
            store.set_status(img.id, ImageStatus.REVIEWED)
        finally:
            store.close()
    finally:
        pg_server.drop_database(database)


def test_a_failed_team_create_leaves_nothing_behind(tmp_path, pg_database):
    root = tmp_path / "share"
    root.mkdir()
    with_password = pg_database.replace("isegui_admin@", "isegui_admin:secret@")
    with pytest.raises(ValueError, match="password"):
        Project.create_team(with_password, "x1", root, tmp_path / "x1.isegui-team")
    with pytest.raises(ProjectError, match="no such folder"):
        Project.create_team(pg_database, "x1", root, tmp_path / "missing" / "x1.isegui-team")
    Project.create_team(pg_database, "x1", root, tmp_path / "x1.isegui-team").close()


def test_a_team_create_that_may_not_make_roles_leaves_no_schema(tmp_path, pg_server):
    """A login that may not create roles: create failed, yet left the schema, and every retry
    (even as the administrator) was refused as "already exists" with no team file anywhere."""
    import uuid

    import psycopg
    tag = uuid.uuid4().hex[:6]
    plain, database = f"plain_{tag}", f"isegui_{tag}"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{plain}" LOGIN NOCREATEROLE')
    pg_server.create_database(database, owner=plain)
    root = tmp_path / "share"
    root.mkdir()
    try:
        from isegui.core.store.engine import PostgresFailure
        with pytest.raises(PostgresFailure, match="permission denied to create role"):
            Project.create_team(pg_server.url(database, user=plain), "line1", root,
                                tmp_path / "line1.isegui-team")
        with psycopg.connect(pg_server.url(database), autocommit=True) as admin:
            left = admin.execute("SELECT 1 FROM information_schema.schemata "
                                 "WHERE schema_name LIKE %s", ("%line1%",)).fetchall()
        assert not left and not (tmp_path / "line1.isegui-team").exists()
        Project.create_team(pg_server.url(database), "line1", root,
                            tmp_path / "line1.isegui-team").close()  # the retry works
    finally:
        pg_server.drop_database(database)
