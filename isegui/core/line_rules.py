"""Line rules: is an inspected image OK or NG, and why, from its predicted instances.

A small JSON file (docs/rules.md): per class, count and size limits and a minimum score;
per image, "defect" classes of which any instance makes the image NG.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from isegui.core.one_line import is_text
from isegui.core.errors import InputFileError
from isegui.core.fileio import read_regular_text
from isegui.core.measure import Measurements, to_mm

VERSION = 1
MEASURES = ("area", "length", "width", "equivalent_diameter")
TOP_KEYS = ("isegui_rules", "units", "min_score", "classes", "defects")
CLASS_KEYS = ("count", *MEASURES, "min_score")
LIMIT_KEYS = ("min", "max")
UNITS = ("px", "mm")
DEFAULT_MIN_SCORE = 0.5
MAX_DIGITS = 300  # a whole number with more does not fit a float (about 1.8e308): refused
MAX_NUMBER = 10 ** MAX_DIGITS - 1
MAX_LISTED = 20  # class names listed in a message at most
BOM = "\ufeff"  # what Windows Notepad puts in front of a UTF-8 file

Detection = tuple[str, float, Measurements]  # class name, score, measurements in px


class RulesError(InputFileError):
    """A rules file that does not follow the format, or rules that cannot be applied."""


@dataclass(frozen=True)
class Limit:
    min: float | None = None
    max: float | None = None

    def broken(self, value: float) -> tuple[str, float] | None:
        """("< min", min) or ("> max", max) when value is out of the range, else None."""
        if self.min is not None and value < self.min:
            return "< min", self.min
        if self.max is not None and value > self.max:
            return "> max", self.max
        return None

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


@dataclass(frozen=True)
class ClassRules:
    count: Limit = Limit()  # whole numbers
    sizes: Mapping[str, Limit] = field(default_factory=dict)  # measure (MEASURES) -> limit
    min_score: float | None = None  # None: the file's


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]  # empty when OK
    counts: dict[str, int]  # instances at or above their score, per class
    sizes: dict[str, list[dict[str, float]]]  # per class: instance, score and MEASURES
    units: str = "px"  # of sizes
    # the instances (numbered from 1, as in the reasons) the rules counted, and those a
    # reason names: a defect, a size out of its limits, a class counted more than it may be
    counted: tuple[int, ...] = ()
    flagged: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return "OK" if self.ok else "NG"


@dataclass(frozen=True)
class Rules:
    classes: Mapping[str, ClassRules] = field(default_factory=dict)
    defects: tuple[str, ...] = ()
    units: str = "px"
    min_score: float = DEFAULT_MIN_SCORE
    source: str = field(default="rules", compare=False)  # the file, for messages

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any], source: str) -> Rules:
        """Rules from JSON text or its parsed dict; RulesError names source and key path."""
        r = _Reader(source)
        top = r.obj(r.parse(data) if isinstance(data, (str, bytes)) else data, "", TOP_KEYS)
        if "isegui_rules" not in top:
            r.fail("", 'not an isegui rules file: no "isegui_rules" key (the version)')
        version = top["isegui_rules"]
        if isinstance(version, bool) or version != VERSION:
            r.fail("isegui_rules", f"version {json.dumps(version)} is not supported "
                   f"(this isegui reads version {VERSION})")
        units = top.get("units", "px")
        if not isinstance(units, str) or units not in UNITS:
            r.fail("units", f'must be "px" or "mm", not {json.dumps(units)}')
        min_score = r.score(top.get("min_score", DEFAULT_MIN_SCORE), "min_score")
        raw_defects = top.get("defects", [])
        if not isinstance(raw_defects, list):
            r.fail("defects", f"must be a list of class names, not {_kind(raw_defects)}")
        defects: dict[str, None] = {}  # in their order; a set's speed for "listed twice"
        for i, name in enumerate(raw_defects):
            if r.name(name, f"defects[{i}]") in defects:
                r.fail(f"defects[{i}]", f"{_quoted(name)} is listed twice")
            defects[name] = None
        classes: dict[str, ClassRules] = {}
        for name, entry in r.obj(top.get("classes", {}), "classes", None).items():
            path = f"classes.{_key(r.name(name, 'classes'))}"
            e = r.obj(entry, path, CLASS_KEYS)
            count = r.limit(e.get("count"), f"{path}.count", whole=True)
            if name in defects and (count.min or 0) > 0:
                r.fail(f"{path}.count.min", f'{_quoted(name)} is in "defects": any instance '
                       "makes the image NG, so none can be required (min must be 0)")
            sizes = {key: r.limit(e[key], f"{path}.{key}") for key in MEASURES if key in e}
            score = None if e.get("min_score") is None else r.score(e["min_score"],
                                                                     f"{path}.min_score")
            classes[name] = ClassRules(count, sizes, score)
        return cls(classes, tuple(defects), units, min_score, source)

    def as_dict(self) -> dict[str, Any]:
        classes: dict[str, dict[str, Any]] = {}
        for name, rule in self.classes.items():
            entry: dict[str, Any] = {"count": rule.count.as_dict()} if rule.count != Limit() else {}
            entry.update((key, limit.as_dict()) for key, limit in rule.sizes.items())
            if rule.min_score is not None:
                entry["min_score"] = rule.min_score
            classes[name] = entry
        return {"isegui_rules": VERSION, "units": self.units, "min_score": self.min_score,
                "classes": classes, "defects": list(self.defects)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def example(cls, classes: Sequence[str], units: str = "px") -> Rules:
        """A starting file: at least one instance of each class, no size limits yet."""
        return cls({name: ClassRules(Limit(min=1)) for name in classes}, units=units,
                   source="example rules")

    def threshold(self, class_name: str) -> float:
        rule = self.classes.get(class_name)
        return self.min_score if rule is None or rule.min_score is None else rule.min_score

    def check_classes(self, known: Sequence[str], whose: str = "the model") -> None:
        """Refuse rules that name a class `known` does not hold (the model's classes): it would
        never be found, so every part would be NG for its count, or a defect never seen,
        without a word why."""
        have = set(known)
        named = [*((f"classes.{_key(n)}", n) for n in self.classes),
                 *((f"defects[{i}]", n) for i, n in enumerate(self.defects))]
        for path, name in named:
            if name not in have:
                shown = ", ".join(_key(k) for k in list(known)[:MAX_LISTED])
                more = f" and {len(known) - MAX_LISTED} more" if len(known) > MAX_LISTED else ""
                raise RulesError(self.source, f"{path}: {whose} has no class {_quoted(name)} "
                                 f"(its classes: {shown}{more})")

    def check_calibration(self, mm_per_px: float | None) -> None:
        """Refuse rules in mm without a usable scale (the runtime calls it at start)."""
        if self.units == "mm" and (mm_per_px is None or not math.isfinite(mm_per_px)
                                   or mm_per_px <= 0):
            got = "" if mm_per_px is None else f" (got {mm_per_px})"
            raise RulesError(self.source, f"rules in mm need a calibrated model: mm per pixel{got}")

    def evaluate(self, detections: Sequence[Detection], mm_per_px: float | None = None) -> Verdict:
        """The verdict on one image's detections (measurements in px). Instances below their
        class's minimum score are ignored; "#k" is the instance's number in the image."""
        self.check_calibration(mm_per_px)
        reasons: list[str] = []
        defects = set(self.defects)
        counts = dict.fromkeys((*self.classes, *self.defects), 0)
        sizes: dict[str, list[dict[str, float]]] = {}
        counted: dict[str, list[int]] = {}
        flagged: set[int] = set()
        for k, (name, score, m) in enumerate(detections, start=1):
            if m.unit != "px":
                raise ValueError(f"measurements must be in px, not {m.unit}")
            if score < self.threshold(name):
                continue
            counts[name] = counts.get(name, 0) + 1
            counted.setdefault(name, []).append(k)
            if self.units == "mm" and mm_per_px is not None:
                m = to_mm(m, mm_per_px)
            values = {key: float(getattr(m, key)) for key in MEASURES}
            sizes.setdefault(name, []).append({"instance": k, "score": score, **values})
            if name in defects:
                reasons.append(f"{name} #{k}: defect (score {score:.2f})")
                flagged.add(k)
            rule = self.classes.get(name, ClassRules())
            for key, limit in rule.sizes.items():
                if broken := limit.broken(values[key]):
                    value, bound = _pair(values[key], broken[1])
                    unit = self.units + ("²" if key == "area" else "")
                    reasons.append(f"{name} #{k}: {key} {value} {unit} {broken[0]} {bound} {unit}")
                    flagged.add(k)
        for name, rule in self.classes.items():
            if broken := rule.count.broken(counts[name]):
                reasons.append(f"{name}: count {counts[name]} {broken[0]} {broken[1]:g}")
                if broken[0] == "> max":  # too many: each one counted is part of the reason
                    flagged.update(counted.get(name, ()))
        return Verdict(not reasons, reasons, counts, sizes, self.units,
                       tuple(sorted(k for ks in counted.values() for k in ks)),
                       tuple(sorted(flagged)))


def load_rules(path: str | Path) -> Rules:
    """The rules of a file; one written by Windows Notepad (a UTF-8 BOM in front) too."""
    try:
        text = read_regular_text(path)
    except OSError as e:
        raise RulesError(path, f"cannot read the rules: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise RulesError(path, "not a text file (UTF-8 JSON expected)") from None
    return Rules.from_json(text, str(path))


def rules_from_measurements(
        classes_to_measurements: Mapping[str, Sequence[Sequence[Measurements]]],
        margin: float = 0.1, units: str = "px", mm_per_px: float | None = None) -> Rules:
    """Limits proposed from reviewed good parts: per class, one list of measurements (px) per
    image (empty where it has none). Each measure's min/max widened by margin (0.1: 10%),
    rounded outwards; count min = max = the most common count."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), not {margin}")
    Rules(units=units, source="proposed rules").check_calibration(mm_per_px)
    classes: dict[str, ClassRules] = {}
    for name, images in classes_to_measurements.items():
        typical = Counter(len(ms) for ms in images).most_common(1)[0][0] if images else 0
        ms = [to_mm(m, mm_per_px) if units == "mm" and mm_per_px else m
              for image in images for m in image]
        sizes: dict[str, Limit] = {}
        for key in MEASURES if ms else ():
            values = [float(getattr(m, key)) for m in ms]
            sizes[key] = Limit(_round_out(min(values) * (1 - margin), math.floor),
                               _round_out(max(values) * (1 + margin), math.ceil))
        classes[name] = ClassRules(Limit(typical, typical), sizes)
    return Rules(classes, units=units, source="proposed rules")


class _Reader:
    """Checks parsed JSON; each failure is one line: the file, the key path, the problem."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, problem: str) -> NoReturn:
        raise RulesError(self.source, f"{path}: {problem}" if path else problem)

    def parse(self, text: str | bytes) -> Any:
        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            obj = dict(pairs)
            if len(obj) < len(pairs):
                twice = _first_repeated(k for k, _ in pairs)
                raise ValueError(f"key {_quoted(twice)} appears twice in an object")
            return obj

        def no_constant(name: str) -> Any:
            raise ValueError(f"{name} is not allowed: numbers must be finite")

        if isinstance(text, str):
            text = text.removeprefix(BOM)  # bytes: json finds the BOM itself
        try:
            return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
        except json.JSONDecodeError as e:
            self.fail("", f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})")
        except RecursionError:
            self.fail("", "not valid rules: nested too deep")
        except ValueError as e:  # NaN, Infinity, duplicates, bad bytes, 4,300-digit numbers
            words = str(e)
            if "int_max_str_digits" in words or "digits" in words:
                words = "a number with thousands of digits"
            self.fail("", f"not valid JSON: {words}")

    def obj(self, value: Any, path: str, allowed: Sequence[str] | None) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"must be an object {{...}}, not {_kind(value)}")
        for key in value:
            if allowed is not None and key not in allowed:
                self.fail(path, f'unknown key {_quoted(str(key))} (allowed: {", ".join(allowed)})')
        return dict(value)

    def name(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"a class name must be a string, not {_kind(value)}")
        if not value.strip():
            self.fail(path, "empty class name")
        if not is_text(value):
            self.fail(path, f"the class name {_quoted(value)} is not valid text (a lone "
                      "surrogate)")
        return value

    def number(self, value: Any, path: str, whole: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"must be a number, not {_kind(value)}")
        if isinstance(value, int) and abs(value) > MAX_NUMBER:  # float(value) would overflow
            self.fail(path, f"too large a number (more than {MAX_DIGITS} digits)")
        if not math.isfinite(value):
            self.fail(path, f"must be a finite number, not {value}")
        if value < 0:
            self.fail(path, f"must not be negative ({value})")
        if whole and value != int(value):
            self.fail(path, f"must be a whole number, not {value}")
        return int(value) if whole else float(value)

    def score(self, value: Any, path: str) -> float:
        score = self.number(value, path)
        if score > 1:
            self.fail(path, f"a score is between 0 and 1, not {score}")
        return score

    def limit(self, value: Any, path: str, whole: bool = False) -> Limit:
        d = self.obj({} if value is None else value, path, LIMIT_KEYS)
        lo, hi = (None if d.get(k) is None else self.number(d[k], f"{path}.{k}", whole)
                  for k in LIMIT_KEYS)
        if lo is not None and hi is not None and lo > hi:
            self.fail(path, f"min {lo:g} > max {hi:g}")
        return Limit(lo, hi)


def _first_repeated(keys: Iterable[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    raise ValueError("no key is repeated")


def _quoted(text: str) -> str:
    """`text` in double quotes on one line, for a message: line breaks and control characters
    escaped as JSON does, a lone surrogate as \\udXXX."""
    quoted = json.dumps(text, ensure_ascii=False)
    for char in "\x85\u2028\u2029":  # line breaks to str.splitlines that JSON leaves as they are
        quoted = quoted.replace(char, f"\\u{ord(char):04x}")
    return quoted.encode("utf-8", "backslashreplace").decode("utf-8")


def _key(name: str) -> str:
    """A class name in a key path: as it is, or quoted where it would not print on one line."""
    return name if name.isprintable() else _quoted(name)


def _kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    kinds = ((str, "a string"), (int | float, "a number"), (Mapping, "an object"),
             (list, "a list"))
    return next((k for t, k in kinds if isinstance(value, t)), type(value).__name__)


def _pair(value: float, limit: float) -> tuple[str, str]:
    """Both numbers with the fewest decimals (at least one) that tell them apart."""
    for decimals in range(1, 7):
        a, b = f"{value:.{decimals}f}", f"{limit:.{decimals}f}"
        if a != b:
            break
    return a, b


def _round_out(x: float, direction: Callable[[float], int]) -> float:
    """x to about 3 significant digits, rounded by direction (math.floor or math.ceil)."""
    if x <= 0:
        return 0.0
    decimals = max(0, 2 - math.floor(math.log10(x)))
    return float(round(direction(x * 10 ** decimals) / 10 ** decimals, decimals))
