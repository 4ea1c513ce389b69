"""The attacker's seventh try, beyond the line: scratch and backup files written through links,
SIGTERM leaving half-written copies, weights full of NaN, splits that leave nothing to train
on, settings that are no settings, a summary that said other classes than the project got,
a data.yaml key given twice, predictions of a run that does not exist, and an image replaced
by one of another size."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from isegui.cli import Terminated, _stop_cleanly_on_terminate, main
from isegui.core.errors import FormatError, InputFileError
from isegui.core.images import save_image
from isegui.core.project import PROJECT_FILE, Project
from tests.cli.test_round_five import _one_line


@pytest.fixture
def demo(tmp_path):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=4, width=96, height=96).close()
    return tmp_path / "d"


def test_the_export_scratch_file_is_its_own(tmp_path, monkeypatch):
    """A link named OUT.onnx.partial made the export write the model into its target."""
    import isegui.ml.model.onnx_export as onnx_export
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (tmp_path / "m.onnx.partial").symlink_to(victim)
    seen = []

    def fake_export(graph, example, name, **options):
        seen.append(name)
        raise RuntimeError("stop here")
    monkeypatch.setattr(onnx_export.torch.onnx, "export", fake_export)
    monkeypatch.setattr(onnx_export, "load_checkpoint", lambda path: {
        "size": 64, "working_scale": None, "model_name": "fast", "classes": ["a"]})
    monkeypatch.setattr(onnx_export, "model_from_checkpoint", lambda data, path: _Model())
    monkeypatch.setattr(onnx_export, "FixedSizeGraph", lambda model, h, w: _Model())
    with pytest.raises(RuntimeError):
        onnx_export.export_onnx(tmp_path / "best.pt", tmp_path / "m.onnx", 64)
    assert victim.read_text() == "mine" and seen and seen[0] != str(tmp_path / "m.onnx.partial")
    assert not os.path.exists(seen[0])  # its own scratch file, removed


class _Model:
    def eval(self):
        return self


def test_a_migration_backup_is_never_written_through_a_link(tmp_path, monkeypatch):
    from isegui.core.store import schema
    Project.create(tmp_path / "p").close()
    current = len(schema.MIGRATIONS)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (tmp_path / "p" / f"{PROJECT_FILE}.v{current}.bak").symlink_to(victim)

    def add_note_column(engine):
        engine.execute("ALTER TABLE classes ADD COLUMN note TEXT")
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [add_note_column])
    Project.open(tmp_path / "p").close()
    assert victim.read_text() == "mine"
    assert (tmp_path / "p" / f"{PROJECT_FILE}.v{current}-2.bak").is_file()


def test_sigterm_runs_the_same_clean_ups_as_ctrl_c(tmp_path, monkeypatch):
    from isegui.core import fileio
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 100_000)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        _stop_cleanly_on_terminate()

        def killed_mid_copy(src, dst, length=0):
            dst.write(src.read(10))
            os.kill(os.getpid(), signal.SIGTERM)  # the service manager stops us here
        monkeypatch.setattr(fileio.shutil, "copyfileobj", killed_mid_copy)
        with pytest.raises(Terminated):
            fileio.copy_new(source, tmp_path / "copy.bin")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not (tmp_path / "copy.bin").exists()  # no copy cut short left behind


def test_weights_full_of_nan_are_refused(tmp_path, capsys):
    import torch
    path = tmp_path / "nan.pth"
    torch.save({"features.0.weight": torch.full((4, 3, 3, 3), float("nan"))}, path)
    assert main(["weights", "add", str(path)]) != 0
    assert "NaN or infinity" in _one_line(capsys.readouterr().err)


def test_a_split_that_leaves_nothing_to_train_on_is_refused(demo, capsys):
    assert main(["split", str(demo), "--val", "0.45", "--test", "0.45"]) != 0
    assert "leave none for training" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("args, words", [(["validate", "{d}", "--min-area", "nan"], "--min-area"),
                                         (["validate", "{d}", "--min-area", "-5"], "--min-area"),
                                         (["suggest", "{d}", "--n", "-1"], "--n")])
def test_settings_that_are_no_settings(demo, capsys, args, words):
    assert main([a.format(d=demo) for a in args]) != 0
    assert words in _one_line(capsys.readouterr().err)


def test_new_says_the_classes_the_project_got(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_image(photos / "a.png", np.zeros((20, 20, 3), np.uint8))
    assert main(["new", str(tmp_path / "p"), "--images", str(photos),
                 "--classes", "a,,b,a, a,=x"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("classes: a, b, =x")
    with Project.open(tmp_path / "p", read_only=True) as project:
        assert [c.name for c in project.store.classes()] == ["a", "b", "=x"]


def test_a_data_yaml_key_given_twice_is_refused(tmp_path):
    from isegui.core.formats.yolo import _class_names
    (tmp_path / "data.yaml").write_text("names: {0: scratch, 1: dent, 1: pit}\n")
    with pytest.raises(FormatError, match="given twice"):
        _class_names(tmp_path, tmp_path)


def test_a_team_file_is_never_written_through_a_link(tmp_path):
    from isegui.core.store.team import TeamRef
    target = tmp_path / "elsewhere.txt"
    (tmp_path / "line3.isegui-team").symlink_to(target)  # dangling
    with pytest.raises(InputFileError, match="link"):
        TeamRef("postgresql://u@localhost/db", "line3", tmp_path).write(
            tmp_path / "line3.isegui-team")
    assert not target.exists()


def test_predictions_of_a_run_that_does_not_exist_are_refused(demo, tmp_path, capsys):
    assert main(["export", str(demo), str(tmp_path / "out"), "--format", "coco",
                 "--predictions", "--run", "99"]) != 0
    assert "no run 99" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_an_image_replaced_by_one_of_another_size_is_found(demo, capsys):
    with Project.open(demo, read_only=True) as project:
        record = project.store.images()[0]
        path = project.image_path(record.path)
    save_image(path, np.zeros((48, 64, 3), np.uint8))  # another picture under its name
    assert main(["validate", str(demo)]) != 0
    out = capsys.readouterr().out
    assert "the image file is 64x48, the project knew it as 96x96" in out


def _labelme_folder(folder, names):
    import json
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.json").write_text(json.dumps({
            "imagePath": "a.png", "imageHeight": 20, "imageWidth": 20,
            "shapes": [{"label": "part", "shape_type": "polygon",
                        "points": [[2, 2], [9, 2], [9, 9]]}]}))


def test_two_labelme_files_for_one_image_are_both_named(tmp_path, capsys):
    folder = tmp_path / "lm"
    _labelme_folder(folder, ["a", "a_copy"])
    save_image(folder / "a.png", np.zeros((20, 20, 3), np.uint8))
    assert main(["import", str(tmp_path / "p"), str(folder), "--format", "labelme"]) != 0
    err = capsys.readouterr().err
    assert "labeled by two files" in err and "a.json" in err and "a_copy.json" in err


def test_an_image_linked_from_outside_the_import_folder_is_said(tmp_path, capsys):
    outside = tmp_path / "elsewhere.png"
    save_image(outside, np.zeros((20, 20, 3), np.uint8))
    folder = tmp_path / "lm"
    _labelme_folder(folder, ["a"])
    (folder / "a.png").symlink_to(outside)
    assert main(["import", str(tmp_path / "p"), str(folder), "--format", "labelme",
                 "--copy"]) == 0
    assert "outside" in capsys.readouterr().err


# ---------------------------------------------------------------- the eighth try

def test_a_copy_that_never_started_leaves_no_empty_file(tmp_path, monkeypatch):
    """SIGTERM between making the copy's file and copying into it left a 0-byte image."""
    from isegui.core import fileio
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 1000)

    def stopped_at_once(src, dst, length=0):
        raise Terminated()
    monkeypatch.setattr(fileio.shutil, "copyfileobj", stopped_at_once)
    with pytest.raises(Terminated):
        fileio.copy_new(source, tmp_path / "copy.bin")
    assert not (tmp_path / "copy.bin").exists()
    (tmp_path / "there.bin").write_bytes(b"mine")
    monkeypatch.undo()
    with pytest.raises(FileExistsError):
        fileio.copy_new(source, tmp_path / "there.bin")
    assert (tmp_path / "there.bin").read_bytes() == b"mine"  # another's file is left alone


def test_a_yaml_merge_key_is_no_key_given_twice(tmp_path):
    from isegui.core.formats.yolo import _class_names
    (tmp_path / "data.yaml").write_text(
        "base: &base {0: scratch}\nnames:\n  <<: *base\n  1: dent\n")
    assert _class_names(tmp_path, tmp_path) == ["scratch", "dent"]


def test_a_json_label_file_with_a_key_given_twice_is_refused(tmp_path):
    from isegui.core.fileio import read_json
    path = tmp_path / "a.json"
    path.write_text('{"categories": [{"id": 1, "name": "pill", "name": "chip"}]}')
    with pytest.raises(FormatError, match="the key 'name' is given twice"):
        read_json(path)


def test_export_model_sizes_beyond_training_are_refused():
    from isegui.ml.infer.onnx_model import ExportError
    from isegui.ml.model.onnx_export import parse_input_size
    with pytest.raises(ExportError, match="at most 4096"):
        parse_input_size("32768")


def test_an_image_turned_since_it_was_labeled_is_named_where_training_reads_it(demo):
    """`evaluate` on a val image turned 90° failed with "could not broadcast input array"."""
    from isegui.core.errors import ImageReadError
    from isegui.ml.train.data import read_samples, sample_pixels
    with Project.open(demo, read_only=True) as project:
        record = project.store.images()[0]
        path = project.image_path(record.path)
        classes = [c.name for c in project.store.classes()]
    save_image(path, np.zeros((96, 48, 3), np.uint8))  # 48 x 96 where it was 96 x 96
    _, by_split, _ = read_samples(demo, classes)
    turned = next(s for samples in by_split.values() for s in samples if s.path == path)
    with pytest.raises(ImageReadError, match="is 48x96, the project knew it as 96x96"):
        sample_pixels(turned)
