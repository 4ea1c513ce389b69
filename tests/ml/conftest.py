import pytest

from isegui.core.demo import create_demo_project


@pytest.fixture(scope="session")
def tiny_project_template(tmp_path_factory):
    """Six small demo scenes (5 train, 1 val); tests copy it, since training writes runs."""
    folder = tmp_path_factory.mktemp("template") / "demo"
    create_demo_project(folder, n_images=6, width=160, height=128).close()
    return folder


@pytest.fixture
def tiny_project(tiny_project_template, tmp_path):
    import shutil
    target = tmp_path / "demo"
    shutil.copytree(tiny_project_template, target,
                    ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
    return target
