import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
LABELME_FIXTURE = FIXTURES / "labelme-instance-segmentation"


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
