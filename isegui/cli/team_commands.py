"""Team projects: `isegui team create` makes one in a PostgreSQL database and writes the team
file that every other command (and the window) accepts in place of a project folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from isegui.core.one_line import one_line
from isegui.core.project import Project
from isegui.core.store.team import TEAM_SUFFIX


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
    p.add_argument("--images", type=Path, required=True,
                   help="the team's image root folder (with --images-in-database: this PC's "
                   "folder for the images)")
    p.add_argument("--images-in-database", action="store_true",
                   help="keep the image files in the database too, for a team without a "
                   "shared folder: each PC reads them from there when its folder lacks them")
    p.add_argument("--file", type=Path, help=f"where to write the team file (NAME{TEAM_SUFFIX})")
    p.set_defaults(handler=run_team_create)
    p = actions.add_parser(
        "add", help="let a PostgreSQL login work on the team project",
        description="Give LOGIN (a PostgreSQL login IT made: CREATE ROLE name LOGIN PASSWORD "
        "'...') a role in the team project: inspector (labels) or reviewer (labels and marks "
        "images reviewed). The server enforces it.")
    p.add_argument("team_file", type=Path)
    p.add_argument("login")
    p.add_argument("--role", choices=["inspector", "reviewer"], default="inspector")
    p.set_defaults(handler=run_team_add)

    p = sub.add_parser(
        "migrate", help="move a project into a team database, or a team project out",
        description="isegui migrate DIR postgresql://USER@HOST/DB [--name NAME]: the project "
        "in DIR becomes team project NAME (DIR is its image root; NAME.isegui-team is "
        "written here). isegui migrate NAME.isegui-team DIR: the team project becomes a "
        "project folder DIR. Ids, shapes, runs and who changed what are copied exactly; "
        "the source is left as it was.")
    p.add_argument("source", type=Path)
    p.add_argument("target")
    p.add_argument("--name", help="the team project's name (default: the folder's)")
    p.add_argument("--file", type=Path, help="where to write the team file")
    p.add_argument("--images-in-database", action="store_true",
                   help="into a team: keep the image files in the database too")
    p.set_defaults(handler=run_migrate)


def run_team_create(args) -> int:
    team_file = args.file or Path(f"{args.name}{TEAM_SUFFIX}")
    with Project.create_team(args.url, args.name, args.images, team_file,
                             images_in_database=args.images_in_database) as project:
        where = "kept in the database, read here from" if args.images_in_database else "under"
        print(f"team project {args.name!r} made; open it with {project.team_file} "
              f"(images {where} {project.folder})")
    return 0


def run_team_add(args) -> int:
    from isegui.core.store.team import add_member
    with Project.open(args.team_file) as project:
        add_member(project.store, args.login, args.role)
        name = project.name
    print(one_line(f"{args.login} is now a{'n' if args.role == 'inspector' else ''} "
                   f"{args.role} of {name}"))
    return 0


def run_migrate(args) -> int:
    from isegui.core.store.migrate import project_to_team, team_to_project
    if args.target.startswith(("postgresql://", "postgres://")):
        name = args.name or args.source.resolve().name
        team_file = args.file or Path(f"{name}{TEAM_SUFFIX}")
        copied = project_to_team(args.source, args.target, name, team_file,
                                 args.images_in_database)
        where = f"team project {name!r} (open it with {team_file})"
    elif args.source.suffix == TEAM_SUFFIX:
        copied = team_to_project(args.source, Path(args.target))
        where = f"the project folder {args.target}"
    else:
        raise ValueError("migrate a project folder to postgresql://..., or a team file "
                         f"({TEAM_SUFFIX}) to a folder")
    counts = ", ".join(f"{n} {table}" for table, n in copied.items() if table != "meta")
    print(f"copied into {where}: {counts}")
    return 0
