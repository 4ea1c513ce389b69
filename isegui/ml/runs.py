"""Runs in a project: finding one by id or name, and where its files go.

A run's folder is written (checkpoints, the events file, the lock) and cleaned (cut-off
writes), so it is used only once it is known to be the project's own: a `runs/` or run folder
that links out of the project, or a run folder holding a link, is refused (training) or left
alone (settling, which only tidies up)."""

from __future__ import annotations

from pathlib import Path

from isegui.core.entities import Run, RunStatus
from isegui.core.errors import UnsafePathError
from isegui.core.fileio import inside_folder, links_in, refuse_hard_link, refuse_link
from isegui.core.store.lock import ProjectLock
from isegui.core.project import Project

RUNS_DIR = "runs"
RUN_LOCK = "running.lock"  # held by the training process for the run's whole life


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


def check_runs_folder(project_folder: Path) -> Path:
    """The project's runs/ folder, once it is known not to lead out of the project."""
    return inside_folder(project_folder, project_folder / RUNS_DIR)


def checked_run_folder(project_folder: Path, run_id: int) -> Path:
    """The run's folder, once it is known to be the project's own: inside it, and holding
    no link, symbolic or hard (its events file is appended to, its lock truncated, its
    cut-off writes removed). It need not exist yet."""
    folder = inside_folder(project_folder, run_folder(project_folder, run_id))
    for link in links_in(folder):
        refuse_link(link)
    for entry in _entries(folder):
        refuse_hard_link(entry)
    return folder


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def make_run_folder(project_folder: Path, run_id: int) -> Path:
    """The run's folder, checked (checked_run_folder) and made if needed."""
    folder = checked_run_folder(project_folder, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checkpoint_file(project: Project, run: Run, which: str = "best") -> Path:
    """The run's best (or last) checkpoint file; best falls back to last."""
    folder = run_folder(project.folder, run.id)
    for name in ((f"{which}.pt", "last.pt") if which == "best" else (f"{which}.pt",)):
        if (folder / name).is_file():
            return folder / name
    raise RunNotFound(f"run {run.id} ({run.name}) has no {which} checkpoint in {folder}")


def active_choice(run: Run, active: Run | None) -> tuple[bool, str]:
    """The one rule for the active run when a run finishes: it becomes active when no run is
    (or the active one has no checkpoint), or when its best validation mask mAP beats the
    active run's; never when it has no checkpoint itself (it ended before its first epoch).
    (True/False, and why, in words.)"""
    if not run.checkpoint:
        return False, "it ended before its first epoch: it has no model to predict with"
    if active is None or not active.checkpoint:
        return True, "no run was active"
    if active.id == run.id:
        return True, "it was the active run already"
    new, old = _best_mask_map(run), _best_mask_map(active)
    if new is not None and (old is None or new > old):
        return True, (f"its validation mask mAP {_shown(new)} beats run {active.id}'s "
                      f"({_shown(old)})")
    return False, (f"run {active.id} stays the active model (mask mAP {_shown(old)}; "
                   f"run {run.id}: {_shown(new)})")


def _best_mask_map(run: Run) -> float | None:
    best = run.metrics.get("best", {}) if isinstance(run.metrics, dict) else {}
    value = best.get("mask_map")
    return float(value) if isinstance(value, (int, float)) else None


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def run_lock(project_folder: Path, run_id: int) -> ProjectLock:
    """The lock a training process holds while it works on the run (the OS frees it when the
    process dies, however it dies)."""
    return ProjectLock(run_folder(project_folder, run_id) / RUN_LOCK)


def settle_abandoned_runs(project: Project) -> list[int]:
    """Runs recorded as running whose process is gone (killed, the PC lost power) become
    failed, and the temporary files of checkpoints they were writing are removed. A run
    whose process still works, or that is only starting (no lock file yet), is left alone;
    so is one whose folder is not the project's own (a link out): this only tidies up, and
    training refuses such a folder with its own message. Returns the ids settled."""
    settled = []
    for run in project.store.runs():
        held = _abandoned(project.folder, run) if run.status == RunStatus.RUNNING else None
        if held is None:
            continue
        folder, lock = held
        try:
            for tmp in folder.glob(".*.tmp"):  # atomic writes cut short
                tmp.unlink(missing_ok=True)
            project.store.update_run(run.id, status=RunStatus.FAILED)
            settled.append(run.id)
        finally:
            lock.release()
    return settled


def _abandoned(project_folder: Path, run: Run) -> tuple[Path, ProjectLock] | None:
    """The folder of a running run whose process is gone, and its lock (now held), or None."""
    try:
        folder = checked_run_folder(project_folder, run.id)
        if not (folder / RUN_LOCK).is_file():
            return None
        lock = run_lock(project_folder, run.id)
        return (folder, lock) if lock.try_acquire() else None  # not taken: its process lives
    except UnsafePathError:
        return None
