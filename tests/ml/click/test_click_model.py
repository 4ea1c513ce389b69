"""The project's click model (ml.click): trained from the project's own instances with
simulated clicks, saved whole, refused when it is not one, and better than no training on
instances it never saw."""

import shutil
import threading

import numpy as np
import pytest
import torch

from isegui.core.entities import Split
from isegui.ml.click.examples import InstanceBank, make_example, typical_side
from isegui.ml.click.model_file import (ClickModelInfo, click_model_path, load_click_model,
                                        save_click_model)
from isegui.ml.click.net import ClickNet
from isegui.ml.click.segmenter import ClickSegmenter
from isegui.ml.click.simulate import click_ious
from isegui.ml.click.train import ClickTrainingError, ClickTrainSpec, train_click_model
from isegui.ml.model.checkpoint import CheckpointError, save_checkpoint
from isegui.ml.train.data import read_samples

STEPS = 40


@pytest.fixture(scope="module")
def trained(tiny_project_template, tmp_path_factory):
    """A copy of the tiny demo with a click model of STEPS steps, and what training said."""
    folder = tmp_path_factory.mktemp("click") / "demo"
    shutil.copytree(tiny_project_template, folder,
                    ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    events = []
    info = train_click_model(ClickTrainSpec(folder, max_steps=STEPS, device="cpu"),
                             lambda kind, fields: events.append((kind, fields)))
    return folder, info, events


def _val_bank(folder):
    _, by_split, _ = read_samples(folder)
    return InstanceBank(by_split[Split.VAL])


def _first_click_iou(segment, bank):
    ious = []
    for s, k in bank.instances:
        found = click_ious(segment, bank.image(s), bank.truth(s, k), clicks=1)
        ious.append(found[0] if found else 1.0)
    return float(np.mean(ious))


def test_training_reports_and_saves_a_model_that_says_what_it_learned_from(trained):
    folder, info, events = trained
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "step" in kinds
    assert info.steps == STEPS and info.instances > 0 and info.first_side > 0
    net, loaded = load_click_model(click_model_path(folder))
    assert loaded == info and not net.training
    held = info.holdout  # the click tool with it against GrabCut, on instances it never saw
    assert held["instances"] > 0 and isinstance(held["better_than_grabcut"], bool)
    assert 0 <= held["iou_after_3"] <= 1 and 0 <= held["grabcut_iou_after_3"] <= 1


def test_the_trained_model_outlines_unseen_instances_better_than_an_untrained_one(trained):
    folder, info, _ = trained
    bank = _val_bank(folder)  # the val split: never learned from
    assert bank.instances
    trained_iou = _first_click_iou(ClickSegmenter.load(click_model_path(folder)).segment, bank)
    untrained_iou = _first_click_iou(ClickSegmenter(ClickNet().eval(), info).segment, bank)
    assert trained_iou > untrained_iou + 0.1


def test_a_saved_model_answers_exactly_as_before_it_was_saved(tmp_path):
    torch.manual_seed(1)
    net, info = ClickNet().eval(), ClickModelInfo(first_side=40.0, steps=3)
    save_click_model(tmp_path / "m.pt", net, info)
    again, loaded = load_click_model(tmp_path / "m.pt")
    rgb, clicks, prev = torch.rand(1, 3, 160, 160), torch.zeros(1, 2, 160, 160), \
        torch.zeros(1, 1, 160, 160)
    with torch.inference_mode():
        assert torch.equal(net(rgb, clicks, prev), again(rgb, clicks, prev))
    assert loaded == info


def test_files_that_are_not_a_usable_click_model_are_refused_naming_the_file(tmp_path):
    run_checkpoint = tmp_path / "best.pt"
    save_checkpoint(run_checkpoint, {"model_name": "fast", "size": 512, "classes": ["a"],
                                     "state_dict": {}})
    with pytest.raises(CheckpointError, match="best.pt: not an isegui click model"):
        load_click_model(run_checkpoint)
    other_view = tmp_path / "other.pt"
    save_click_model(other_view, ClickNet(), ClickModelInfo(first_side=40.0, view_side=96))
    with pytest.raises(CheckpointError, match="96-px views"):
        load_click_model(other_view)
    wrong_widths = tmp_path / "widths.pt"
    save_click_model(wrong_widths, ClickNet((8, 16, 32, 48)), ClickModelInfo(first_side=40.0))
    with pytest.raises(CheckpointError, match="widths.pt: not a usable click model"):
        load_click_model(wrong_widths)


def test_a_cancelled_training_keeps_the_click_model_the_project_had(tiny_project):
    path = click_model_path(tiny_project)
    save_click_model(path, ClickNet(), ClickModelInfo(first_side=33.0))
    before = path.read_bytes()
    stop = threading.Event()

    def report(kind, fields):
        if kind == "step":
            stop.set()

    assert train_click_model(ClickTrainSpec(tiny_project, max_steps=50, device="cpu"),
                             report, stop.is_set) is None
    assert path.read_bytes() == before


def test_a_project_without_labeled_train_instances_is_refused_in_words(tmp_path):
    from isegui.core.project import Project
    Project.create(tmp_path / "empty", name="empty").close()
    with pytest.raises(ClickTrainingError, match="no labeled instances in the train split"):
        train_click_model(ClickTrainSpec(tmp_path / "empty", max_steps=1, device="cpu"))


def test_examples_show_the_object_a_click_on_it_and_a_candidate_map(tiny_project):
    _, by_split, _ = read_samples(tiny_project)
    bank = InstanceBank(by_split[Split.TRAIN])
    rng = np.random.default_rng(0)
    side = typical_side(bank)
    for index in range(0, len(bank.instances), 3):
        example = make_example(bank, index, side, rng)
        assert example.pixels.shape == (160, 160, 3) and example.truth.any()
        positive, negative = example.clicks
        assert positive.any() or negative.any()
        if positive.any() and not example.previous.any():  # a first click: on the object
            assert (positive.astype(bool) & example.truth).any()
