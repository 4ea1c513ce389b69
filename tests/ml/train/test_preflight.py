"""Before a run starts, what will limit it: random weights on few labels, objects shrunk below
what a model finds, little validation, and image files training would fail on (refused)."""

import io
import json

import pytest
from shapely.geometry import box

from isegui.cli import main
from isegui.core.entities import ImageStatus, Split
from isegui.core.project import Project
from isegui.ml.train.preflight import ERROR, INFO, WARNING, read_facts, training_outlook
from isegui.ml.train.spec import TrainSpec
from isegui.ml.train.trainer import TrainingError, fit


def by_title(advice):
    return {a.title: a for a in advice}


def test_random_weights_small_objects_and_one_val_image_are_said(tiny_project):
    # whole images asked for (--tile 0): shrunk to 64 px, the objects become too small
    advice = by_title(training_outlook(tiny_project, TrainSpec(project=tiny_project, size=64,
                                                               tile=0)))
    random = advice["random weights on few labels"]
    assert random.level == WARNING and "isegui weights add" in random.text
    facts = read_facts(tiny_project)
    assert f"only {facts.instances} labeled instances" in random.text
    small = advice["objects too small"]
    assert small.level == WARNING and "at 64 px" in small.text
    keeping = small.text.split("An input size of ")[1].split(" px")[0]
    assert int(keeping) % 32 == 0 and int(keeping) > 64
    assert advice["few val images"].level == WARNING  # the tiny project has one
    assert not [a for a in advice.values() if a.level == ERROR]
    at_the_size = by_title(training_outlook(tiny_project, TrainSpec(project=tiny_project,
                                                                    size=int(keeping))))
    assert at_the_size["object size"].level == INFO
    # left to choose, the run cuts the frames into 64-px tiles at the camera's scale instead
    tiles = by_title(training_outlook(tiny_project, TrainSpec(project=tiny_project, size=64)))
    assert tiles["tiles"].level == INFO and "tiles of 64 px at scale 1" in tiles["tiles"].text
    assert "64 x 64 px" in tiles["tiles"].text and "object size" not in tiles


def test_a_named_start_says_nothing_of_random_weights(tiny_project, tmp_path):
    spec = TrainSpec(project=tiny_project, init=str(tmp_path / "some.pth"))
    assert not any("random" in a.title for a in training_outlook(tiny_project, spec))


def test_no_val_split_holds_out_or_warns(tiny_project):
    with Project.open(tiny_project) as project:
        project.store.set_split([r.id for r in project.store.images()], Split.TRAIN)
    advice = by_title(training_outlook(tiny_project, TrainSpec(project=tiny_project)))
    assert advice["no val split"].level == INFO and "1 of the 6 train images" in \
        advice["no val split"].text
    with Project.open(tiny_project) as project:
        for record in project.store.images()[2:]:
            project.store.set_status(record.id, ImageStatus.UNLABELED)
    advice = by_title(training_outlook(tiny_project, TrainSpec(project=tiny_project)))
    assert advice["no validation"].level == WARNING


def break_images(folder):
    """One image cut short, one labeled image emptied; returns their paths."""
    with Project.open(folder) as project:
        first, second = project.store.images(Split.TRAIN)[:2]
        path = project.image_path(first.path)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
        project.store.delete_instances(second.id,
                                       [i.id for i in project.store.instances(second.id)])
    return first.path, second.path


def test_unreadable_images_stop_the_run_before_it_starts(tiny_project, capsys):
    broken, empty = break_images(tiny_project)
    advice = by_title(training_outlook(tiny_project, TrainSpec(project=tiny_project)))
    assert advice["unreadable images"].level == ERROR
    assert advice["unreadable images"].files == (broken,)
    assert advice["labeled images without objects"].files == (empty,)
    assert main(["train", str(tiny_project), "--epochs", "1", "--device", "cpu"]) == 1
    err = capsys.readouterr().err.splitlines()
    advice_lines = [line for line in err if line.startswith(("error: unreadable", "warning:"))]
    assert advice_lines[0].startswith("error: unreadable images: 1 labeled image(s)")
    assert any(broken in line for line in advice_lines)
    assert any(line.startswith("warning: labeled images without objects") and empty in line
               for line in advice_lines)
    assert err[-1].startswith("error: training not started: unreadable images") and broken in \
        err[-1]
    with Project.open(tiny_project, read_only=True) as project:
        assert project.store.runs() == []  # nothing recorded: the run never began
    with pytest.raises(TrainingError, match="unreadable images"):
        fit(TrainSpec(project=tiny_project, epochs=1, device="cpu"))


def test_a_run_reports_its_advice_in_the_start_event(tiny_project, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO())  # as the app's process: no cancel line
    assert main(["train", str(tiny_project), "--size", "64", "--tile", "0", "--epochs", "1",
                 "--max-steps", "1", "--batch", "2", "--device", "cpu", "--workers", "0",
                 "--progress", "jsonl"]) == 0
    out, err = capsys.readouterr()
    start = next(e for e in map(json.loads, out.splitlines()) if e["event"] == "start")
    titles = [a["title"] for a in start["advice"]]
    assert "objects too small" in titles and "random weights on few labels" in titles
    assert all(set(a) == {"level", "title", "text", "files"} for a in start["advice"])
    assert "warning: objects too small: at 64 px" in err


def test_labeled_but_empty_images_in_the_splits_are_found_with_box_shapes(tiny_project):
    with Project.open(tiny_project) as project:
        record = project.store.images(Split.VAL)[0]
        ids = [i.id for i in project.store.instances(record.id)]
        project.store.delete_instances(record.id, ids)
        cls = project.store.classes()[0].id
        project.store.add_instance(record.id, cls, box(0, 0, 5, 5), crowd=True)
    assert read_facts(tiny_project, check_files=False).empty_images == (record.path,)
