"""The training protocol, defined once (ml.run_protocol): what the training process writes is what
the window reads back, field for field; slips are caught where they are made."""

import io

import pytest

from isegui.ml.run_protocol import (EVENTS, Done, Epoch, JsonLinesReporter, ProtocolError,
                                RecordingReporter, Start, Step, make_event, parse_line, to_line)

SAMPLES = {
    "note": {"message": "validating on 6 images…", "phase": True},
    "start": {"run_id": 3, "model": "fast", "size": 512, "device": "cpu", "train_images": 48,
              "validation": "the val split (12 images)", "init": {"source": "random"},
              "working_scale": {"mode": "tiles", "size": 512, "scale": 1.0}, "processes": 1,
              "classes": ["pill", "washer"], "val_images": 12, "steps_per_epoch": 24,
              "epochs": None, "minutes": 5.0, "resumed_at_epoch": 2, "resumed_at_step": 48,
              "notes": ["a note"], "advice": [{"level": "info", "title": "tiles"}]},
    "step": {"epoch": 1, "batch": 3, "batches": 24, "step": 3, "progress": 0.0125,
             "eta_s": 291.4, "elapsed_s": 3.6, "losses": {"loss": 2.31, "loss_mask": 0.69},
             "lr": 0.002, "images_per_s": 1.7},
    "epoch": {"epoch": 1, "step": 24, "elapsed_s": 30.1, "loss": 1.2, "mask_map": 0.125,
              "improved": True, "cancelled": False},
    "checkpoint": {"last": "/p/runs/0003/last.pt", "best": None},
    "done": {"run_id": 3, "status": "finished", "epochs": 10, "steps": 240,
             "best": {"mask_map": 0.41}, "checkpoint": "/p/runs/0003/best.pt", "seconds": 300.2,
             "active": True, "active_run_id": 3, "active_reason": "the first run with a model"},
    "error": {"message": "no labeled instances in the train split.", "remedy": "Label some."},
}


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_reporter_line_parser_round_trip(kind):
    out = io.StringIO()
    JsonLinesReporter(out).event(kind, **SAMPLES[kind])
    (line,) = out.getvalue().splitlines()
    event = parse_line(line)
    assert event == make_event(kind, SAMPLES[kind])
    assert type(event) is EVENTS[kind]
    assert parse_line(to_line(event)) == event


def test_typed_fields_the_window_reads():
    start = parse_line(to_line(make_event("start", SAMPLES["start"])))
    assert isinstance(start, Start) and start.init["source"] == "random"
    assert start.working_scale["mode"] == "tiles" and start.resumed_at_step == 48
    step = make_event("step", SAMPLES["step"])
    assert isinstance(step, Step) and step.losses["loss"] == 2.31
    epoch = make_event("epoch", SAMPLES["epoch"])
    assert isinstance(epoch, Epoch) and epoch.metrics == {"elapsed_s": 30.1, "loss": 1.2,
                                                          "mask_map": 0.125}
    done = make_event("done", SAMPLES["done"])
    assert isinstance(done, Done) and done.best["mask_map"] == 0.41


def test_slips_are_caught_where_they_are_made():
    with pytest.raises(ProtocolError, match="unknown event"):
        RecordingReporter().event("stepp", step=1)
    with pytest.raises(ProtocolError, match="step event"):
        JsonLinesReporter(io.StringIO()).event("step", step=1)  # fields missing
    with pytest.raises(ProtocolError, match="note event"):
        RecordingReporter().event("note", text="the field is called message")


def test_what_is_not_an_event_is_left_aside():
    assert parse_line("Downloading nothing, ever") is None
    assert parse_line('{"event": "step"') is None  # a line cut short
    assert parse_line("[1, 2]") is None and parse_line('{"no": "event"}') is None
    assert parse_line('{"event": "telemetry", "x": 1}') is None  # a kind it does not know
    newer = parse_line('{"event": "note", "message": "hi", "colour": "red"}')
    assert newer == make_event("note", {"message": "hi"})  # a newer field is left aside
