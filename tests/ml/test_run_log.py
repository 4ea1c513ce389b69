"""A run's events file read back: whole lines in order, a part done again replaces the old."""

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
