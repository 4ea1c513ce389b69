"""Runs in a project: finding one by id or name, and where its files go."""

from __future__ import annotations

from pathlib import Path

from isegui.core.entities import Run
from isegui.core.project import Project

RUNS_DIR = "runs"


class RunNotFound(ValueError):
    pass


def find_run(project: Project, ref: str | int | None) -> Run:
    """A run by id or name; None means the project's active run (else its latest)."""
    runs = project.store.runs()
    if not runs:
        raise RunNotFound(f"{project.folder}: the project has no training runs yet; train one "
                          "with `isegui train`")
    if ref is None or ref == "":
        active = project.active_run_id
        return next((r for r in runs if r.id == active), runs[-1])
    text = str(ref)
    for run in runs:
        if str(run.id) == text or run.name == text:
            return run
    raise RunNotFound(f"{project.folder}: no run with id or name {text!r}; there are: "
                      + ", ".join(f"{r.id} ({r.name})" for r in runs[-10:]))


def run_folder(project_folder: Path, run_id: int) -> Path:
    return project_folder / RUNS_DIR / f"{run_id:04d}"


def checkpoint_file(project: Project, run: Run, which: str = "best") -> Path:
    """The run's best (or last) checkpoint file; best falls back to last."""
    folder = run_folder(project.folder, run.id)
    for name in ((f"{which}.pt", "last.pt") if which == "best" else (f"{which}.pt",)):
        if (folder / name).is_file():
            return folder / name
    raise RunNotFound(f"run {run.id} ({run.name}) has no {which} checkpoint in {folder}")
