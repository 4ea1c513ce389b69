"""`isegui weights add FILE` and `isegui weights list`: the pretrained weights runs start from,
kept in the per-user weights folder (never downloaded at run time)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="pretrained weights that runs start from",
                       description="Runs start from a model's pretrained weights when a file "
                       "of them is found locally: in the project's pretrained/ folder, the "
                       "per-user weights folder, the packaged program, or the torch cache.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="copy a torchvision weights file where every run finds it",
        description="Checks that FILE (a torchvision weights file, e.g. "
        "mobilenet_v3_large-8738ca79.pth) fits a model's backbone, then copies it into the "
        "per-user weights folder under torchvision's name for it.")
    add.add_argument("file", type=Path)
    add.add_argument("--model", help="the model it is for (default: the one it fits)")
    add.set_defaults(handler=run_add)
    listing = actions.add_parser("list", help="what each model's runs would start from")
    listing.add_argument("--project", type=Path, help="also look in this project's pretrained/")
    listing.set_defaults(handler=run_list)


def run_add(args) -> int:
    from isegui.ml.model.weights_install import install_weights
    print(install_weights(args.file, args.model).describe())
    return 0


def run_list(args) -> int:
    from isegui.ml.model.registry import model_names
    from isegui.ml.model.weights import describe_start, pretrained_file_names, pretrained_places
    for name in model_names():
        print(f"{name}: {describe_start(name, args.project)}")
        print(f"  {' or '.join(pretrained_file_names(name))}")
    print("looked in:")
    for place, folder in pretrained_places(args.project):
        print(f"  {place}: {folder}")
    return 0
