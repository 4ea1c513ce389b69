import json

import pytest

from isegui.cli import main


@pytest.fixture
def demo(tmp_path):
    folder = tmp_path / "demo"
    assert main(["demo", str(folder), "--images", "4", "--size", "256x192"]) == 0
    return folder


def test_stats_and_validate_as_json(demo, capsys):
    capsys.readouterr()
    assert main(["stats", str(demo), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["images"] == 4 and {c["name"] for c in stats["classes"]} == {"pill", "washer",
                                                                           "chip"}
    assert main(["validate", str(demo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["error"] == 0


def _json_out(capsys):
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_split_and_calibrate(demo, capsys):
    assert main(["split", str(demo), "--val", "0.5", "--seed", "3"]) == 0
    assert "val 2" in capsys.readouterr().out
    assert main(["calibrate", str(demo), "--mm-per-px", "0.1"]) == 0
    main(["stats", str(demo), "--json"])
    stats = _json_out(capsys)
    assert stats["mm_per_px"] == 0.1 and stats["splits"]["val"] == 2


def test_export_then_import_every_format(demo, tmp_path, capsys):
    main(["stats", str(demo), "--json"])
    instances = _json_out(capsys)["instances"]
    for fmt in ("coco", "labelme", "masks", "yolo"):
        out = tmp_path / f"out-{fmt}"
        assert main(["export", str(demo), "--format", fmt, str(out)]) == 0
        source = out
        target = tmp_path / f"back-{fmt}"
        assert main(["import", str(target), "--format", fmt, str(source), "--copy"]) == 0
        capsys.readouterr()
        main(["stats", str(target), "--json"])
        stats = _json_out(capsys)
        assert stats["images"] == 4
        # the masks format keeps one label per pixel: an instance fully hidden would be lost
        assert stats["instances"] == instances


def test_errors_name_the_file_exit_1_and_leave_no_project(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    target = tmp_path / "new"
    assert main(["import", str(target), "--format", "coco", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.json: malformed JSON at line 1" in err
    assert not (target / "project.isegui").exists()


def test_an_open_project_is_not_opened_twice(demo, capsys):
    from isegui.core.project import Project
    with Project.open(demo):
        assert main(["split", str(demo)]) == 1
    assert "already open in another isegui" in capsys.readouterr().err


def test_usage_errors(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(tmp_path), "--format", "pascal", "x"])
    assert exit_info.value.code == 2
