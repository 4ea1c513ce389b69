"""Team projects: `isegui team create` makes one in a PostgreSQL database and writes the team
file that every other command (and the window) accepts in place of a project folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from isegui.core.project import Project
from isegui.core.team import TEAM_SUFFIX


def register(sub: argparse._SubParsersAction) -> None:
    team = sub.add_parser("team", help="team projects in a PostgreSQL database")
    actions = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "create", help="make a team project and its NAME.isegui-team file",
        description="Make the team project NAME in the database at URL "
        "(postgresql://USER@HOST[:PORT]/DB; the password comes from PostgreSQL's password "
        "file or PGPASSWORD, never the URL) with DIR as the team's image root, and write "
        f"NAME{TEAM_SUFFIX} here (or at --file). Give that file to every command and to the "
        "window in place of a project folder.")
    p.add_argument("url")
    p.add_argument("name")
    p.add_argument("--images", type=Path, required=True, help="the team's image root folder")
    p.add_argument("--file", type=Path, help=f"where to write the team file (NAME{TEAM_SUFFIX})")
    p.set_defaults(handler=run_team_create)


def run_team_create(args) -> int:
    team_file = args.file or Path(f"{args.name}{TEAM_SUFFIX}")
    with Project.create_team(args.url, args.name, args.images, team_file) as project:
        print(f"team project {args.name!r} made; open it with {project.team_file} "
              f"(images under {project.folder})")
    return 0
