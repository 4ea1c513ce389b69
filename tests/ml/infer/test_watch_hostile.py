"""The watch tried again as an attacker would (issue 26, the re-test): a results file that is a
link or a FIFO, a model that passes its load check and then spins for ever on a part, names
that would forge a line or act on the terminal, and a camera that reuses a name while the
watch moves inspected images away. Nothing is written outside, nothing stops or hangs the
line, every message is one line."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.errors import InputFileError
from isegui.core.images import save_image
from isegui.exit_codes import EXIT_FAILED
from isegui.ml.infer import onnx_model
from isegui.ml.infer.line_watch import Watcher, WatchSettings, watcher_for
from tests.ml.infer.test_line_watch import BrightThings, _part, _rows, tiny_model

WAIT = 20  # seconds; the fixed code answers at once
LIMIT = 0.5  # seconds a run may take in these tests (RUN_LIMIT_S shrunk)
needs_links = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need admin rights")
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def _finishes(call):
    """call() in a thread: its result (or exception), or a failure if it waits past WAIT s."""
    result: list = []

    def target():
        try:
            result.append(call())
        except Exception as exc:
            result.append(exc)
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), f"still waiting after {WAIT} s"
    return result[0]


def _folder(tmp_path, **images):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, pixels in images.items():
        save_image(folder / name, pixels)
    return folder


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- the results file: never written through a link, never opened as a FIFO


@needs_links
@pytest.mark.parametrize("out_name", ["results.csv", "results.jsonl"])
def test_a_results_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path, capsys,
                                                                            out_name):
    folder = _folder(tmp_path, **{"a.png": _part(1)})
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("victim\n")
    (folder / out_name).symlink_to(os.path.relpath(victim, folder))
    model = tiny_model(tmp_path / "m.onnx")
    out = folder / out_name
    code = main(["watch", str(folder), "--model", str(model), "--out", str(out), "--once"])
    assert code == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {out}: a link") and "ready" not in line
    assert victim.read_text() == "victim\n"


@needs_links
def test_a_dangling_link_as_results_file_is_refused_too(tmp_path):
    folder = _folder(tmp_path)
    (folder / "results.csv").symlink_to(tmp_path / "made-by-the-watch.csv")
    with pytest.raises(InputFileError, match="a link"):
        Watcher(WatchSettings(folder, folder / "results.csv"), BrightThings(), None)
    assert not (tmp_path / "made-by-the-watch.csv").exists()


@needs_fifo
def test_a_fifo_as_results_file_is_refused_at_once_not_waited_on(tmp_path, capsys):
    folder = _folder(tmp_path, **{"a.png": _part(1)})
    os.mkfifo(folder / "results.csv")
    model = tiny_model(tmp_path / "m.onnx")
    code = _finishes(lambda: main(["watch", str(folder), "--model", str(model), "--once"]))
    assert code == EXIT_FAILED
    line = _one_line(capsys.readouterr().err)
    assert "results.csv: cannot hold the results: not a regular file but a FIFO" in line


@needs_links
def test_a_results_file_made_a_link_during_the_watch_keeps_its_rows_waiting(tmp_path):
    folder = _folder(tmp_path, **{"a.png": _part(1)})
    out = folder / "results.csv"
    victim = tmp_path / "victim.txt"
    victim.write_text("victim\n")
    watcher = Watcher(WatchSettings(folder, out, settle_s=0.0), BrightThings(), None,
                      lambda _: None)
    out.symlink_to(victim)  # after the start-up check
    assert watcher.run(once=True) == 1
    assert victim.read_text() == "victim\n" and len(watcher.results.waiting) == 1
    out.unlink()
    assert watcher.results.flush() and [r["file"] for r in _rows(out)] == ["a.png"]


# --- a model that passes the load check, then spins for ever on a part


def loop_model(path, *, on_blank: bool = False):
    """tiny_model's outputs, plus a Loop whose trip count is max(image) * 1e18: it runs 0
    times on the blank frame of the load check and for ever on a bright part; `on_blank`:
    (1 - max(image)) * 1e18, for ever on the blank frame itself."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name, value):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
            np.asarray(value), name))
    scalar = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Identity", ["v_in"], ["v_out"])], "body",
        [scalar("i", TensorProto.INT64, []), scalar("c_in", TensorProto.BOOL, []),
         scalar("v_in", TensorProto.FLOAT, [])],
        [scalar("c_out", TensorProto.BOOL, []), scalar("v_out", TensorProto.FLOAT, [])])
    nodes = [
        const("boxes0", np.array([[4, 4, 12, 12]], np.float32)),
        const("labels", np.array([1], np.int64)),
        const("scores", np.array([0.9], np.float32)),
        const("masks", np.ones((1, 1, 14, 14), np.float32)),
        const("one", np.array(1.0, np.float32)), const("big", np.array(1e18, np.float32)),
        const("cond", np.array(True)), const("v0", np.array(0.0, np.float32)),
        helper.make_node("ReduceMax", ["image"], ["high"], keepdims=0),
        helper.make_node("Sub", ["one", "high"], ["low"]),
        helper.make_node("Mul", ["low" if on_blank else "high", "big"], ["trips_f"]),
        helper.make_node("Cast", ["trips_f"], ["trips"], to=TensorProto.INT64),
        helper.make_node("Loop", ["trips", "cond", "v0"], ["spun"], body=body),
        helper.make_node("Add", ["boxes0", "spun"], ["boxes"]),
    ]
    graph = helper.make_graph(
        nodes, "spinning",
        [scalar("image", TensorProto.FLOAT, [1, 3, 32, 32]),
         scalar("score_threshold", TensorProto.FLOAT, [])],
        [scalar(name, TensorProto.INT64 if name == "labels" else TensorProto.FLOAT, None)
         for name in ("boxes", "labels", "scores", "masks")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    entry = model.metadata_props.add()
    entry.key, entry.value = "isegui", json.dumps({
        "isegui": "0.1.0", "model_name": "spinning", "width": 32, "height": 32,
        "classes": ["pill", "scratch"], "working_scale": None, "mean": [0.5, 0.5, 0.5],
        "mm_per_px": None, "rules": None})
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def short_runs(monkeypatch):
    monkeypatch.setattr(onnx_model, "RUN_LIMIT_S", LIMIT)


def test_a_model_spinning_on_a_part_gives_that_part_an_ng_row_and_the_line_goes_on(
        tmp_path, short_runs):
    folder = _folder(tmp_path, **{"a_bright.png": np.full((32, 32, 3), 200, np.uint8),
                                  "b_blank.png": np.zeros((32, 32, 3), np.uint8)})
    said: list[str] = []
    watcher = watcher_for(folder, loop_model(tmp_path / "m.onnx"), settle_s=0.0)
    watcher.say = said.append
    assert watcher.predictor.run_limit_s == pytest.approx(LIMIT)
    assert _finishes(lambda: watcher.run(once=True)) == 2
    rows = {r["file"]: r for r in _rows(folder / "results.csv")}
    assert rows["a_bright.png"]["verdict"] == "NG"
    assert rows["a_bright.png"]["reasons"] == (
        "not inspected: the model took longer than 0.50 s on this image and was stopped")
    assert rows["b_blank.png"]["count_pill"] == "1"  # the next part: judged as usual
    assert [line for line in said if "a_bright.png" in line] == [
        " NG a_bright.png: not inspected: the model took longer than 0.50 s on this image "
        "and was stopped"]


def test_a_model_spinning_on_the_blank_frame_is_refused_in_one_line_when_loaded(
        tmp_path, short_runs, capsys):
    model = loop_model(tmp_path / "m.onnx", on_blank=True)
    folder = _folder(tmp_path)
    code = _finishes(lambda: main(["watch", str(folder), "--model", str(model), "--once"]))
    assert code == EXIT_FAILED
    captured = capsys.readouterr()
    assert "ready" not in captured.out
    line = _one_line(captured.err)
    assert line == (f"error: {model}: fails on a blank frame (the model took longer than "
                    "0.50 s on this image and was stopped)")


def test_the_limit_grows_with_a_slow_dry_run_and_never_falls_below_the_floor(tmp_path,
                                                                              monkeypatch):
    from isegui.ml.infer.onnx_model import OnnxPredictor
    model = tiny_model(tmp_path / "m.onnx")
    assert OnnxPredictor(model).run_limit_s == onnx_model.RUN_LIMIT_S == 60
    monkeypatch.setattr(onnx_model, "DRY_RUN_FACTOR", 1e9)  # a dry run of 1 µs: 1000 s
    assert OnnxPredictor(model).run_limit_s > 1000


# --- names that would forge a line or act on the terminal


FORGING = ["nl\n OK forged.png", "\x1b]0;PWNED\x07\x1b[2Jclear.png", "cr\rOK.png",
           "sep\u2028OK.png", "bidi\u202egnp.png", "nul\x7fdel\x9bcsi.png"]


@pytest.mark.skipif(sys.platform == "win32", reason="names Windows cannot hold")
def test_a_name_cannot_forge_a_line_or_act_on_the_terminal(tmp_path):
    folder = _folder(tmp_path, **{name: _part(1) for name in FORGING})
    said: list[str] = []
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", settle_s=0.0),
                      BrightThings(), None, said.append)
    assert watcher.run(once=True) == len(FORGING)
    assert len(said) == len(FORGING)
    for line in said:
        assert line.isprintable(), repr(line)
    assert "  - nl\\n OK forged.png" in said
    assert "  - \\x1b]0;PWNED\\x07\\x1b[2Jclear.png" in said
    assert "  - bidi\\u202egnp.png" in said


def test_an_error_with_control_characters_is_one_printable_reason(tmp_path):
    class Hostile(BrightThings):
        def predict(self, images, batch_size=4):
            raise RuntimeError("bad\x00class\x1b[2J\nsecond line")
    folder = _folder(tmp_path, **{"a.png": _part(1)})
    said: list[str] = []
    Watcher(WatchSettings(folder, tmp_path / "results.csv", settle_s=0.0), Hostile(), None,
            said.append).run(once=True)
    (row,) = _rows(tmp_path / "results.csv")
    assert row["reasons"] == "not inspected: RuntimeError: bad\\x00class\\x1b[2J second line"
    assert said == [f" NG a.png: {row['reasons']}"]


# --- a camera that reuses a name while the watch moves inspected images away


def test_a_new_file_under_a_name_already_moved_away_is_inspected(tmp_path):
    folder = _folder(tmp_path)
    done = tmp_path / "done"
    said: list[str] = []
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", move_to=done,
                                    settle_s=0.0), BrightThings(), None, said.append)
    for pills in (1, 3):
        save_image(folder / "part.png", _part(pills))
        assert watcher.run(once=True) == 1
    assert [r["count_pill"] for r in _rows(tmp_path / "results.csv")] == ["1", "3"]
    # the first part's image is kept beside the second's, not overwritten
    assert sorted(p.name for p in done.iterdir()) == ["part-2.png", "part.png"]
    assert not any(folder.glob("*.png"))


def test_after_a_restart_a_reused_name_is_still_a_new_part(tmp_path):
    """The watch restarts (a reboot, a new shift): the results hold part.png, and the camera
    writes part.png again. With --move-to that is a new part, inspected."""
    folder = _folder(tmp_path)
    done = tmp_path / "done"
    settings = WatchSettings(folder, tmp_path / "results.csv", move_to=done, settle_s=0.0)
    save_image(folder / "part.png", _part(1))
    assert Watcher(settings, BrightThings(), None, lambda _: None).run(once=True) == 1
    save_image(folder / "part.png", _part(3))
    assert Watcher(settings, BrightThings(), None, lambda _: None).run(once=True) == 1
    assert [r["count_pill"] for r in _rows(tmp_path / "results.csv")] == ["1", "3"]
    assert sorted(p.name for p in done.iterdir()) == ["part-2.png", "part.png"]


def test_a_file_that_could_not_be_moved_is_not_inspected_again(tmp_path):
    folder = _folder(tmp_path, **{"part.png": _part(1)})
    blocker = tmp_path / "done"
    blocker.write_text("a file where the folder should be")
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", move_to=blocker,
                                    settle_s=0.0), BrightThings(), None, lambda _: None)
    assert watcher.run(once=True) == 1
    assert watcher.run(once=True) == 0 and (folder / "part.png").exists()


def test_a_part_not_copied_to_another_drive_is_named_where_it_was_going(tmp_path, monkeypatch,
                                                                        caplog):
    """A read-only or full drive named the hidden '.part.png.1234.partial' the copy was
    written under, not the place the part was meant to go."""
    import errno

    from isegui.ml.infer import line_watch
    folder, done = _folder(tmp_path, **{"part.png": _part(1)}), tmp_path / "done"

    def across_drives(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src), None, str(dst))

    def read_only(source, target):
        raise OSError(errno.EROFS, "Read-only file system", str(target))
    monkeypatch.setattr(line_watch.os, "replace", across_drives)
    monkeypatch.setattr(line_watch, "copy_new", read_only)
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", move_to=done,
                                    settle_s=0.0), BrightThings(), None, lambda _: None)
    with caplog.at_level("WARNING"):
        assert watcher.run(once=True) == 1
    moved = [r.getMessage() for r in caplog.records if "not moved" in r.getMessage()]
    assert len(moved) == 1 and str(done / "part.png") in moved[0], moved
    assert ".partial" not in moved[0] and (folder / "part.png").exists()


def test_a_tiled_frame_has_one_time_budget_not_one_per_tile(tmp_path, monkeypatch):
    """A model taking just under the run limit on every tile would hold the line for tiles x
    limit on one frame: the frame's tiles share a budget of DRY_RUN_FACTOR x the dry run's time
    per tile's worth of the frame (RUN_LIMIT_S at least), and the frame is stopped once it is
    spent."""
    from isegui.core.working_scale import TILES, WorkingScale
    from isegui.ml.infer.onnx_model import ModelTooSlow, OnnxPredictor
    predictor = OnnxPredictor(tiny_model(tmp_path / "m.onnx", size=32))
    predictor.working = WorkingScale(TILES, 32, 1.0)
    monkeypatch.setattr(onnx_model, "RUN_LIMIT_S", 0.3)  # the floor of the frame's budget
    predictor.run_limit_s, predictor.dry_run_s = 0.05, 0.0001  # 20 x 0.1 ms = 2 ms a tile
    real_run, limits = onnx_model._timed_run, []

    def just_under_the_limit(session, outputs, feed, limit_s):
        limits.append(limit_s)
        time.sleep(min(limit_s, 0.04))
        return real_run(session, outputs, feed, limit_s)
    monkeypatch.setattr(onnx_model, "_timed_run", just_under_the_limit)
    frame = np.zeros((320, 320, 3), np.uint8)  # 100 windows: 200 x 2 ms = 0.4 s of budget
    start = time.monotonic()
    with pytest.raises(ModelTooSlow, match="frame of this size"):
        predictor.predict([frame])
    spent = time.monotonic() - start
    assert spent < 1.0, spent  # the frame's budget, not 100+ tiles x 40 ms
    assert len(limits) < 20 and min(limits) < 0.04  # the last tile ran on what was left
    assert predictor.predict([np.zeros((32, 32, 3), np.uint8)]) is not None  # a new budget
