import json
from pathlib import Path

import pytest
from shapely.geometry import box

from isegui.core.errors import InputFileError
from isegui.core.line_rules import Rules, RulesError, load_rules, rules_from_measurements
from isegui.core.measure import measure


def part(length=40.0, width=10.0, x=0.0):
    return measure(box(x, 0, x + length, width))


RULES = {
    "isegui_rules": 1, "units": "px", "min_score": 0.5,
    "classes": {
        "pill": {"count": {"min": 3, "max": 3}, "length": {"min": 35, "max": 45},
                 "area": {"max": 500}, "min_score": 0.6},
        "chip": {"count": {"max": 0}},
    },
    "defects": ["scratch"],
}


def rules(**changes):
    return Rules.from_json({**RULES, **changes}, "rules.json")


def pills(n=3, score=0.9, **size):
    return [("pill", score, part(**size)) for _ in range(n)]


def test_ok_part():
    verdict = rules().evaluate(pills() + [("washer", 0.8, part(20, 20))])
    assert verdict.ok and verdict.label == "OK" and verdict.reasons == []
    # the washer has no rules: counted and measured, no verdict
    assert verdict.counts == {"pill": 3, "chip": 0, "scratch": 0, "washer": 1}
    assert [s["instance"] for s in verdict.sizes["pill"]] == [1, 2, 3]
    assert verdict.sizes["washer"][0]["length"] == pytest.approx(20)
    assert verdict.sizes["pill"][0]["area"] == pytest.approx(400) and verdict.units == "px"


@pytest.mark.parametrize("detections, reason", [
    (pills(2), "pill: count 2 < min 3"),
    (pills(4), "pill: count 4 > max 3"),
    (pills(3) + [("chip", 0.7, part())], "chip: count 1 > max 0"),
    (pills(2) + [("pill", 0.9, part(50))], "pill #3: length 50.0 px > max 45.0 px"),
    (pills(2) + [("pill", 0.9, part(30))], "pill #3: length 30.0 px < min 35.0 px"),
    (pills(2) + [("pill", 0.9, part(45.04))], "pill #3: length 45.04 px > max 45.00 px"),
    (pills(2) + [("pill", 0.9, part(44, 12))], "pill #3: area 528.0 px² > max 500.0 px²"),
    (pills(3) + [("scratch", 0.87, part(5, 1))], "scratch #4: defect (score 0.87)"),
    # below the class's own min_score (0.6): not counted, its size not checked
    (pills(2) + [("pill", 0.55, part(80))], "pill: count 2 < min 3"),
])
def test_each_ng_reason(detections, reason):
    verdict = rules().evaluate(detections)
    assert not verdict.ok and verdict.label == "NG"
    assert verdict.reasons == [reason]


def test_scores_below_the_minimum_are_ignored():
    # a scratch under the file's min_score is no defect; a pill at 0.55 is not counted
    verdict = rules().evaluate(pills() + [("scratch", 0.4, part()), ("pill", 0.55, part(80))])
    assert verdict.ok and verdict.counts["scratch"] == 0 and verdict.counts["pill"] == 3
    assert len(verdict.sizes["pill"]) == 3


def test_sizes_in_mm():
    mm = rules(units="mm", classes={"pill": {"length": {"max": 4.5}, "area": {"min": 3.0}}})
    verdict = mm.evaluate(pills(1) + [("pill", 0.9, part(50))], mm_per_px=0.1)
    assert verdict.reasons == ["pill #2: length 5.0 mm > max 4.5 mm"]
    assert verdict.units == "mm"
    assert verdict.sizes["pill"][0]["length"] == pytest.approx(4.0)
    assert verdict.sizes["pill"][0]["area"] == pytest.approx(4.0)  # 400 px² at 0.01 mm²/px²
    assert mm.evaluate(pills(1, length=20), mm_per_px=0.1).reasons == [
        "pill #1: area 2.0 mm² < min 3.0 mm²"]


@pytest.mark.parametrize("scale", [None, 0.0, -1.0, float("nan")])
def test_mm_rules_without_calibration_are_refused(scale):
    mm = rules(units="mm")
    with pytest.raises(RulesError, match="rules in mm need a calibrated model: mm per pixel"):
        mm.evaluate(pills(), mm_per_px=scale)
    with pytest.raises(RulesError, match="^rules.json: "):
        mm.check_calibration(scale)
    rules().check_calibration(None)  # px rules need none


def with_class(entry):
    return {**RULES, "classes": {"pill": entry}}


@pytest.mark.parametrize("data, problem", [
    (with_class({"lenght": {"max": 3}}),
     'classes.pill: unknown key "lenght" (allowed: count, area, length, width, '
     "equivalent_diameter, min_score)"),
    ({**RULES, "unit": "mm"}, 'unknown key "unit" (allowed: isegui_rules, units,'),
    (with_class({"length": {"min": 3, "maximum": 4}}), 'unknown key "maximum"'),
    (with_class({"length": {"min": 5, "max": 4}}), "classes.pill.length: min 5 > max 4"),
    (with_class({"count": {"min": 5, "max": 4}}), "classes.pill.count: min 5 > max 4"),
    (with_class({"width": {"min": -1}}), "classes.pill.width.min: must not be negative (-1)"),
    (with_class({"width": {"min": float("nan")}}), "width.min: must be a finite number, not nan"),
    (with_class({"area": {"max": "12"}}), "classes.pill.area.max: must be a number, not a string"),
    (with_class({"area": {"max": True}}), "classes.pill.area.max: must be a number, not true"),
    (with_class({"count": {"min": 2.5}}), "classes.pill.count.min: must be a whole number"),
    (with_class({"count": 3}), "classes.pill.count: must be an object {...}, not a number"),
    (with_class([1]), "classes.pill: must be an object {...}, not a list"),
    (with_class({"min_score": 1.5}), "classes.pill.min_score: a score is between 0 and 1"),
    ({**RULES, "isegui_rules": 2}, "isegui_rules: version 2 is not supported"),
    ({**RULES, "isegui_rules": True}, "isegui_rules: version true is not supported"),
    ({"units": "px"}, 'not an isegui rules file: no "isegui_rules" key'),
    ({**RULES, "units": "inch"}, 'units: must be "px" or "mm", not "inch"'),
    ({**RULES, "classes": []}, "classes: must be an object {...}, not a list"),
    ({**RULES, "classes": None}, "classes: must be an object {...}, not null"),
    ({**RULES, "defects": {}}, "defects: must be a list of class names, not an object"),
    ({**RULES, "defects": "scratch"}, "defects: must be a list of class names, not a string"),
    ({**RULES, "defects": ["scratch", ""]}, "defects[1]: empty class name"),
    ({**RULES, "defects": ["scratch", 3]}, "defects[1]: a class name must be a string"),
    ({**RULES, "defects": ["a", "a"]}, 'defects[1]: "a" is listed twice'),
    ({**RULES, "classes": {" ": {}}}, "classes: empty class name"),
    ({**RULES, "defects": ["pill"]}, 'classes.pill.count.min: "pill" is in "defects"'),
    ([RULES], "must be an object {...}, not a list"),
])
def test_validation_errors_name_the_file_and_the_key(data, problem):
    with pytest.raises(RulesError) as caught:
        Rules.from_json(data, "rules.json")
    message = str(caught.value)
    assert message.startswith("rules.json: ") and problem in message, message
    assert "\n" not in message
    assert isinstance(caught.value, InputFileError) and caught.value.path == "rules.json"


@pytest.mark.parametrize("text, problem", [
    ('{"isegui_rules": 1, "min_score": NaN}', "NaN is not allowed: numbers must be finite"),
    ('{"isegui_rules": 1, "classes": {"pill": {"area": {"max": Infinity}}}}',
     "Infinity is not allowed"),
    ('{"isegui_rules": 1, "classes": {"pill": {"area": {"min": -Infinity}}}}',
     "-Infinity is not allowed"),
    ('{"isegui_rules": 1, "classes": {"pill": {"area": {"max": 1e999}}}}',
     "classes.pill.area.max: must be a finite number, not inf"),
    ('{"isegui_rules": 1, "classes": {"pill": {}, "pill": {}}}', 'key "pill" appears twice'),
    ('{"isegui_rules": 1,}', "not valid JSON: Expecting property name enclosed in double quotes"
     " (line 1, column 20)"),
    ("", "not valid JSON: Expecting value (line 1, column 1)"),
])
def test_bad_json_text(text, problem):
    with pytest.raises(RulesError) as caught:
        Rules.from_json(text, "line/rules.json")
    assert str(caught.value).startswith("line/rules.json: not valid JSON: ") or \
        str(caught.value).startswith("line/rules.json: classes.")
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_load_rules(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES), encoding="utf-8")
    assert load_rules(path) == rules() and load_rules(path).source == str(path)
    path.write_text(json.dumps(with_class({"lenght": {}})), encoding="utf-8")
    with pytest.raises(RulesError, match=f"^{path}: classes.pill: unknown key"):
        load_rules(path)
    with pytest.raises(RulesError, match="missing.json: cannot read the rules"):
        load_rules(tmp_path / "missing.json")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RulesError, match="not a text file"):
        load_rules(path)


def test_round_trip():
    original = rules()
    text = original.to_json()
    again = Rules.from_json(text, "again.json")
    assert again == original and again.to_json() == text
    assert json.loads(text) == RULES  # nothing added, nothing lost
    example = Rules.example(["pill", "chip"])
    assert Rules.from_json(example.to_json(), "x") == example
    assert example.evaluate([("pill", 0.9, part())]).reasons == ["chip: count 0 < min 1"]
    # defaults: px, min_score 0.5, no classes, no defects
    assert Rules.from_json('{"isegui_rules": 1}', "x") == Rules()


def test_rules_from_measurements_pass_their_parts_and_fail_a_longer_one():
    good = [[part(40 + d, 10 + d / 4, x=50 * k) for k in range(3)] for d in (-1.0, 0.0, 1.5)]
    proposed = rules_from_measurements({"pill": good, "chip": [[], [], []]}, margin=0.1)
    text = proposed.to_json()
    reloaded = Rules.from_json(text, "proposed.json")  # a valid file
    limits = json.loads(text)["classes"]["pill"]
    assert limits["count"] == {"min": 3, "max": 3} and json.loads(text)["classes"]["chip"] == {
        "count": {"min": 0, "max": 0}}
    assert limits["length"]["min"] <= 39 * 0.9 + 1e-9 and limits["length"]["max"] >= 41.5 * 1.1
    for image in good:
        verdict = reloaded.evaluate([("pill", 0.9, m) for m in image])
        assert verdict.ok, verdict.reasons
    longer = good[1][:2] + [part(40 * 1.3, 10)]
    verdict = reloaded.evaluate([("pill", 0.9, m) for m in longer])
    assert not verdict.ok and "pill #3: length 52.0 px > max 45.7 px" in verdict.reasons


def test_rules_from_measurements_in_mm():
    good = [[part(40)], [part(42)]]
    proposed = rules_from_measurements({"pill": good}, units="mm", mm_per_px=0.05)
    assert proposed.units == "mm"
    assert proposed.evaluate([("pill", 0.9, part(41))], mm_per_px=0.05).ok
    assert not proposed.evaluate([("pill", 0.9, part(52))], mm_per_px=0.05).ok
    with pytest.raises(RulesError, match="rules in mm need a calibrated model"):
        rules_from_measurements({"pill": good}, units="mm")


def test_the_documented_example_is_valid():
    text = (Path(__file__).parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    example = Rules.from_json(text.split("```json\n")[1].split("```")[0], "docs/rules.md")
    assert example.units == "mm" and example.defects == ("scratch", "crack")
    assert example.classes["pill"].count.min == 10 and example.threshold("pill") == 0.6


# --- hostile rules files (issue 26): one line each, never a traceback or a hang


@pytest.mark.parametrize("digits", [301, 401, 4000])
def test_a_number_too_large_for_a_float_is_refused_naming_the_key(digits):
    huge = "1" + "0" * (digits - 1)
    text = '{"isegui_rules": 1, "classes": {"pill": {"area": {"max": ' + huge + "}}}}"
    with pytest.raises(RulesError) as caught:
        Rules.from_json(text, "rules.json")
    message = str(caught.value)
    assert message == ("rules.json: classes.pill.area.max: too large a number (more than 300 "
                       "digits)")


def test_a_file_from_windows_notepad_with_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "rules.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(RULES).encode("utf-8"))
    assert load_rules(path) == rules()
    assert Rules.from_json("\ufeff" + json.dumps(RULES), "pasted") == rules()


def test_duplicate_checks_stay_fast_on_a_huge_file():
    """20,000 classes and 20,000 defects: quadratic checks took 23 s here, these take 0.2 s."""
    import time
    n = 20_000
    text = json.dumps({"isegui_rules": 1, "classes": {f"c{k}": {} for k in range(n)},
                       "defects": [f"d{k}" for k in range(n)]})
    start = time.perf_counter()
    parsed = Rules.from_json(text, "big.json")
    assert len(parsed.classes) == n and len(parsed.defects) == n
    assert time.perf_counter() - start < 5
    with pytest.raises(RulesError, match='defects\\[20000\\]: "d7" is listed twice'):
        Rules.from_json({"isegui_rules": 1, "defects": [*parsed.defects, "d7"]}, "big.json")
    twice = ", ".join(f'"c{k}": {{}}' for k in [*range(n), 3])
    with pytest.raises(RulesError, match='key "c3" appears twice'):
        Rules.from_json('{"isegui_rules": 1, "classes": {' + twice + "}}", "big.json")


@pytest.mark.parametrize("name", ["pill\nNG", "a\u2028b", "x\x85y", "\ud800"])
def test_a_name_with_a_line_break_or_a_lone_surrogate_is_quoted_on_one_line(name):
    for data in ({**RULES, "classes": {"pill": {name: {}}}},
                 {**RULES, "classes": {name: {"count": {"min": 2, "max": 1}}}},
                 {**RULES, "defects": [name, name]}):
        with pytest.raises(RulesError) as caught:
            Rules.from_json(data, "rules.json")
        message = str(caught.value)
        assert len(message.splitlines()) == 1, message
        message.encode("utf-8")  # printable, whatever the name holds


def test_rules_naming_a_class_the_model_lacks_are_refused_before_judging():
    with pytest.raises(RulesError) as caught:
        rules().check_classes(["pill", "scratch"])
    assert str(caught.value) == ('rules.json: classes.chip: the model has no class "chip" '
                                 "(its classes: pill, scratch)")
    with pytest.raises(RulesError, match=r'defects\[0\]: the model has no class "scratch"'):
        rules(classes={}).check_classes(["pill"])
    rules().check_classes(["pill", "chip", "scratch", "washer"])  # more classes are fine
