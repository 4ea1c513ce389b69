"""Files written before the package was regrouped (issue 24) still load: a project with a run,
its checkpoints (best and the resumable last), a tiled run with blob classes, and the ONNX
exports of both (tests/fixtures/README.md says how they were made). Checkpoints and exports
name no module paths, so moving modules must never break them; this proves it."""

import tarfile
from pathlib import Path

import numpy as np
import pytest

from isegui.core.images import load_image
from isegui.core.project import Project
from isegui.ml.infer.onnx_model import OnnxPredictor
from isegui.ml.model.checkpoint import load_checkpoint
from isegui.ml.model.onnx_export import export_onnx
from isegui.ml.model.torch_predictor import Predictor
from isegui.ml.runs import checkpoint_file, find_run
from isegui.ml.train.spec import TrainSpec

ARCHIVE = Path(__file__).resolve().parents[2] / "fixtures" / "pre-move-ad875f8.tar.gz"


@pytest.fixture
def old(tmp_path) -> Path:
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "pre-move"


def test_an_old_projects_run_predicts_from_its_checkpoint(old):
    with Project.open(old / "parts") as project:
        run = find_run(project, "pre-move")
        best = checkpoint_file(project, run)
        image = load_image(old / "parts" / project.store.images()[0].path)
    predictor = Predictor.from_checkpoint(best, "cpu")
    assert predictor.classes == ["pill", "washer", "chip"]
    assert (predictor.working.mode, predictor.working.size) == ("whole", 128)
    (found,) = predictor.predict([image])
    assert found == []  # the fixture's weights are zeros: nothing is found, but it runs


def test_an_old_resumable_checkpoint_gives_back_its_spec_and_state(old):
    data = load_checkpoint(old / "parts" / "runs" / "0001" / "last.pt")
    spec = TrainSpec.from_dict(data["config"])
    assert (spec.model, spec.size, spec.name) == ("fast", 128, "pre-move")
    assert spec.augment.flip and spec.augment.scale == (1.0, 1.0)
    assert {"optimizer", "state"} <= set(data)


@pytest.mark.slow
def test_an_old_run_resumes_in_the_folder_it_is_now_in(old, capsys):
    """The run's stored spec names the folder it was trained in (/tmp/fx/parts, long gone):
    the resumed run writes where the project is now, nowhere else."""
    from isegui.cli import main
    run_folder = old / "parts" / "runs" / "0001"
    before = (run_folder / "last.pt").stat().st_mtime_ns
    assert main(["train", str(old / "parts"), "--resume", "pre-move", "--epochs", "2",
                 "--device", "cpu", "--workers", "0"]) == 0
    out = capsys.readouterr()
    assert "epoch 2" in out.out + out.err and f"checkpoint: {run_folder}" in out.out
    assert (run_folder / "last.pt").stat().st_mtime_ns != before


def test_an_old_tiled_blob_checkpoint_loads_with_its_blob_head(old):
    predictor = Predictor.from_checkpoint(old / "defects-best.pt", "cpu")
    assert predictor.working.tiled
    assert predictor.working.blob_classes == ("scratch", "pit", "stain")
    assert hasattr(predictor.model, "blob_head")
    frame = np.full((200, 300, 3), 128, np.uint8)
    assert predictor.predict([frame]) == [[]]


@pytest.mark.parametrize("name, classes, tiled", [
    ("parts.onnx", ["pill", "washer", "chip"], False),
    ("defects.onnx", ["scratch", "pit", "stain"], True)])
def test_old_exports_run_on_onnxruntime(old, name, classes, tiled):
    predictor = OnnxPredictor(old / name)
    assert predictor.classes == classes and predictor.working.tiled == tiled
    assert predictor.predict([np.full((150, 200, 3), 128, np.uint8)]) == [[]]


@pytest.mark.slow
def test_an_old_checkpoint_exports_again(old, tmp_path):
    export_onnx(old / "parts" / "runs" / "0001" / "best.pt", tmp_path / "again.onnx")
    assert OnnxPredictor(tmp_path / "again.onnx").classes == ["pill", "washer", "chip"]
