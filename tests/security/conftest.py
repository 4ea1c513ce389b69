"""A team set up exactly as the README's "Working as a team" says, on the suite's real
PostgreSQL: IT's SQL run as written (names made unique per test: logins belong to the whole
server), then the owner's `isegui team create` and `team add`. Each person connects as their
own login, as they would with psql and their own password (the test server trusts 127.0.0.1)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from isegui.cli import main
from isegui.core.project import Project

README = Path(__file__).resolve().parents[2] / "README.md"


def it_setup_blocks() -> list[str]:
    """The README's two SQL blocks for IT: the first in any database, the second in isegui."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**IT, once**"):text.index("**The engineer who owns the project:**")]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the README's IT set-up is two SQL blocks"
    return blocks


@dataclass
class Team:
    server: object
    database: str
    schema: str
    project: str
    team_file: Path
    owner: str
    anna: str  # inspector
    cara: str  # inspector
    ben: str  # reviewer
    dave: str  # a member of another team project in the same database
    payroll: str  # another application's login on the same server

    def url(self, who: str) -> str:
        return self.server.url(self.database, user=who)  # type: ignore[attr-defined]

    def sql(self, who: str, statement: str, args: tuple = ()) -> list[tuple]:
        """One statement as `who`, as psql would run it (committed), the project's schema on
        the search path."""
        with psycopg.connect(self.url(who), autocommit=True,
                             options=f"-c search_path={self.schema}") as conn:
            cur = conn.execute(statement, args or None)
            return cur.fetchall() if cur.description else []


@pytest.fixture
def team(pg_server, tmp_path, monkeypatch):
    tag = uuid.uuid4().hex[:8]
    names = {"isegui_owner": f"owner_{tag}", "isegui_roles": f"roles_{tag}",
             "anna": f"anna_{tag}", "ben": f"ben_{tag}"}
    database = f"isegui_{tag}"

    def as_written(block: str) -> str:
        for name, unique in names.items():
            block = re.sub(rf"\b{name}\b", unique, block)
        return re.sub(r"\bisegui\b(?!_)", database, block)
    first, second = (as_written(b) for b in it_setup_blocks())
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        for statement in _statements(first):
            admin.execute(statement)
        for login in ("cara", "dave", "payroll"):
            admin.execute(f'CREATE ROLE "{login}_{tag}" LOGIN')
    with psycopg.connect(pg_server.url(database), autocommit=True) as admin:
        admin.execute(second)
    owner = names["isegui_owner"]
    root = tmp_path / "share"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    project = f"line_{tag}"
    assert main(["team", "create", pg_server.url(database, user=owner), project,
                 "--images", str(root)]) == 0
    team_file = tmp_path / f"{project}.isegui-team"
    for login, role in ((names["anna"], "inspector"), (f"cara_{tag}", "inspector"),
                        (names["ben"], "reviewer")):
        assert main(["team", "add", str(team_file), login, "--role", role]) == 0
    other = f"other_{tag}"
    assert main(["team", "create", pg_server.url(database, user=owner), other,
                 "--images", str(root)]) == 0
    assert main(["team", "add", str(tmp_path / f"{other}.isegui-team"), f"dave_{tag}",
                 "--role", "inspector"]) == 0
    try:
        yield Team(pg_server, database, f"isegui_{project}", project, team_file, owner,
                   names["anna"], f"cara_{tag}", names["ben"], f"dave_{tag}", f"payroll_{tag}")
    finally:
        pg_server.drop_database(database)


def _statements(block: str) -> list[str]:
    """A block of plain statements (no function bodies) one by one: CREATE DATABASE may not
    share a transaction with others."""
    return [s.strip() for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]


@pytest.fixture
def labeled(team):
    """The team's project with 4 labeled images, 2 instances each, image 4 reviewed by ben."""
    from shapely.geometry import box

    from isegui.core.entities import ImageStatus
    with Project.open(team.team_file) as owner:
        store = owner.store
        chip = store.add_class("chip").id
        ids = []
        for n in range(1, 5):
            image = store.add_image(f"p{n}.png", 100, 80)
            store.add_instance(image.id, chip, box(10, 10, 30, 30))
            store.add_instance(image.id, chip, box(50, 10, 70, 30))
            store.set_status(image.id, ImageStatus.LABELED)
            ids.append(image.id)
    from isegui.core.store.team import open_team_store
    ben = open_team_store(team.url(team.ben), team.project)
    try:
        ben.set_status(ids[3], ImageStatus.REVIEWED)
    finally:
        ben.close()
    return ids
