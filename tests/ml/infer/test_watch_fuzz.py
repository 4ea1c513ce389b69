"""The line fed what a hostile folder, rules file or model can hold: whatever is thrown, the
watch writes one row per image file, or refuses in one line when it is loaded; never a
traceback. (The readers' fuzzers, in this style: tests/core/test_malformed.py.)"""

import json
import os

import cv2
import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from isegui.core.errors import IseguiError
from isegui.core.images import IMAGE_SUFFIXES, save_image
from isegui.core.line_rules import Rules, RulesError, load_rules
from isegui.ml.infer.line_watch import ResultsFile, Watcher, WatchSettings, watcher_for
from tests.ml.infer.test_line_watch import BrightThings, _part, tiny_model

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _one_line(error: Exception) -> None:
    message = str(error)
    assert len(message.splitlines()) == 1, message
    message.encode("utf-8")  # it prints, whatever the input held


# --- file names and contents


def _contents():
    good = cv2.imencode(".png", _part(2))[1].tobytes()
    jpeg = cv2.imencode(".jpg", _part(2))[1].tobytes()
    return st.sampled_from([good, jpeg, jpeg[:len(jpeg) // 2], b"", b"\x00" * 64,
                            b"\xff\xd8\xff\xe0 torn", good[:30]]) | st.binary(max_size=64)


NAME_BYTES = st.binary(min_size=1, max_size=60).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b".."))
NAMES = st.text(min_size=1, max_size=40).map(lambda t: os.fsencode(t)[:60]) \
    .filter(lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")) | NAME_BYTES


@FUZZ
@given(files=st.lists(st.tuples(NAMES, st.sampled_from(IMAGE_SUFFIXES), _contents()),
                      min_size=1, max_size=5, unique_by=lambda f: f[0] + f[1].encode()),
       jsonl=st.booleans())
def test_fuzz_file_names_and_contents(files, jsonl, tmp_path_factory):
    """Any name a file system holds (not UTF-8, line breaks, formula starts), any bytes: one
    row each, and a restart knows every one of them again."""
    folder = tmp_path_factory.mktemp("watch") / "in"
    folder.mkdir()
    for stem, suffix, data in files:
        (folder / os.fsdecode(stem + suffix.encode())).write_bytes(data)
    out = folder.parent / ("results.jsonl" if jsonl else "results.csv")
    said: list[str] = []
    watcher = Watcher(WatchSettings(folder, out, settle_s=0.0), BrightThings(), None,
                      said.append)
    assert watcher.run(once=True) == len(files)
    assert len(ResultsFile(out, []).done_files()) == len(files)
    assert Watcher(WatchSettings(folder, out), BrightThings(), None,
                   said.append).run(once=True) == 0
    for line in said:
        line.encode("utf-8")


# --- rules files and model metadata: a valid one, or one with a hostile value somewhere

ODD_NAMES = st.sampled_from(["=pill", "pill\n", "a\u2028b", "\ud800", "\ufeffpill", ""])
SCALARS = (st.none() | st.booleans() | st.integers(-10**450, 10**450)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8) | ODD_NAMES)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


def _mutated(value, data):
    """`value` with at most one of its parts (or a key) replaced by anything JSON can hold."""
    if not data.draw(st.booleans(), label="mutate"):
        return value
    if isinstance(value, dict) and value and data.draw(st.booleans(), label="deeper"):
        key = data.draw(st.sampled_from(sorted(value)), label="key")
        if data.draw(st.booleans(), label="rename"):
            renamed = data.draw(st.text(max_size=6) | ODD_NAMES, label="new key")
            return {**{k: v for k, v in value.items() if k != key}, renamed: value[key]}
        return {**value, key: _mutated(value[key], data)}
    if isinstance(value, list) and value and data.draw(st.booleans(), label="deeper"):
        k = data.draw(st.integers(0, len(value) - 1), label="index")
        return [*value[:k], _mutated(value[k], data), *value[k + 1:]]
    return data.draw(JSON, label="hostile")


NUMBER = st.integers(0, 50) | st.floats(0, 500)
LIMIT = st.fixed_dictionaries({}, optional={"min": NUMBER, "max": NUMBER}).filter(
    lambda d: d.get("min", 0) <= d.get("max", 1e9))
COUNT = st.fixed_dictionaries({}, optional={"min": st.integers(0, 3),
                                            "max": st.integers(3, 9)})
CLASS = st.fixed_dictionaries({}, optional={"count": COUNT, "area": LIMIT, "length": LIMIT,
                                            "width": LIMIT, "equivalent_diameter": LIMIT,
                                            "min_score": st.floats(0, 1)})
RULES = st.fixed_dictionaries(
    {"isegui_rules": st.just(1)},
    optional={"units": st.just("px"), "min_score": st.floats(0, 1),
              "classes": st.dictionaries(st.sampled_from(["pill", "scratch"]), CLASS,
                                         max_size=2),
              "defects": st.just(["scratch"])})


def _rules_text(data, ascii: bool) -> bytes:
    """JSON as a file holds it: escaped (a lone surrogate as \\ud800) or as UTF-8 (a lone
    surrogate as bytes that are not UTF-8)."""
    return json.dumps(data, ensure_ascii=ascii).encode("utf-8", "surrogatepass")


@FUZZ
@given(valid=RULES, bom=st.booleans(), ascii=st.booleans(), data=st.data())
def test_fuzz_rules_files(valid, bom, ascii, data, tmp_path_factory):
    """A rules file of any content: refused in one line naming the file, or judged by, with one
    row per image (rules naming a class the model lacks are refused at load)."""
    folder = tmp_path_factory.mktemp("rules")
    path = folder / "rules.json"
    raw = data.draw(st.none() | st.none() | st.binary(max_size=80), label="raw bytes")
    text = raw if raw is not None else _rules_text(_mutated(valid, data), ascii)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text)
    try:
        rules = load_rules(path)
    except RulesError as error:
        _one_line(error)
        assert str(error).startswith(f"{path}: ")
        event("refused when read")
        return
    assert Rules.from_json(rules.to_json(), "again") == rules
    (folder / "in").mkdir()
    save_image(folder / "in" / "part.png", _part(2))
    try:
        watcher = Watcher(WatchSettings(folder / "in", folder / "results.csv", settle_s=0.0),
                          BrightThings(), rules, lambda _: None)
    except RulesError as error:
        _one_line(error)
        event("refused by the watch")
        return
    event("judged")
    assert watcher.run(once=True) == 1
    (row,) = (folder / "results.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert "not inspected" not in row


FINITE_OR_NOT = st.floats(allow_nan=True, allow_infinity=True, width=32)
META = st.fixed_dictionaries({
    "width": st.just(32), "height": st.just(32),
    "classes": st.just(["pill", "scratch"]), "model_name": st.just("tiny"),
    "mean": st.lists(st.floats(0, 1), min_size=3, max_size=3),
    "working_scale": st.none() | st.just({"mode": "whole", "size": 32}) | st.just(
        {"mode": "tiles", "size": 32, "scale": 1.0, "blob_classes": [], "blob_areas": []}),
    "mm_per_px": st.none() | st.floats(0.001, 10), "rules": st.none()})


@FUZZ
@given(valid=META, n=st.integers(0, 3), data=st.data())
def test_fuzz_model_metadata_and_outputs(valid, n, data, tmp_path_factory):
    """A model whose metadata holds anything, giving any labels, scores and boxes: refused in
    one line when it is loaded, or one row per image."""
    folder = tmp_path_factory.mktemp("model")
    boxes = data.draw(st.lists(st.tuples(*[FINITE_OR_NOT] * 4), min_size=n, max_size=n))
    labels = data.draw(st.lists(st.integers(-3, 5), min_size=n, max_size=n))
    scores = data.draw(st.lists(FINITE_OR_NOT, min_size=n, max_size=n))
    meta = _mutated(valid, data)
    try:
        model = tiny_model(folder / "m.onnx", boxes=boxes, labels=labels, scores=scores,
                           meta=json.dumps(meta).encode("utf-8", "surrogatepass").decode(
                               "utf-8", "replace"))
    except (ValueError, OverflowError):  # json cannot write it (a NaN key): no such model
        event("not written")
        return
    (folder / "in").mkdir()
    save_image(folder / "in" / "part.png", _part(2))
    save_image(folder / "in" / "strip.png", np.full((1, 300, 3), 200, np.uint8))
    try:
        watcher = watcher_for(folder / "in", model, settle_s=0.0)
    except IseguiError as error:
        _one_line(error)
        event("refused at load")
        return
    event("watched")
    watcher.say = lambda _: None
    assert watcher.run(once=True) == 2
    rows = (folder / "in" / "results.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(rows) == 2 and not any("not inspected" in row or "NaN" in row for row in rows)
