"""Rows another program wrote into a project file (SQLite keeps any value in any column) or a
team member wrote straight into the team's tables: a shape that is not WKB, text where a number
belongs. stats, validate and export name the row and go on with the rest; validate lists each
as an error; a lookup of that one row refuses it in one line naming the project file."""

from __future__ import annotations

import sqlite3

import pytest
import shapely
from shapely.geometry import box

from isegui.cli import main
from isegui.core.errors import DamagedRow
from isegui.core.project import PROJECT_FILE, Project

DAMAGE = {
    "shape not WKB": ("UPDATE instances SET shape = x'0102' WHERE image_id = 1 AND id = 1",
                      "instance 1 of image 1", "WKB"),
    "shape empty": ("UPDATE instances SET shape = x'' WHERE image_id = 1 AND id = 1",
                    "instance 1 of image 1", "empty or cut short"),
    "shape as text": ("UPDATE instances SET shape = 'abc' WHERE image_id = 1 AND id = 1",
                      "instance 1 of image 1", "not WKB bytes"),
    "shape a point": ("UPDATE instances SET shape = x'0101000000000000000000f03f0000000000000040'"
                      " WHERE image_id = 1 AND id = 1", "instance 1 of image 1", "not a polygon"),
    "shape nested 100,000 deep": (
        "UPDATE instances SET shape = ? WHERE image_id = 1 AND id = 1",
        "instance 1 of image 1", "type 7"),
    "shape at 1e300 px": ("UPDATE instances SET shape = ? WHERE image_id = 1 AND id = 1",
                          "instance 1 of image 1", "beyond"),
    "shape of NaN": ("UPDATE instances SET shape = ? WHERE image_id = 1 AND id = 1",
                     "instance 1 of image 1", "not numbers"),
    "z as text": ("UPDATE instances SET z = 'x' WHERE image_id = 1 AND id = 1",
                  "instance 1 of image 1", "its z is 'x'"),
    "crowd as text": ("UPDATE instances SET crowd = 'yes' WHERE image_id = 1 AND id = 1",
                      "instance 1 of image 1", "its crowd is 'yes'"),
    "width as text": ("UPDATE images SET width = 'abc' WHERE id = 2", "image 2", "its width"),
    "class id as text": ("UPDATE instances SET class_id = 'q' WHERE image_id = 1 AND id = 1",
                         "instance 1 of image 1", "its class_id"),
}


def _nested_collection(depth: int = 100_000) -> bytes:
    """A GeometryCollection holding one holding one ... a point: GEOS's WKB reader recursed
    until the process crashed."""
    return b"\x01\x07\x00\x00\x00\x01\x00\x00\x00" * depth + shapely.to_wkb(
        shapely.Point(1, 2))


_BLOBS = {"shape nested 100,000 deep": _nested_collection,
          "shape at 1e300 px": lambda: shapely.to_wkb(box(0, 0, 1e300, 1e300)),
          "shape of NaN": lambda: shapely.to_wkb(shapely.Polygon(
              [(0, 0), (float("nan"), 0), (5, 5)]))}


@pytest.fixture
def damaged(tmp_path, request):
    """A project of two labeled images (2 instances each), then one row damaged."""
    folder = tmp_path / "project"
    with Project.create(folder) as project:
        store = project.store
        chip = store.add_class("chip").id
        for n in (1, 2):
            image = store.add_image(f"images/{n}.png", 100, 80)
            store.add_instance(image.id, chip, box(10, 10, 30, 30))
            store.add_instance(image.id, chip, box(50, 10, 70, 30))
    sql, row, words = DAMAGE[request.param]
    conn = sqlite3.connect(folder / PROJECT_FILE)
    conn.execute(sql, (_BLOBS[request.param](),) if request.param in _BLOBS else ())
    conn.commit()
    conn.close()
    return folder, row, words


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_the_readers_leave_the_row_out_and_name_it(damaged):
    folder, row, words = damaged
    with Project.open(folder) as project:
        labeled = dict((record.id, instances) for record, instances
                       in project.store.iter_labeled())
        problems = project.store.damaged_rows
        assert len(problems) == 1 and row in problems[0] and words in problems[0]
        shown = sum(len(instances) for instances in labeled.values())
        assert shown == (2 if row == "image 2" else 3)  # only the damaged row left out
        if row.startswith("instance"):
            assert len(project.store.instances(1)) == 1
            with pytest.raises(DamagedRow, match=f"{PROJECT_FILE}: {row}"):
                project.store.instance(1, 1)
        else:
            with pytest.raises(DamagedRow, match=f"{PROJECT_FILE}: {row}"):
                project.store.image(2)


@pytest.mark.parametrize("damaged", ["shape not WKB", "width as text"], indirect=True)
def test_stats_validate_export_go_on_and_say_which_row(damaged, tmp_path, capsys, caplog):
    """One warning on the screen (the command line shows warnings on stderr), naming the file
    and the row; validate lists each damaged row as an error."""
    folder, row, _ = damaged

    def warned() -> list[str]:
        said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        caplog.clear()
        return said
    assert main(["stats", str(folder)]) == 0
    said = warned()
    assert len(said) == 1 and str(folder / PROJECT_FILE) in said[0] and row in said[0]
    main(["validate", str(folder)])
    out = capsys.readouterr().out
    assert "damaged-row" in out and row in out
    assert main(["export", str(folder), str(tmp_path / "out"), "--format", "coco",
                 "--no-images"]) == 0
    assert row in warned()[0]
    assert (tmp_path / "out").is_dir()


def test_damaged_rows_on_the_team_store(pg_database):
    """A team member with psql writes bytes that are no shape (the audit's B22): the others'
    readers go on."""
    from isegui.core.store.team import open_team_store
    store = open_team_store(pg_database, "line3", create=True)
    try:
        chip = store.add_class("chip").id
        image = store.add_image("a.png", 100, 80)
        store.add_instance(image.id, chip, box(10, 10, 30, 30))
        store.add_instance(image.id, chip, box(50, 10, 70, 30))
        store.engine.execute("UPDATE instances SET shape = %s WHERE id = 1", (b"\x01\x02",))
        assert [i.id for i in store.instances(image.id)] == [2]
        assert [len(i) for _, i in store.iter_labeled()] == [1]
        assert "instance 1 of image 1" in store.damaged_rows[0]
        assert shapely.equals(store.instance(image.id, 2).shape, box(50, 10, 70, 30))
    finally:
        store.close()


@pytest.mark.parametrize("sql, words", [
    ("UPDATE classes SET color = 'zzzzzzz'", "its color"),
    ("UPDATE classes SET name = x'00ff'", "its name"),
    ("UPDATE instances SET class_id = 999 WHERE image_id = 1 AND id = 1", "no class"),
    ("UPDATE images SET width = 9223372036854775807 WHERE id = 2", "its width")])
def test_more_damage_is_named_and_stats_and_export_go_on(tmp_path, sql, words, caplog):
    """The attacker's fourth try: a class's colour or name of the wrong kind, an instance of a
    class that is not there, a width of 2**63 - each stopped stats or an export with a
    traceback."""
    folder = tmp_path / "project"
    with Project.create(folder) as project:
        chip = project.store.add_class("chip").id
        for n in (1, 2):
            image = project.store.add_image(f"images/{n}.png", 100, 80)
            project.store.add_instance(image.id, chip, box(10, 10, 30, 30))
    conn = sqlite3.connect(folder / PROJECT_FILE)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute(sql)
    conn.commit()
    conn.close()
    assert main(["stats", str(folder)]) == 0
    assert any(words in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    for fmt in ("coco", "masks"):
        assert main(["export", str(folder), str(tmp_path / fmt), "--format", fmt,
                     "--no-images"]) == 0


def test_a_schema_version_that_is_no_number_is_refused_naming_the_file(tmp_path, capsys):
    folder = tmp_path / "project"
    Project.create(folder).close()
    conn = sqlite3.connect(folder / PROJECT_FILE)
    conn.execute("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    assert main(["stats", str(folder)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and PROJECT_FILE in err and "schema version" in err


def _store_meta(folder, key, value):
    """What another program may write into the project's meta table."""
    conn = sqlite3.connect(folder / PROJECT_FILE)
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("stored", ["-0.05", "nan", "inf", "0", "abc", "1e400", ""])
def test_a_stored_calibration_that_is_no_scale_is_refused_naming_the_file(tmp_path, capsys,
                                                                          stored):
    """A calibration another program wrote was used as it was: -0.05 gave negative lengths in
    mm and nan a CSV of nan, without a word; 'abc' an error naming no file. It is refused in
    one line naming the project file, and `calibrate` still sets it again."""
    folder = tmp_path / "project"
    with Project.create(folder) as project:
        project.set_calibration(0.05)
    _store_meta(folder, "mm_per_px", stored)
    with Project.open(folder, read_only=True) as project:
        with pytest.raises(DamagedRow, match="its calibration is stored as"):
            assert project.mm_per_px is None  # never reached
    capsys.readouterr()
    assert main(["stats", str(folder)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and PROJECT_FILE in err and "calibrate" in err
    assert main(["calibrate", str(folder), "--mm-per-px", "0.1"]) == 0
    with Project.open(folder, read_only=True) as project:
        assert project.mm_per_px == 0.1


@pytest.mark.parametrize("stored", ["abc", "-1", "1e3", "", "٣", "99999999999999999999"])
def test_a_stored_active_run_that_is_no_id_is_refused_naming_the_file(tmp_path, capsys, stored):
    """export-model, suggest, evaluate and predict use the active run unless told another: a
    stored 'abc' gave "invalid literal for int()" naming no file. A run's end takes it as none
    (and puts its own id there) rather than failing after the run is done."""
    folder = tmp_path / "project"
    with Project.create(folder) as project:
        run = project.store.add_run("r", {"model": "fast", "size": 64})
        project.set_active_run(run.id)
    _store_meta(folder, "active_run_id", stored)
    with Project.open(folder, read_only=True) as project:
        with pytest.raises(DamagedRow, match="its active run is stored as"):
            assert project.active_run_id is None  # never reached
        assert project.active_run_id_or_none() is None
    capsys.readouterr()
    assert main(["export-model", str(folder), "--format", "onnx", str(tmp_path / "m.onnx")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and PROJECT_FILE in err and "--run" in err
