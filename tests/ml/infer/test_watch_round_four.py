"""The line, the attacker's fourth try: settings that would make the watch inspect its own
output for ever or never settle a file are refused before `ready`; two NG parts never share an
overlay; a part with thousands of objects does not stop a restart; a share that fails for a
moment, or a FIFO swapped in for a file, does not stop or hang the watch; a FIFO or device
given as a rules file or a model is refused at once."""

from __future__ import annotations

import json
import os
import sys
import threading

import pytest

from isegui.core.images import save_image
from isegui.core.line_rules import Rules
from isegui.ml.infer import line_watch, watched_files
from isegui.ml.infer.line_watch import Watcher, WatchSettings
from tests.ml.infer.test_line_watch import BrightThings, _part, _rows, tiny_model
from tests.ml.infer.test_watch_hostile import _folder

WAIT = 10


def _finishes(call):
    """call() within WAIT seconds: its value, or its exception raised here."""
    outcome: list = []

    def run():
        try:
            outcome.append((call(), None))
        except BaseException as exc:  # re-raised in the test's own thread
            outcome.append((None, exc))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), "still waiting"
    value, error = outcome[0]
    if error is not None:
        raise error
    return value


@pytest.mark.parametrize("setting", ["move_to", "overlays"])
def test_writing_into_the_watched_folder_is_refused(tmp_path, setting):
    folder = _folder(tmp_path)
    with pytest.raises(ValueError, match="the folder watched"):
        WatchSettings(folder, tmp_path / "r.csv", **{setting: folder / "." })


@pytest.mark.parametrize("field, value", [("settle_s", float("nan")), ("settle_s", float("inf")),
                                          ("give_up_s", -1.0), ("poll_s", 1e9),
                                          ("mm_per_px", 1e308), ("mm_per_px", float("nan"))])
def test_settings_a_watch_cannot_work_with_are_refused(tmp_path, field, value):
    with pytest.raises(ValueError, match=field.removesuffix("_s").replace("_", "-")):
        WatchSettings(tmp_path, tmp_path / "r.csv", **{field: value})


def test_two_ng_parts_of_one_name_keep_an_overlay_each(tmp_path):
    folder = _folder(tmp_path, **{"a.png": _part(3)})
    save_image(folder / "a.tif", _part(3))
    overlays = tmp_path / "ng"
    rules = Rules.from_json({"isegui_rules": 1, "classes": {"pill": {"count": {"max": 1}}}},
                            "rules.json")
    watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv", overlays=overlays,
                                    settle_s=0.0), BrightThings(), rules, lambda _: None)
    assert watcher.run(once=True) == 2
    assert sorted(p.name for p in overlays.iterdir()) == ["a_NG-2.png", "a_NG.png"]


def test_a_part_with_thousands_of_objects_does_not_stop_a_restart(tmp_path):
    class Thousands(BrightThings):
        def predict(self, images, batch_size=4):
            found = super().predict(images, batch_size)
            return [dets * 1500 for dets in found]
    folder = _folder(tmp_path, **{"many.png": _part(2)})
    out = tmp_path / "r.csv"
    Watcher(WatchSettings(folder, out, settle_s=0.0), Thousands(), None,
            lambda _: None).run(once=True)
    (row,) = _rows(out)
    assert row["count_pill"] == "3000" and len(row["sizes"]) <= line_watch.MAX_SIZES_CHARS
    json.loads(row["sizes"])
    restarted = Watcher(WatchSettings(folder, out, settle_s=0.0), Thousands(), None,
                        lambda _: None)
    assert restarted.run(once=True) == 0  # read back: inspected before, not again


def test_a_share_failing_for_a_moment_does_not_stop_the_watch(tmp_path, monkeypatch):
    folder = _folder(tmp_path, **{"a.png": _part(1)})
    watcher = Watcher(WatchSettings(folder, tmp_path / "r.csv", settle_s=0.0),
                      BrightThings(), None, lambda _: None)
    real_step, failures = watcher.step, [OSError(5, "Input/output error")]

    def flaky(now, wait=False):
        if failures:
            raise failures.pop()
        return real_step(now, wait)
    monkeypatch.setattr(watcher, "step", flaky)
    assert watcher.run(once=True) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_a_fifo_swapped_in_is_never_waited_on(tmp_path):
    fifo = tmp_path / "b.png"
    os.mkfifo(fifo)
    assert _finishes(lambda: watched_files.bytes_digest(fifo)) == -1


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_a_fifo_or_device_as_rules_or_model_is_refused_at_once(tmp_path):
    from isegui.core.errors import IseguiError
    from isegui.core.line_rules import load_rules
    from isegui.ml.infer.onnx_model import OnnxPredictor
    fifo = tmp_path / "rules.json"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(IseguiError):
            _finishes(lambda p=path: load_rules(p))
    model = tmp_path / "m.onnx"
    os.mkfifo(model)
    with pytest.raises(IseguiError):
        _finishes(lambda: OnnxPredictor(model))
    OnnxPredictor(tiny_model(tmp_path / "real.onnx"))  # a plain file still loads
