"""docs/ARCHITECTURE.md matches the tree: every room (package folder) and every file it names
exists, and every package of isegui/ is named in it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "ARCHITECTURE.md"


def named_paths() -> set[str]:
    """Paths the map names in backticks: `isegui/...`, `tests/...`, `bench/...`, and files of
    the package by their path inside it (`core/errors.py`)."""
    text = MAP.read_text(encoding="utf-8")
    found = {m.rstrip("/") for m in re.findall(
        r"`((?:isegui|tests|bench|scripts|resources|docs)/[\w./{},]*)`", text)}
    found |= {f"isegui/{m}" for m in re.findall(r"`((?:core|ml|gui|cli)/[\w./]*\.py)`", text)}
    return found


def expanded(path: str) -> list[str]:
    """`tests/ml/{infer,model,train}` -> the three paths."""
    m = re.search(r"\{([\w,]+)\}", path)
    if not m:
        return [path]
    return [path[:m.start()] + part + path[m.end():] for part in m.group(1).split(",")]


def packages() -> set[str]:
    return {str(p.parent.relative_to(ROOT)) for p in (ROOT / "isegui").rglob("__init__.py")}


def test_every_room_and_file_the_map_names_exists():
    missing = [p for named in named_paths() for p in expanded(named) if not (ROOT / p).exists()]
    assert not missing, f"docs/ARCHITECTURE.md names what is not there: {missing}"


def test_every_package_is_a_room_in_the_map():
    rooms = set(named_paths())
    missing = sorted(packages() - rooms)
    assert not missing, f"packages missing from docs/ARCHITECTURE.md's rooms: {missing}"


def test_the_map_sees_the_tiers():
    assert {"isegui/ml/infer", "isegui/ml/model", "isegui/ml/train", "isegui/core/store"} \
        <= packages() <= named_paths()
