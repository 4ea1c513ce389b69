"""`isegui train-clicks`: the project's click model from the command line."""

import json

import pytest

from isegui.cli import main
from isegui.core.demo import create_demo_project


@pytest.fixture
def tiny_project(tmp_path):
    folder = tmp_path / "demo"
    create_demo_project(folder, n_images=6, width=160, height=128).close()
    return folder


def test_train_clicks_saves_the_model_and_says_what_it_learned_from(tiny_project, capsys):
    assert main(["train-clicks", str(tiny_project), "--max-steps", "2", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "click model: 2 steps" in captured.out and "click_model.pt" in captured.out
    assert "instances of" in captured.err
    assert (tiny_project / "click_model.pt").is_file()


def test_train_clicks_speaks_json_lines_for_the_app(tiny_project, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)  # no cancel watcher on pytest's stdin
    assert main(["train-clicks", str(tiny_project), "--max-steps", "1", "--progress",
                 "jsonl"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["steps"] == 1


def test_train_clicks_on_a_project_without_instances_fails_in_one_line(tmp_path, capsys):
    from isegui.core.project import Project
    Project.create(tmp_path / "empty", name="empty").close()
    assert main(["train-clicks", str(tmp_path / "empty"), "--max-steps", "1"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no labeled instances in the train split" in err[0]
