"""`isegui migrate TEAM DIR` writes only inside DIR and removes only what it made (the
attacker's fourth try: a failed migrate deleted the user's project.isegui.old; a runs/ or
images/ linked out received the team's files; a linked image cache filled a folder
outside)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from isegui.cli import main
from isegui.core.errors import UnsafePathError
from isegui.core.images import save_image
from isegui.core.project import Project
from isegui.core.store import team_images
from tests.core.helpers import file_state, outside_file, tree_state


@pytest.fixture
def team(tmp_path, pg_database, monkeypatch):
    """A team project keeping its one image in the database, with one run's file."""
    root = tmp_path / "share"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["team", "create", pg_database, "line3", "--images", str(root),
                 "--images-in-database"]) == 0
    save_image(root / "a.png", np.zeros((10, 10, 3), np.uint8))
    team_file = tmp_path / "line3.isegui-team"
    assert main(["add", str(team_file), str(root / "a.png")]) == 0
    (root / "a.png").unlink()  # another PC: only the database has it
    (root / "runs" / "0001").mkdir(parents=True)
    (root / "runs" / "0001" / "best.pt").write_bytes(b"weights")
    return team_file


def test_a_failed_migrate_keeps_the_users_own_files(team, tmp_path):
    target = tmp_path / "back"
    target.mkdir()
    kept = outside_file(target / "project.isegui.old", b"the user's backup")
    before = file_state(kept)
    (target / "runs").write_text("a file where runs/ would go")
    assert main(["migrate", str(team), str(target)]) != 0
    assert file_state(kept) == before
    assert not (target / "project.isegui").exists()


@pytest.mark.parametrize("linked", ["runs", "images"])
def test_a_linked_runs_or_images_folder_receives_nothing(team, tmp_path, linked):
    outside = tmp_path / "outside"
    outside.mkdir()
    before = tree_state(outside)
    target = tmp_path / "back"
    target.mkdir()
    os.symlink(outside, target / linked)
    assert main(["migrate", str(team), str(target)]) != 0
    assert tree_state(outside) == before


def test_a_linked_image_cache_is_not_filled(team, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "share" / team_images.CACHE_DIR)
    with Project.open(team, read_only=True) as project:
        (record,) = project.store.images()
        with pytest.raises(UnsafePathError, match="leads out"):
            project.image_files.local_copy(record.path)
    assert list(outside.iterdir()) == []
