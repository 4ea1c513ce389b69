"""The watch-folder runtime, fed as a line feeds it: images dropped into the folder, some
half-written or corrupt, a burst, a results file another program holds, a restart."""

import csv
import json
import os
import threading
import time

import cv2
import numpy as np
import pytest

from isegui.core.images import save_image
from isegui.core.working_scale import WHOLE, WorkingScale
from isegui.ml.infer.detection import Detection
from isegui.ml.infer.line_watch import ResultsFile, Watcher, WatchSettings


class BrightThings:
    """A predictor of bright blobs (class "pill"), as a model that sees them perfectly."""
    classes, working, threshold = ["pill", "scratch"], WorkingScale(WHOLE, 64), 0.5

    def predict(self, images, batch_size=4):
        out = []
        for image in images:
            bright = (np.asarray(image)[..., 0] > 127).astype(np.uint8)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
            found = []
            for k in range(1, n):
                x, y, w, h = (int(v) for v in stats[k, :4])
                mask = labels[y:y + h, x:x + w] == k
                found.append(Detection(1, "pill", 0.9, (x, y, x + w, y + h), mask, (x, y)))
            out.append(found)
        return out

    def set_input_size(self, side):
        pass


def _part(pills: int, size=(96, 64)) -> np.ndarray:
    image = np.full((size[1], size[0], 3), 30, np.uint8)
    for k in range(pills):
        cv2.circle(image, (12 + 20 * k, 30), 7, (220, 220, 220), -1)
    return image


def _rows(path):
    """The rows as written (a CSV's cells still escaped)."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().split("\n") if line]
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _watcher(folder, out, **settings):
    said = []
    return Watcher(WatchSettings(folder, out, settle_s=0.2, give_up_s=0.6, poll_s=0.02,
                                 **settings), BrightThings(), None, said.append), said


def test_each_complete_image_is_inspected_once_with_its_counts(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        save_image(folder / f"part_{k}.png", _part(k + 1))
    watcher, _ = _watcher(folder, tmp_path / "results.csv")
    assert watcher.run(once=True) == 3
    rows = _rows(tmp_path / "results.csv")
    assert [(r["file"], r["count_pill"]) for r in rows] == [
        ("part_0.png", "1"), ("part_1.png", "2"), ("part_2.png", "3")]
    watcher, said = _watcher(folder, tmp_path / "results.csv")  # a restart
    assert watcher.run(once=True) == 0 and "3 images inspected before" in said[0]
    save_image(folder / "part_3.png", _part(4))
    assert watcher.run(once=True) == 1
    assert [r["file"] for r in _rows(tmp_path / "results.csv")][-1] == "part_3.png"


def test_a_half_written_image_waits_and_a_corrupt_one_is_ng_unreadable(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    whole = cv2.imencode(".jpg", _part(2))[1].tobytes()
    (folder / "bad.jpg").write_bytes(b"not an image at all")
    watcher, _ = _watcher(folder, tmp_path / "results.jsonl")
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, kwargs={"stop": stop.is_set})
    thread.start()
    try:
        with open(folder / "slow.jpg", "wb") as out:  # a camera writing in three pieces
            for k in range(3):
                out.write(whole[k * len(whole) // 3:(k + 1) * len(whole) // 3])
                out.flush()
                time.sleep(0.12)  # shorter than the settle time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(watcher._done) < 2:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    rows = {r["file"]: r for r in _rows(tmp_path / "results.jsonl")}
    assert rows["slow.jpg"]["verdict"] == "" and rows["slow.jpg"]["count_pill"] == 2
    assert rows["bad.jpg"]["verdict"] == "NG" and rows["bad.jpg"]["reasons"].startswith(
        "unreadable")


def test_a_jpeg_cut_short_is_never_inspected_as_a_part(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    whole = cv2.imencode(".jpg", _part(2))[1].tobytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # the writer died
    watcher, _ = _watcher(folder, tmp_path / "results.csv")
    assert watcher.run(once=True) == 1
    (row,) = _rows(tmp_path / "results.csv")
    assert row["verdict"] == "NG" and "unreadable" in row["reasons"]


def test_a_burst_of_100_images_all_get_one_row(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(100):
        save_image(folder / f"p{k:03d}.png", _part(1 + k % 4))
    watcher, _ = _watcher(folder, tmp_path / "results.csv", move_to=tmp_path / "done")
    assert watcher.run(once=True) == 100
    rows = _rows(tmp_path / "results.csv")
    assert sorted(r["file"] for r in rows) == [f"p{k:03d}.png" for k in range(100)]
    assert not any(folder.iterdir()) and len(list((tmp_path / "done").iterdir())) == 100


def test_rows_wait_while_the_results_file_cannot_be_opened(tmp_path, monkeypatch):
    from isegui.ml.infer import results_file as line_watch
    out = tmp_path / "results.csv"
    results = ResultsFile(out, ["time", "file", "verdict"])
    real_open = line_watch.open_no_follow
    held = {"on": True}

    def excel_holds(path, *args, **kwargs):  # Windows: a sharing violation
        if held["on"] and str(path) == str(out):
            raise PermissionError(13, "The process cannot access the file", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(line_watch, "open_no_follow", excel_holds)
    results.add({"time": "t0", "file": "a.png", "verdict": "OK"})
    results.add({"time": "t1", "file": "b.png", "verdict": "NG"})
    assert [r["file"] for r in results.waiting] == ["a.png", "b.png"]
    held["on"] = False
    assert results.flush() and [r["file"] for r in _rows(out)] == ["a.png", "b.png"]


def test_a_stop_file_ends_the_watch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    watcher, said = _watcher(folder, tmp_path / "results.csv")
    threading.Timer(0.3, lambda: (folder / "STOP").touch()).start()
    start = time.monotonic()
    watcher.run()
    assert time.monotonic() - start < 3 and any("STOP" in s for s in said)


def test_rules_say_ok_or_ng_with_reasons_and_ng_parts_get_an_overlay(tmp_path):
    from isegui.core.line_rules import Rules
    folder = tmp_path / "in"
    folder.mkdir()
    save_image(folder / "good.png", _part(3))
    save_image(folder / "short.png", _part(2))
    rules = Rules.from_json({"isegui_rules": 1, "units": "px",
                             "classes": {"pill": {"count": {"min": 3, "max": 3},
                                                  "area": {"min": 100, "max": 250}}},
                             "defects": ["scratch"]}, "rules.json")
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", settle_s=0.0,
                                    overlays=tmp_path / "ng"), BrightThings(), rules,
                      lambda _: None)
    assert watcher.run(once=True) == 2
    rows = {r["file"]: r for r in _rows(tmp_path / "results.csv")}
    assert rows["good.png"]["verdict"] == "OK" and rows["good.png"]["reasons"] == ""
    assert rows["short.png"]["verdict"] == "NG"
    assert "pill: count 2 < min 3" in rows["short.png"]["reasons"]
    assert rows["short.png"]["count_scratch"] == "0"
    sizes = json.loads(rows["good.png"]["sizes"])
    assert len(sizes["pill"]) == 3 and all(100 < s["area"] < 250 for s in sizes["pill"])
    assert [p.name for p in (tmp_path / "ng").iterdir()] == ["short_NG.png"]


@pytest.mark.slow
def test_isegui_watch_runs_on_onnxruntime_alone_and_never_imports_torch(tiny_project,
                                                                        tmp_path):
    """The line's path: an exported model, a folder, rules; torch stays out of the process
    (a line PC starts in about a second), and so does every ml module outside ml.infer."""
    import subprocess
    import sys

    from isegui.cli import main
    assert main(["train", str(tiny_project), "--size", "96", "--epochs", "1", "--batch", "2",
                 "--max-steps", "2", "--device", "cpu", "--workers", "0"]) == 0
    model = tmp_path / "model.onnx"
    assert main(["export-model", str(tiny_project), "--format", "onnx", str(model)]) == 0
    folder = tmp_path / "camera"
    folder.mkdir()
    for k in range(3):
        save_image(folder / f"part_{k}.png", _part(k + 1))
    (folder / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 half a jpeg")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"isegui_rules": 1, "units": "px",
                                 "classes": {"pill": {"count": {"max": 50}}}}))
    script = ("import sys; from isegui.cli import main; "
              f"rc = main(['watch', {str(folder)!r}, '--model', {str(model)!r}, "
              f"'--rules', {str(rules)!r}, '--once', '--threshold', '0.0']); "
              "assert 'torch' not in sys.modules, 'torch was imported'; "
              "assert 'PySide6' not in sys.modules, 'Qt was imported'; "
              # the line needs nothing of ml but its torch-free tier (ml/infer)
              "beyond = [m for m in sys.modules if m.startswith('isegui.ml.') "
              "and not m.startswith('isegui.ml.infer')]; "
              "assert not beyond, f'outside ml.infer: {beyond}'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready in" in done.stdout and "4 images inspected" in done.stdout
    rows = {r["file"]: r for r in _rows(folder / "results.csv")}
    assert set(rows) == {"part_0.png", "part_1.png", "part_2.png", "torn.jpg"}
    assert rows["torn.jpg"]["verdict"] == "NG" and "unreadable" in rows["torn.jpg"]["reasons"]
    assert all(rows[f"part_{k}.png"]["verdict"] in ("OK", "NG") for k in range(3))

    # the rules and the calibration can travel inside the model file instead
    from isegui.core.project import Project
    with Project.open(tiny_project) as project:
        project.set_calibration(0.5)
    mm_rules = tmp_path / "mm.json"
    mm_rules.write_text(json.dumps({"isegui_rules": 1, "units": "mm",
                                    "classes": {"pill": {"count": {"max": 0}}}}))
    carrying = tmp_path / "carrying.onnx"
    assert main(["export-model", str(tiny_project), "--format", "onnx", str(carrying),
                 "--rules", str(mm_rules)]) == 0
    from isegui.ml.infer.onnx_model import OnnxPredictor
    exported = OnnxPredictor.from_file(carrying)
    assert exported.mm_per_px == 0.5 and exported.rules["units"] == "mm"


# --- hostile input (issue 26): no formula in the CSV, no part given up on too soon, no file
# that stops the line, no wrong result without a word


class Named(BrightThings):
    """BrightThings whose parts belong to a class of another name."""

    def __init__(self, name):
        self.classes = [name, "scratch"]
        self.name = name

    def predict(self, images, batch_size=4):
        return [[Detection(1, self.name, d.score, d.box, d.mask, d.origin) for d in found]
                for found in super().predict(images, batch_size)]


class FailsOn(BrightThings):
    """BrightThings that fails, as a model may, on an image with `pills` parts."""

    def __init__(self, pills, error):
        self.pills, self.error = pills, error

    def predict(self, images, batch_size=4):
        found = super().predict(images, batch_size)
        if len(found[0]) == self.pills:
            raise self.error
        return found


def test_names_starting_like_a_formula_are_escaped_in_the_results_and_read_back(tmp_path):
    from isegui.core.line_rules import Rules
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("=cmd.png", "-1.png", "@SUM(A1).png", "+x.png", "plain.png"):
        save_image(folder / name, _part(2))
    rules = Rules.from_json({"isegui_rules": 1, "classes": {"=HYPERLINK(1)": {
        "count": {"min": 3}}}}, "rules.json")
    out = tmp_path / "results.csv"
    said = []
    watcher = Watcher(WatchSettings(folder, out, settle_s=0.0), Named("=HYPERLINK(1)"), rules,
                      said.append)
    assert watcher.run(once=True) == 5
    rows = {r["file"]: r for r in _rows(out)}
    assert set(rows) == {"'=cmd.png", "'-1.png", "'@SUM(A1).png", "'+x.png", "plain.png"}
    assert rows["plain.png"]["reasons"] == "'=HYPERLINK(1): count 2 < min 3"
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r"))
                       for cell in row.values() if cell), row
    again = Watcher(WatchSettings(folder, out, settle_s=0.0), Named("=HYPERLINK(1)"), rules,
                    said.append)
    assert again.run(once=True) == 0  # the restart knows every name again


def _landed(path, data, mtime_ns=1_600_000_000 * 10**9):
    """`data` written at `path` as a copy that keeps its original's old time stamp."""
    with open(path, "wb") as out:
        out.write(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_slow_copy_with_an_old_time_stamp_waits_until_it_has_settled(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    whole = cv2.imencode(".jpg", _part(3))[1].tobytes()
    watcher, _ = _watcher(folder, tmp_path / "results.csv")  # settle 0.2, give up 0.6
    _landed(folder / "part.jpg", whole[:len(whole) // 3])
    assert watcher.step(100.0) == [] and watcher.step(100.3) == []  # settled, not decoded
    assert watcher.step(100.5) == []  # unreadable, but not for give_up_s yet
    _landed(folder / "part.jpg", whole[:2 * len(whole) // 3])  # the copy goes on, slowly
    assert watcher.step(101.0) == [] and watcher.step(101.3) == [] and watcher.step(101.6) == []
    _landed(folder / "part.jpg", whole)
    assert watcher.step(102.0) == []  # changed at this look: not settled yet
    (row,) = watcher.step(102.3)
    assert row["file"] == "part.jpg" and row["verdict"] == "" and row["count_pill"] == 3


def test_a_copy_that_fills_a_file_of_its_final_size_is_not_given_up_on(tmp_path):
    """Explorer sets a copy's size first, then fills it in: size and time stamp stay."""
    folder = tmp_path / "in"
    folder.mkdir()
    whole = cv2.imencode(".png", _part(2))[1].tobytes()
    _landed(folder / "part.png", bytes(len(whole)))
    watcher, _ = _watcher(folder, tmp_path / "results.csv")
    for now in (100.0, 100.3, 100.5, 100.8):
        assert watcher.step(now) == []
    _landed(folder / "part.png", whole[:len(whole) // 2] + bytes(len(whole) - len(whole) // 2))
    assert watcher.step(100.85) == [] and watcher.step(101.2) == []  # its bytes changed
    _landed(folder / "part.png", whole)
    (row,) = watcher.step(101.3)
    assert row["verdict"] == "" and row["count_pill"] == 2
    _landed(folder / "torn.png", whole[:40])  # one that never completes is given up on
    assert watcher.step(102.0) == [] and watcher.step(102.3) == []
    (row,) = watcher.step(103.0)
    assert row["verdict"] == "NG" and row["reasons"].startswith("unreadable: ")


def test_a_name_that_is_not_utf8_gets_its_row_and_is_known_after_a_restart(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    odd = folder / os.fsdecode(b"part\xff\xfe.png")
    save_image(odd, _part(2))
    save_image(folder / "next.png", _part(1))
    for out in (tmp_path / "results.csv", tmp_path / "results.jsonl"):
        watcher, said = _watcher(folder, out)
        assert watcher.run(once=True) == 2
        rows = {r["file"]: r for r in _rows(out)}
        assert rows["part\\xff\\xfe.png"]["count_pill"] in ("2", 2)
        assert any("part\\xff\\xfe.png" in line for line in said)
        watcher, _ = _watcher(folder, out)
        assert watcher.run(once=True) == 0


def test_a_name_with_a_line_separator_is_not_inspected_again_after_a_restart(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a\u2028b.png", "c\rd.png", "e\x1cf.png"):
        save_image(folder / name, _part(1))
    watcher, _ = _watcher(folder, tmp_path / "results.csv")
    assert watcher.run(once=True) == 3
    watcher, said = _watcher(folder, tmp_path / "results.csv")
    assert watcher.run(once=True) == 0 and "3 images inspected before" in said[0]


@pytest.mark.parametrize("error, words", [
    (RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT :\nGot invalid dimensions"),
     "not inspected: RuntimeError: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid "
     "dimensions"),
    (IndexError("list index out of range"), "not inspected: IndexError: list index out of range"),
    (MemoryError(), "not inspected: not enough memory"),
    (ValueError(), "not inspected: ValueError"),
])
def test_a_failure_on_one_image_is_its_ng_row_and_the_line_goes_on(tmp_path, error, words):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        save_image(folder / f"part_{k}.png", _part(k + 1))
    said = []
    watcher = Watcher(WatchSettings(folder, tmp_path / "results.csv", settle_s=0.0),
                      FailsOn(2, error), None, said.append)
    assert watcher.run(once=True) == 3
    rows = {r["file"]: r for r in _rows(tmp_path / "results.csv")}
    assert rows["part_1.png"]["verdict"] == "NG" and rows["part_1.png"]["reasons"] == words
    assert rows["part_0.png"]["count_pill"] == "1" and rows["part_2.png"]["count_pill"] == "3"
    assert len([line for line in said if "part_1.png" in line]) == 1


class NotANumber(BrightThings):
    """BrightThings with one more detection whose score, and one whose box, is NaN."""

    def predict(self, images, batch_size=4):
        found = super().predict(images, batch_size)
        for image in found:
            if image:
                d = image[0]
                image.append(Detection(1, "pill", float("nan"), d.box, d.mask, d.origin))
                image.append(Detection(1, "pill", 0.9, (float("nan"),) * 4, d.mask, d.origin))
        return found


def test_a_nan_score_or_box_is_never_counted_or_written(tmp_path):
    from isegui.core.line_rules import Rules
    folder = tmp_path / "in"
    folder.mkdir()
    save_image(folder / "part.png", _part(2))
    rules = Rules.from_json({"isegui_rules": 1, "classes": {"pill": {"count": {"max": 2}}}},
                            "rules.json")
    for out, judge in ((tmp_path / "r.csv", rules), (tmp_path / "r.jsonl", None)):
        watcher = Watcher(WatchSettings(folder, out, settle_s=0.0), NotANumber(), judge,
                          lambda _: None)
        assert watcher.run(once=True) == 1
        (row,) = _rows(out)
        assert str(row["count_pill"]) == "2" and "NaN" not in json.dumps(row)
        assert row["verdict"] == ("OK" if judge else "")


def test_rules_naming_a_class_the_model_lacks_are_refused_before_the_watch(tmp_path):
    from isegui.core.line_rules import Rules, RulesError
    rules = Rules.from_json({"isegui_rules": 1, "classes": {"pil": {"count": {"min": 1}}}},
                            "rules.json")
    with pytest.raises(RulesError, match='^rules.json: classes.pil: the model has no class '
                                         '"pil" \\(its classes: pill, scratch\\)$'):
        Watcher(WatchSettings(tmp_path, tmp_path / "results.csv"), BrightThings(), rules)


def test_a_damaged_results_file_at_a_restart_is_skipped_or_refused_in_one_line(tmp_path):
    from isegui.core.errors import InputFileError
    folder = tmp_path / "in"
    folder.mkdir()
    save_image(folder / "a.png", _part(1))
    save_image(folder / "b.png", _part(1))
    out = tmp_path / "results.jsonl"
    out.write_text('{"file": "a.png"}\n{"file": "b.p\n[1, 2]\n', encoding="utf-8")
    watcher, said = _watcher(folder, out)
    assert "2 damaged lines" in said[0] and watcher.run(once=True) == 1  # b.png
    huge = tmp_path / "results.csv"
    # a cell no row of isegui's holds (its sizes are kept within MAX_SIZES_CHARS)
    from isegui.ml.infer.results_file import CSV_FIELD_LIMIT
    huge.write_text('time,file\n"x,' + "y" * (CSV_FIELD_LIMIT + 10) + '"\n', encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        _watcher(folder, huge)
    assert "cannot read back the images inspected before" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


# --- the ONNX predictor: a model is checked when it is loaded, not on the first part


def tiny_model(path, *, classes=("pill", "scratch"), size=32, boxes=((4, 4, 12, 12),),
               labels=(1,), scores=(0.9,), meta=None, outputs=None, inputs=None):
    """An ONNX model that gives the same detections for every image, with isegui metadata
    (`meta` replaces or adds keys; a string replaces it whole; False: none)."""
    from onnx import TensorProto, helper, numpy_helper
    n = len(boxes)
    values = {"boxes": np.asarray(boxes, np.float32).reshape(n, 4),
              "labels": np.asarray(labels, np.int64).reshape(-1),
              "scores": np.asarray(scores, np.float32).reshape(-1),
              "masks": np.ones((n, 1, 14, 14), np.float32)}
    values.update(outputs or {})
    nodes = [helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
        np.asarray(value), name)) for name, value in values.items() if value is not None]
    given = inputs or {"image": [1, 3, size, size], "score_threshold": []}
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
                        for name, shape in given.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT if name != "labels"
                                       else TensorProto.INT64, None)
         for name, value in values.items() if value is not None])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    data = {"isegui": "0.1.0", "model_name": "tiny", "width": size, "height": size,
            "classes": list(classes), "working_scale": None, "mean": [0.5, 0.5, 0.5],
            "mm_per_px": None, "rules": None}
    text = meta if isinstance(meta, str) else json.dumps({**data, **(meta or {})})
    if meta is not False:
        entry = model.metadata_props.add()
        entry.key, entry.value = "isegui", text
    path.write_bytes(model.SerializeToString())
    return path


def test_a_line_scan_strip_is_predicted_and_judged(tmp_path):
    from isegui.ml.infer.line_watch import watcher_for
    from isegui.ml.infer.onnx_model import OnnxPredictor
    model = tiny_model(tmp_path / "m.onnx")
    predictor = OnnxPredictor(model)
    for shape in ((1, 65535, 3), (65535, 1, 3), (1, 1, 3)):
        predictor.predict([np.full(shape, 200, np.uint8)])
    folder = tmp_path / "in"
    folder.mkdir()
    save_image(folder / "strip.png", np.full((1, 65535, 3), 200, np.uint8))
    watcher = watcher_for(folder, model, settle_s=0.0)
    watcher.say = lambda _: None
    assert watcher.run(once=True) == 1
    (row,) = _rows(folder / "results.csv")
    assert row["file"] == "strip.png" and not row["reasons"].startswith("not inspected")


def test_labels_outside_the_classes_and_nan_boxes_are_left_out_never_wrapped(tmp_path):
    from isegui.ml.infer.onnx_model import OnnxPredictor
    nan = float("nan")
    model = tiny_model(tmp_path / "m.onnx", boxes=[(1, 1, 9, 9), (2, 2, 10, 10),
                                                   (3, 3, 11, 11), (nan, 0, 8, 8),
                                                   (4, 4, 12, 12)],
                       labels=[0, 3, 2, 1, 1], scores=[0.9, 0.9, 0.8, 0.9, nan])
    (found,) = OnnxPredictor(model, threshold=0.0).predict([np.zeros((32, 32, 3), np.uint8)])
    assert [(d.class_index, d.class_name, d.score) for d in found] == [
        (2, "scratch", pytest.approx(0.8))]


@pytest.mark.parametrize("change, words", [
    ({"outputs": {"masks": None}}, "the model has no output 'masks'"),
    ({"outputs": {"scores": None, "labels": None}}, "no output 'labels', 'scores'"),
    ({"inputs": {"image": [1, 3, 32, 32], "secret": [1]}},
     "needs inputs isegui does not give: 'secret'"),
    ({"inputs": {"picture": [1, 3, 32, 32]}}, 'has no input "image"'),
    ({"inputs": {"image": [1, 3, 64, 48]}}, 'its input "image" is [1, 3, 64, 48], its metadata '
                                           "says [1, 3, 32, 32]"),
    ({"meta": False}, "not an isegui export (no isegui metadata)"),
    ({"meta": "{not json"}, "its isegui metadata: not valid JSON"),
    ({"meta": "[1, 2]"}, "its isegui metadata: must be a JSON object"),
    ({"meta": {"width": "32"}}, "its metadata's 'width': must be a whole number of pixels"),
    ({"meta": {"height": 10**400}}, "its metadata's 'height': must be a whole number"),
    ({"meta": {"classes": []}}, "its metadata's 'classes': must be a list of 1 to"),
    ({"meta": {"classes": ["pill", 3]}}, "a class name must be non-empty text, not 3"),
    ({"meta": {"classes": ["pill", "pill"]}}, "a class is named twice"),
    ({"meta": {"mean": [0.5, "x", 0.5]}}, "its metadata's 'mean': must be 3 numbers"),
    ({"meta": {"mm_per_px": -1}}, "'mm_per_px': must be a number of mm per pixel above 0"),
    ({"meta": {"working_scale": {"mode": "sideways"}}}, "'working_scale': working scale: "
                                                        "unknown mode 'sideways'"),
    ({"meta": {"working_scale": {"mode": "tiles", "size": 64}}},
     "'working_scale': tiles of 64 px do not fit the model's 32 x 32 px input"),
    ({"meta": {"rules": [1]}}, "'rules': must be an object"),
    ({"outputs": {"boxes": np.zeros((1, 5), np.float32)}},
     "outputs of shapes the predictor cannot use: boxes (1, 5) (on a blank frame, when loaded)"),
    ({"outputs": {"masks": np.zeros((1, 14, 14), np.float32)}},
     "masks (1, 14, 14)"),
])
def test_a_model_that_does_not_fit_is_refused_in_one_line_before_the_watch(tmp_path, change,
                                                                            words):
    from isegui.core.errors import IseguiError
    from isegui.ml.infer.line_watch import watcher_for
    model = tiny_model(tmp_path / "m.onnx", **change)
    with pytest.raises(IseguiError) as caught:
        watcher_for(tmp_path, model)
    message = str(caught.value)
    assert message.startswith(f"{model}: ") and words in message, message
    assert len(message.splitlines()) == 1


def test_a_part_with_a_long_name_is_moved_to_another_drive(tmp_path, monkeypatch):
    """Across drives a part is copied first under a hidden name: for a name near the 255-byte
    limit (serial, recipe, time stamp) that name was too long, and the part stayed."""
    import errno

    from isegui.ml.infer import line_watch
    folder, done = tmp_path / "in", tmp_path / "done"
    name = "SN0123456789_" + "x" * 230 + ".png"  # 247 bytes: a valid name
    save_image(folder / name, _part(1))
    real_replace = os.replace

    def across_drives(src, dst):
        if os.path.dirname(dst) == str(done):
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(src), None, str(dst))
        return real_replace(src, dst)
    monkeypatch.setattr(line_watch.os, "replace", across_drives)
    watcher, _ = _watcher(folder, tmp_path / "results.csv", move_to=done)
    assert watcher.run(once=True) == 1
    assert not (folder / name).exists() and [p.name for p in done.iterdir()] == [name]


def _replace_with_a_new_part(path, pills, after_ns=0):
    """What a camera writing each part as part.png does: write another file, rename it over
    the name; its change time after `after_ns` (a file system's clock ticks coarsely)."""
    while True:
        save_image(path.with_name("next.tmp.png"), _part(pills))
        os.replace(path.with_name("next.tmp.png"), path)
        if os.stat(path).st_ctime_ns > after_ns:
            return
        time.sleep(0.01)


def test_a_new_part_under_a_name_already_judged_is_judged_again(tmp_path):
    folder = tmp_path / "in"
    save_image(folder / "part.png", _part(1))
    watcher, _ = _watcher(folder, tmp_path / "results.csv")
    assert watcher.run(once=True) == 1
    assert watcher.run(once=True) == 0  # the same file: judged once
    _replace_with_a_new_part(folder / "part.png", 3)
    assert watcher.run(once=True) == 1
    assert watcher.run(once=True) == 0
    assert [(r["file"], r["count_pill"]) for r in _rows(tmp_path / "results.csv")] == [
        ("part.png", "1"), ("part.png", "3")]


def test_after_a_restart_a_part_written_under_a_judged_name_since_is_judged(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "results.csv"
    save_image(folder / "part.png", _part(1))
    save_image(folder / "kept.png", _part(2))
    watcher, _ = _watcher(folder, out)
    assert watcher.run(once=True) == 2
    stopped = max(os.stat(folder / n).st_ctime_ns for n in ("part.png", "kept.png"))
    os.utime(out, ns=(stopped, stopped))  # the watch stopped right after those rows
    again, said = _watcher(folder, out)  # a restart: nothing changed, nothing judged
    assert again.run(once=True) == 0 and "2 images inspected before" in said[0]
    _replace_with_a_new_part(folder / "part.png", 3, after_ns=stopped)
    os.utime(out, ns=(stopped, stopped))
    again, _ = _watcher(folder, out)
    assert again.run(once=True) == 1
    assert [(r["file"], r["count_pill"]) for r in _rows(out)][-1] == ("part.png", "3")


def test_after_a_restart_a_part_moved_in_with_old_times_is_judged_by_which_file_it_is(
        tmp_path, monkeypatch):
    """Results on another drive (no clock to compare with) and a part moved in keeping its
    times, older than the results' (Windows keeps even the creation time): the file judged
    under each name is kept beside the results (RESULTS.judged), not guessed from times."""
    from isegui.ml.infer import line_watch
    folder, out = tmp_path / "in", tmp_path / "results.csv"
    save_image(folder / "part.png", _part(1))
    save_image(folder / "kept.png", _part(2))
    watcher, _ = _watcher(folder, out)
    assert watcher.run(once=True) == 2
    assert (tmp_path / "results.csv.judged").is_file()
    monkeypatch.setattr(line_watch, "written_until", lambda results, folder: None)
    again, _ = _watcher(folder, out)
    assert again.run(once=True) == 0  # the same files: nothing judged
    old = os.stat(folder / "part.png").st_mtime_ns - 10**9
    save_image(tmp_path / "elsewhere.png", _part(3))
    os.utime(tmp_path / "elsewhere.png", ns=(old, old))
    os.replace(tmp_path / "elsewhere.png", folder / "part.png")
    with open(tmp_path / "results.csv.judged", "ab") as judged:
        judged.write(b"x" * 10_000 + b"\n{broken\n")  # damaged lines are skipped
    again, _ = _watcher(folder, out)
    assert again.run(once=True) == 1
    assert [(r["file"], r["count_pill"]) for r in _rows(out)][-1] == ("part.png", "3")


@pytest.mark.skipif(os.name == "nt", reason="symlinks need admin rights")
def test_what_the_watch_cannot_judge_is_named_once_or_gets_an_ng_row(tmp_path, caplog):
    """A date folder a camera writes into, a folder named like an image: named once (not at
    every look); a link to a share that is down: NG unreadable, like any part not read."""
    folder = tmp_path / "in"
    save_image(folder / "ok.png", _part(1))
    save_image(folder / "2026-12-07" / "part-0001.png", _part(1))
    (folder / "part-0002.png").symlink_to(tmp_path / "share-that-is-down" / "part-0002.png")
    (folder / "part-0003.png").mkdir()
    watcher, _ = _watcher(folder, tmp_path / "results.csv")
    with caplog.at_level("WARNING", logger="isegui"):
        assert watcher.run(once=True) == 2
        assert watcher.run(once=True) == 0
    rows = {r["file"]: r for r in _rows(tmp_path / "results.csv")}
    assert rows.keys() == {"ok.png", "part-0002.png"}
    assert rows["part-0002.png"]["verdict"] == "NG"
    assert rows["part-0002.png"]["reasons"].startswith("unreadable: a link to a missing file")
    named = [r.getMessage() for r in caplog.records if "not watched" in r.getMessage()]
    assert sorted(line.split(":")[0] for line in named) == ["2026-12-07", "part-0003.png"]
