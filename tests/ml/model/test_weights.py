"""Pretrained weights every run finds: `isegui weights add` checks a torchvision file and puts
it in the weights folder, runs start from it, the packaged program's bundled folder is searched,
and files that are not weights, or fit nothing, are refused by name."""

import sys

import pytest
import torch
import torchvision

from isegui.cli import main
from isegui.ml.model.checkpoint import CheckpointError
from isegui.ml.run_protocol import RecordingReporter
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.trainer import fit
from isegui.ml.model.weights import describe_start, locate_pretrained, pretrained_places
from isegui.ml.model.weights_install import install_weights

FAST_FILE = "mobilenet_v3_large-8738ca79.pth"  # torchvision's name for the fast model's weights


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "user-weights"
    monkeypatch.setenv("ISEGUI_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty torch cache
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    return folder


@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    """A weights file in torchvision's format (a state dict saved with torch.save)."""
    path = tmp_path_factory.mktemp("downloads") / "my-mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_large(weights=None).state_dict(), path)
    return path


def test_added_weights_are_what_a_run_starts_from(weights_dir, mobilenet_file, tiny_project,
                                                  capsys):
    assert describe_start("fast", tiny_project) == "random weights: no pretrained file found"
    assert main(["weights", "add", str(mobilenet_file)]) == 0
    out = capsys.readouterr().out
    target = weights_dir / FAST_FILE
    assert target.is_file() and target.read_bytes() == mobilenet_file.read_bytes()
    assert f"to {target}" in out and "fits the fast model's backbone" in out
    assert "note: its SHA-256 begins" in out  # not torchvision's own file: accepted, said so
    assert f"fast runs now start from {FAST_FILE} (weights folder)" in out
    assert describe_start("fast", tiny_project) == f"pretrained: {FAST_FILE} (weights folder)"

    reporter = RecordingReporter()
    fit(TrainSpec(project=tiny_project, size=128, batch=2, epochs=1, max_steps=1,
                  device="cpu", workers=0), reporter)
    (start,) = reporter.of("start")
    init = start["init"]
    assert init["source"] == str(target)
    assert init["backbone_tensors"] > 100
    assert init["backbone_loaded_tensors"] >= 0.9 * init["backbone_tensors"]
    titles = [a["title"] for a in start["advice"]]
    assert "start" in titles and not any("random" in t for t in titles)

    capsys.readouterr()
    assert main(["weights", "list"]) == 0
    assert f"fast: pretrained: {FAST_FILE} (weights folder)" in capsys.readouterr().out


def test_the_model_can_be_named_and_the_file_must_fit_it(weights_dir, mobilenet_file):
    installed = install_weights(mobilenet_file, "fast")
    assert installed.model == "fast" and installed.target == weights_dir / FAST_FILE
    assert not installed.hash_matches and installed.published_prefix == "8738ca79"
    assert installed.backbone_loaded == installed.backbone_total
    with pytest.raises(CheckpointError, match=r"my-mobilenet\.pth: does not fit the accurate "
                                              "model"):
        install_weights(mobilenet_file, "accurate")


def test_files_that_are_not_weights_or_fit_nothing_are_refused_by_name(weights_dir, tmp_path,
                                                                       capsys):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights")
    assert main(["weights", "add", str(text)]) == 1
    assert f"{text}: not a readable weights file" in capsys.readouterr().err
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3}, numbers)
    with pytest.raises(CheckpointError, match="numbers.pth: holds no tensors"):
        install_weights(numbers)
    other = tmp_path / "resnet18.pth"  # a torchvision network no model is built on
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), other)
    assert main(["weights", "add", str(other)]) == 1
    err = capsys.readouterr().err
    assert f"{other}: does not fit any model" in err and FAST_FILE in err
    assert not weights_dir.exists() or not any(weights_dir.iterdir())


def test_the_packaged_programs_bundled_folder_is_searched(weights_dir, tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    (bundle / "weights").mkdir(parents=True)
    (bundle / "weights" / FAST_FILE).write_bytes(b"weights")
    assert locate_pretrained("fast", None) is None  # from source: no bundle
    assert "bundled" not in dict(pretrained_places(None))
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    found = locate_pretrained("fast", None)
    assert (found.path, found.place) == (bundle / "weights" / FAST_FILE, "bundled")
    weights_dir.mkdir()
    (weights_dir / FAST_FILE).write_bytes(b"the user's own")  # the user's file comes first
    assert locate_pretrained("fast", None).place == "weights folder"
    project = tmp_path / "project"
    (project / "pretrained").mkdir(parents=True)
    (project / "pretrained" / FAST_FILE).write_bytes(b"the project's")  # and the project's
    assert locate_pretrained("fast", project).place == "project pretrained/"
