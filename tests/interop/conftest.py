"""Other tools, each in a scratch virtual environment of its own (never a dependency of
isegui): our exports are opened by labelme's and Datumaro's own code.

The environments are made once per machine under ISEGUI_SCRATCH_VENVS (default
~/.cache/isegui/test-venvs; a few minutes from the package registry) and reused. Where pip
cannot install the tool (no registry), the tests say so and skip."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

TOOLS = {  # name -> what pip installs into its environment
    "labelme": ["labelme>=6,<7"],
    "datumaro": ["datumaro>=1.13,<1.14", "protobuf"],  # its plugin scan imports protobuf
}


def _root() -> Path:
    return Path(os.environ.get("ISEGUI_SCRATCH_VENVS",
                               Path.home() / ".cache" / "isegui" / "test-venvs"))


def scratch_python(tool: str) -> Path:
    folder = _root() / tool
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    done = folder / "installed.json"
    wanted = {"requirements": TOOLS[tool], "python": sys.version.split()[0]}
    if done.is_file() and json.loads(done.read_text()) == wanted:
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", *TOOLS[tool]],
                             capture_output=True, text=True, timeout=1200)
    if install.returncode != 0:
        pytest.skip(f"cannot install {tool} into a scratch environment: "
                    f"{install.stderr.strip().splitlines()[-1:]}")
    done.write_text(json.dumps(wanted))
    return python


def run_in(tool: str, script: str, *args: str) -> dict:
    """Run `script` with the tool's interpreter; it prints one JSON object."""
    done = subprocess.run([str(scratch_python(tool)), "-c", script, *args], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def labelme_python():
    return scratch_python("labelme")


@pytest.fixture(scope="session")
def datumaro_python():
    return scratch_python("datumaro")
