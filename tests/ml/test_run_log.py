"""A run's events file read back: whole lines in order, a part done again replaces the old."""

import os
import sys
import threading

import pytest

from isegui.ml.run_log import RunLog, history_events, read_run_log


def test_events_read_back_and_a_repeated_part_replaces_the_old(tmp_path):
    log = RunLog(tmp_path)
    for step in (1, 2, 3, 4):
        log.append("step", {"step": step, "losses": {"loss": 1.0 / step}})
    log.append("epoch", {"epoch": 1, "mask_map": 0.1})
    log.append("checkpoint", {"last": "x"})  # not a curve: not kept
    log.close()
    log = RunLog(tmp_path)  # resumed from step 2 after a crash: steps 3, 4 are done again
    log.append("step", {"step": 3, "losses": {"loss": 0.9}})
    log.close()
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('{"event": "step", "step": 4, "los')  # cut off mid-write
    events = read_run_log(tmp_path)
    assert [(k, f.get("step", f.get("epoch"))) for k, f in events] == [
        ("step", 1), ("step", 2), ("epoch", 1), ("step", 3)]
    assert events[-1][1]["losses"]["loss"] == 0.9
    assert read_run_log(tmp_path / "missing") == []


def test_older_runs_draw_from_their_history():
    events = history_events([{"epoch": 1, "step": 3, "loss": 2.0, "mask_map": 0.1}])
    assert events == [("step", {"step": 3, "epoch": 1, "losses": {"loss": 2.0}}),
                      ("epoch", {"epoch": 1, "step": 3, "loss": 2.0, "mask_map": 0.1})]


def test_lines_that_are_not_utf8_or_nested_too_deep_are_skipped(tmp_path):
    """The Training panel reads this on the window's thread: a FIFO under the name (a project
    folder copied from elsewhere) kept it waiting for ever; a byte that is not UTF-8 raised
    UnicodeDecodeError, and a line nested 100,000 deep RecursionError. Such lines are skipped
    as cut ones are; a FIFO gives no curves (below)."""
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "events.jsonl").write_bytes(
        b'{"event": "step", "step": 1, "losses": {"loss": 1.0}}\n\xff\xfe\n'
        + deep.encode() + b'\n{"event": "epoch", "epoch": 1}\n')
    events = read_run_log(tmp_path)
    assert [(k, f.get("step", f.get("epoch"))) for k, f in events] == [("step", 1), ("epoch", 1)]


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_a_fifo_events_file_gives_no_curves_at_once(tmp_path):
    os.mkfifo(tmp_path / "events.jsonl")
    found: list = []
    reader = threading.Thread(target=lambda: found.append(read_run_log(tmp_path)), daemon=True)
    reader.start()
    reader.join(10)  # before: open() waited for a writer for ever
    assert not reader.is_alive() and found == [[]]
