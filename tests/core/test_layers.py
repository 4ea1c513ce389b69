"""The layer rule of DESIGN.md: core imports neither Qt nor torch; ml does not import Qt."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "isegui"
FORBIDDEN = {"core": {"PySide6", "torch", "torchvision", "isegui.ml", "isegui.gui"},
             "ml": {"PySide6", "isegui.gui"}}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer):
    folder = PACKAGE / layer
    if not folder.is_dir():
        pytest.skip(f"isegui/{layer} does not exist yet")
    bad = []
    for path in folder.rglob("*.py"):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(bad)


def test_core_is_checked():
    assert (PACKAGE / "core").is_dir()
    assert imported_modules(PACKAGE / "core" / "geometry.py")  # the parser sees imports
