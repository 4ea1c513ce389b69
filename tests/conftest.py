import os
import shutil
import tempfile
from pathlib import Path

import pytest

import isegui  # noqa: F401  (first: it sets MKL's reproducible mode before torch computes)

pytest_plugins = ["tests.pg_fixtures"]  # pg_server, pg_database: a real PostgreSQL

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the app remembers the last project in the user's settings: tests keep theirs elsewhere
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="isegui-test-config-")
# and its log files in the user's log folder
os.environ["ISEGUI_LOG_DIR"] = tempfile.mkdtemp(prefix="isegui-test-logs-")
# and never find (or fill) the user's pretrained weights folder
os.environ["ISEGUI_WEIGHTS_DIR"] = tempfile.mkdtemp(prefix="isegui-test-weights-")
_SESSION_FOLDERS = [os.environ[k] for k in ("XDG_CONFIG_HOME", "ISEGUI_LOG_DIR",
                                            "ISEGUI_WEIGHTS_DIR")]


def pytest_unconfigure(config) -> None:
    """The session's own folders go with it (hundreds were left in the temporary folder)."""
    if os.getpid() == _CREATOR:  # not from a process a test forked
        for folder in _SESSION_FOLDERS:
            shutil.rmtree(folder, ignore_errors=True)


_CREATOR = os.getpid()


def _fixtures() -> Path:
    """../shared/fixtures beside the checkout, or where ISEGUI_FIXTURES points (a CI clone may
    live elsewhere), or this workplace's shared folder."""
    candidates = [os.environ.get("ISEGUI_FIXTURES"),
                  Path(__file__).resolve().parents[2] / "shared" / "fixtures",
                  "/work/shared/fixtures"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(candidates[1])


LABELME_FIXTURE = _fixtures() / "labelme-instance-segmentation"


@pytest.fixture
def labelme_fixture() -> Path:
    if not LABELME_FIXTURE.is_dir():
        pytest.skip(f"shared fixtures not found at {LABELME_FIXTURE}")
    return LABELME_FIXTURE


@pytest.fixture
def project(tmp_path):
    from isegui.core.project import Project
    with Project.create(tmp_path / "project") as p:
        yield p


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An empty project store on each engine: a project file, and a team project in a fresh
    PostgreSQL database. Both must pass the same store tests."""
    if request.param == "sqlite":
        from isegui.core.project import Project
        with Project.create(tmp_path / "project") as p:
            yield p.store
    else:
        from isegui.core.store.team import open_team_store
        store = open_team_store(request.getfixturevalue("pg_database"), "line3", create=True)
        try:
            yield store
        finally:
            store.close()
