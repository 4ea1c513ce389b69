"""The watch-folder runtime, fed as a line feeds it: images dropped into the folder, some
half-written or corrupt, a burst, a results file another program holds, a restart."""

import csv
import json
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
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return list(csv.DictReader(path.read_text().splitlines()))


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
    import builtins
    out = tmp_path / "results.csv"
    results = ResultsFile(out, ["time", "file", "verdict"])
    real_open = builtins.open
    held = {"on": True}

    def excel_holds(path, *args, **kwargs):  # Windows: a sharing violation
        if held["on"] and str(path) == str(out):
            raise PermissionError(13, "The process cannot access the file", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", excel_holds)
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
