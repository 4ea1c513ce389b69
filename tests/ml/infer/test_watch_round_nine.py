"""The line, the attacker's ninth try: `watch --once` waited for ever on a file another
program kept appending to, naming nothing."""

from __future__ import annotations

import os
import threading
import time

from isegui.core.images import save_image
from isegui.ml.infer.line_watch import Watcher, WatchSettings
from tests.ml.infer.test_line_watch import BrightThings, _part, _rows
from tests.ml.infer.test_watch_hostile import _folder


def test_a_file_that_never_stops_growing_ends_a_one_off_run(tmp_path):
    folder = _folder(tmp_path)
    save_image(folder / "ok.png", _part(1))
    growing = folder / "grow.png"
    growing.write_bytes(b"x")
    stop = threading.Event()

    def append():
        while not stop.is_set():
            with open(growing, "ab") as f:
                f.write(b"x")
            time.sleep(0.02)
    writer = threading.Thread(target=append)
    writer.start()
    said = []
    try:
        watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv", settle_s=0.2, give_up_s=0.3,
                                        writing_limit_s=1.0, poll_s=0.05),
                          BrightThings(), None, said.append)
        assert watcher.run(once=True) == 2
    finally:
        stop.set()
        writer.join()
    rows = {r["file"]: r for r in _rows(tmp_path / "r.csv")}
    assert rows["ok.png"]["verdict"] == "" and rows["ok.png"]["count_pill"] == "1"  # no rules
    assert rows["grow.png"]["verdict"] == "NG"
    assert "still being written 1 s after it appeared" in rows["grow.png"]["reasons"]
    assert any(line.startswith("waiting for grow.png: still being written") for line in said)


def test_a_slow_copy_that_ends_is_judged_on_its_pixels(tmp_path):
    folder = _folder(tmp_path)
    whole = tmp_path / "whole.png"
    save_image(whole, _part(2))
    data = whole.read_bytes()
    target = folder / "slow.png"

    def copy_slowly():
        for k in range(0, len(data), max(1, len(data) // 5)):
            with open(target, "ab") as f:
                f.write(data[k:k + max(1, len(data) // 5)])
            time.sleep(0.05)
    target.write_bytes(b"")
    writer = threading.Thread(target=copy_slowly)
    writer.start()
    try:
        watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv", settle_s=0.2,
                                        writing_limit_s=5.0, poll_s=0.02),
                          BrightThings(), None, lambda _: None)
        assert watcher.run(once=True) == 1
    finally:
        writer.join()
    (row,) = _rows(tmp_path / "r.csv")
    assert row["verdict"] == "" and row["count_pill"] == "2"  # its pixels, whole


def test_weights_beside_a_model_are_read_from_its_folder(tmp_path, monkeypatch):
    """A model whose weights lie in a file beside it (any model over 2 GB) was read with
    the current folder's file of that name, or refused when there was none."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import convert_model_to_external_data

    from isegui.ml.infer.onnx_model import _session
    weights = numpy_helper.from_array(np.full((64, 64), 2.0, np.float32), "w")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])],
                              [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    convert_model_to_external_data(model, location="w.bin", size_threshold=0)
    (tmp_path / "models").mkdir()
    onnx.save_model(model, str(tmp_path / "models" / "m.onnx"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "w.bin").write_bytes(np.zeros((64, 64), np.float32).tobytes())  # not these
    monkeypatch.chdir(elsewhere)
    session = _session(tmp_path / "models" / "m.onnx", 1)
    (out,) = session.run(["y"], {"x": np.ones((64, 64), np.float32)})
    assert float(out[0, 0]) == 2.0


# ---------------------------------------------------------------- the tenth try

class CameraDuringJudging(BrightThings):
    """A model that takes its time, while the camera writes the next part under the same
    name (written beside, then renamed in)."""

    def __init__(self, path, next_part):
        self.path, self.next_part, self.calls = path, next_part, 0

    def predict(self, images, batch_size=4):
        self.calls += 1
        if self.calls == 1:
            save_image(self.path.with_name("incoming.tmp.png"), self.next_part)
            os.replace(self.path.with_name("incoming.tmp.png"), self.path)
        return super().predict(images, batch_size)


def test_a_part_written_under_a_name_being_judged_is_judged_and_moved_as_its_own(tmp_path):
    folder = _folder(tmp_path)
    save_image(folder / "part.png", _part(1))
    model = CameraDuringJudging(folder / "part.png", _part(3))
    said = []
    watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv", move_to=tmp_path / "done",
                                    settle_s=0.0, poll_s=0.01), model, None, said.append)
    assert watcher.run(once=True) == 2
    rows = _rows(tmp_path / "r.csv")
    assert [(r["file"], r["count_pill"]) for r in rows] == [("part.png", "1"), ("part.png", "3")]
    moved = sorted((tmp_path / "done").iterdir())
    assert [p.name for p in moved] == ["part.png"]  # the second part, under its own verdict
    from isegui.core.images import load_image
    assert (load_image(moved[0]) == _part(3)).all()
    assert any("came under its name while it was judged" in line for line in said)


# ---------------------------------------------------------------- the eleventh try

def test_a_json_lines_file_of_other_columns_is_refused_and_left_as_it_was(tmp_path):
    import json

    import pytest

    from isegui.core.errors import InputFileError
    from isegui.ml.infer.results_file import ResultsFile
    out = tmp_path / "results.jsonl"
    rows = [{"time": "t0", "file": "a.png", "verdict": "OK", "count_bolt": 1},
            {"time": "t1", "file": "b.png", "verdict": "NG", "count_bolt": 3}]
    out.write_text("\n".join(json.dumps(r) for r in rows))  # an editor dropped the line end
    before = out.read_bytes()
    with pytest.raises(InputFileError, match="not this watch's"):
        ResultsFile(out, ["time", "file", "verdict", "count_pill"]).done_files()
    assert out.read_bytes() == before


def test_a_whole_json_line_without_its_line_end_is_kept(tmp_path):
    import json

    from isegui.ml.infer.results_file import ResultsFile
    out = tmp_path / "results.jsonl"
    columns = ["time", "file", "verdict"]
    out.write_text(json.dumps({"time": "t0", "file": "a.png", "verdict": "OK"}) + "\n"
                   + json.dumps({"time": "t1", "file": "b.png", "verdict": None}))
    results = ResultsFile(out, columns)
    assert results.done_files() == {"a.png", "b.png"} and results.damaged == 0
    assert out.read_text().endswith("}\n")


def test_a_one_off_run_ends_while_the_camera_goes_on(tmp_path):
    folder = _folder(tmp_path)
    for k in range(3):
        save_image(folder / f"first{k}.png", _part(1))
    stop = threading.Event()

    def camera():
        k = 0
        while not stop.is_set():
            save_image(folder / f".tmp{k}.png", _part(2))
            os.replace(folder / f".tmp{k}.png", folder / f"later{k}.png")
            k += 1
            time.sleep(0.05)
    delivering = threading.Thread(target=camera)
    delivering.start()
    try:
        watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv", settle_s=0.1, poll_s=0.02),
                          BrightThings(), None, lambda _: None)
        assert watcher.run(once=True) == 3  # what was there when it started
    finally:
        stop.set()
        delivering.join()
    assert sorted(r["file"] for r in _rows(tmp_path / "r.csv")) == [
        "first0.png", "first1.png", "first2.png"]
