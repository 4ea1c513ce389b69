"""The line PC's tier: nothing under isegui/ml/infer imports torch, torchvision or Qt. Here every
module of the tier is imported in a fresh interpreter; import-linter checks the same statically,
imports inside functions included (pyproject.toml, `make lint`)."""

import subprocess
import sys
from pathlib import Path

import isegui.ml.infer

TIER = Path(isegui.ml.infer.__file__).parent
HEAVY = ("torch", "torchvision", "PySide6")


def tier_modules() -> list[str]:
    return sorted(".".join(("isegui", "ml", "infer", *p.relative_to(TIER).with_suffix("").parts))
                  .removesuffix(".__init__") for p in TIER.rglob("*.py"))


def test_the_tier_holds_what_the_line_runs():
    names = tier_modules()
    for needed in ("detection", "blobs", "tiled", "onnx_model", "outputs", "line_watch"):
        assert f"isegui.ml.infer.{needed}" in names


def test_no_module_of_the_tier_imports_torch_in_a_fresh_interpreter():
    script = ("import importlib, sys\n"
              f"for name in {tier_modules()!r}:\n"
              "    importlib.import_module(name)\n"
              f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
              "    assert not heavy, f'{name} imported {heavy}'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
