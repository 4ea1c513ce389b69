"""The attacker's fifth try, at the command line: outputs that would destroy inputs, settings
that are no settings, usage errors — each refused in one line before anything is written."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.images import save_image
from isegui.core.project import PROJECT_FILE, Project
from tests.ml.infer.test_line_watch import tiny_model


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def image_and_model(tmp_path):
    image = tmp_path / "part.jpg"
    save_image(image, np.full((40, 40, 3), 90, np.uint8))
    return image, tiny_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("option", ["--csv", "--out"])
def test_predict_never_writes_over_its_input_or_a_project(tmp_path, capsys, image_and_model,
                                                          option):
    image, model = image_and_model
    before = image.read_bytes()
    assert main(["predict", str(image), "--checkpoint", str(model), option, str(image)]) != 0
    assert image.read_bytes() == before
    assert "--" in _one_line(capsys.readouterr().err)
    Project.create(tmp_path / "p").close()
    store = tmp_path / "p" / PROJECT_FILE
    assert main(["predict", str(image), "--checkpoint", str(model), option, str(store)]) != 0
    sqlite3.connect(store).execute("SELECT * FROM meta").fetchall()  # still a database
    assert "--" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("args, words", [
    (["--threshold", "nan"], "--threshold"), (["--threshold", "5"], "--threshold"),
    (["--batch", "0"], "--batch")])
def test_predict_settings_that_are_none_are_refused(capsys, image_and_model, args, words):
    image, model = image_and_model
    assert main(["predict", str(image), "--checkpoint", str(model), *args]) != 0
    assert words in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("args, words", [
    (["--threshold", "nan"], "--threshold"), (["--mm-per-px", "0"], "--mm-per-px"),
    (["--out", "IMAGE"], ".csv or .jsonl")])
def test_watch_settings_that_are_none_are_refused_before_ready(tmp_path, capsys,
                                                               image_and_model, args, words):
    image, model = image_and_model
    folder = image.parent
    args = [str(image) if a == "IMAGE" else a for a in args]
    assert main(["watch", str(folder), "--model", str(model), "--once", *args]) != 0
    captured = capsys.readouterr()
    assert "ready" not in captured.out and words in _one_line(captured.err)


def test_a_results_file_of_other_columns_is_refused_not_appended_to(tmp_path, capsys,
                                                                     image_and_model):
    image, model = image_and_model
    out = tmp_path / "results.csv"
    out.write_text("time,file,verdict,reasons,count_other,sizes,ms\n", encoding="utf-8")
    before = out.read_bytes()
    assert main(["watch", str(image.parent), "--model", str(model), "--once",
                 "--out", str(out)]) != 0
    assert "columns" in _one_line(capsys.readouterr().err) and out.read_bytes() == before


def test_overlays_naming_a_file_is_refused(tmp_path, capsys, image_and_model):
    image, model = image_and_model
    (tmp_path / "ov").write_text("a file")
    assert main(["watch", str(image.parent), "--model", str(model), "--once",
                 "--overlays", str(tmp_path / "ov")]) != 0
    assert "not a folder" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["watch", "x", "--threshold", "0x10"], ["split"],
                                  ["migrate", "x"]])
def test_a_usage_error_is_one_line(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: isegui ") and "--help" in line


def test_calibrations_past_a_nanometre_or_a_metre_a_pixel_are_refused(tmp_path, capsys):
    Project.create(tmp_path / "p").close()
    for value in ("1e7", "1e-320"):
        assert main(["calibrate", str(tmp_path / "p"), "--mm-per-px", value]) != 0
        assert "mm per pixel must be from" in _one_line(capsys.readouterr().err)


def test_a_demo_too_small_for_its_parts_is_refused(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--images", "1", "--size", "64x48"]) != 0
    assert "--size must be between 96" in _one_line(capsys.readouterr().err)


def test_a_rules_number_of_thousands_of_digits_reads_in_words(tmp_path):
    from isegui.core.line_rules import RulesError, load_rules
    path = tmp_path / "r.json"
    path.write_text('{"isegui_rules": 1, "classes": {"a": {"count": {"max": ' + "9" * 5000
                    + "}}}}")
    with pytest.raises(RulesError) as refused:
        load_rules(path)
    assert "thousands of digits" in str(refused.value)
    assert "sys." not in str(refused.value)
