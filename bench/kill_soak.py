"""Benchmark: SIGKILL at random moments while a project is written; nothing may be lost.

    python bench/kill_soak.py [--kills 1000] [--seed 0] [--workdir DIR]

Three kinds of worker process, each killed (SIGKILL: no cleanup runs) at a random moment after
it is ready, then checked:
- "gui": the window's session (Qt off screen) pushing undoable edits: AddInstanceCommand and
  DeleteInstancesCommand, as the tools do. Each edit the worker reports done (after the push
  returned, so committed) must be in the project; nothing unreported may be half there.
- "import": `import_dataset` of a 200-image COCO dataset: the project must hold all of it or
  none of it, and all of it once the worker reported the import done.
- "checkpoint": `save_checkpoint` of a model-sized dict over and over: last.pt must always load,
  and be at least as new as the last save reported.
After each kill: SQLite's integrity_check, the checks above, and the temporary files left
(atomic writes cut short: settle_abandoned_runs removes those of runs). Prints one JSON object.
Linux/macOS only (SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARE = {"gui": 0.4, "import": 0.4, "checkpoint": 0.2}
KILL_WITHIN = {"gui": 1.5, "import": 0.4, "checkpoint": 2.0}  # seconds after "ready"
IMPORT_IMAGES = 200  # an import this size outlasts many kills (the rest land after it)

GUI_WORKER = r"""
import os, random, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
from shapely.geometry import box
from isegui.core.project import Project
from isegui.gui.commands.instance_commands import AddInstanceCommand, DeleteInstancesCommand
from isegui.gui.session import ProjectSession
app = QApplication([])
session = ProjectSession(Project.open(sys.argv[1]))
rng = random.Random(int(sys.argv[2]))  # the kill's number: a seed of its own
image_ids = [r.id for r in session.images()]
print("ready", flush=True)
while True:
    image_id = rng.choice(image_ids)
    doc = session.document_for(image_id)
    ids = [i.id for i in doc.instances()]
    if len(ids) > 20 or (ids and rng.random() < 0.3):  # deletes keep the images small
        gone = rng.sample(ids, min(len(ids), rng.randint(1, 3)))
        session.undo_stack.push(DeleteInstancesCommand(session, image_id, gone))
        print("deleted", image_id, *gone, flush=True)
    else:
        x, y = rng.uniform(0, 150), rng.uniform(0, 100)
        command = AddInstanceCommand(session, image_id, 1, box(x, y, x + 30, y + 20))
        session.undo_stack.push(command)
        print("added", image_id, command.instance.id, flush=True)
"""

IMPORT_WORKER = r"""
import sys
from isegui.core.formats.importer import ImportOptions, import_dataset
from isegui.core.project import Project
with Project.open(sys.argv[1]) as project:
    print("ready", flush=True)
    import_dataset(project, ImportOptions("coco", __import__("pathlib").Path(sys.argv[3]),
                                          existing="skip"))
    print("imported", flush=True)
"""

CHECKPOINT_WORKER = r"""
import sys
import torch
from isegui.ml.model.checkpoint import save_checkpoint
target = sys.argv[1] + "/runs/0001/last.pt"
weights = {f"layer{k}": torch.randn(256, 1024) for k in range(24)}  # ~25 MB, as fast's
print("ready", flush=True)
n = int(sys.argv[2]) * 100_000  # each worker counts on from where the last one could be
while True:
    n += 1
    save_checkpoint(target, {"model_name": "fast", "size": 64, "classes": ["a"],
                             "state_dict": weights, "count": n})
    print("saved", n, flush=True)
"""


def make_project(folder: Path) -> None:
    import numpy as np

    from isegui.core.images import save_image
    from isegui.core.project import Project
    with Project.create(folder) as project:
        project.store.add_class("part")
        for k in range(8):
            path = f"images/img_{k}.png"
            save_image(folder / path, np.full((150, 200, 3), 90, np.uint8))
            project.store.add_image(path, 200, 150)
    (folder / "runs" / "0001").mkdir(parents=True)


def make_dataset(folder: Path) -> Path:
    import numpy as np

    from isegui.core.images import save_image
    images, annotations = [], []
    for k in range(IMPORT_IMAGES):
        save_image(folder / f"frame_{k:03d}.png", np.full((120, 160, 3), 70, np.uint8))
        images.append({"id": k + 1, "file_name": f"frame_{k:03d}.png", "width": 160,
                       "height": 120})
        annotations += [{"id": 10 * k + j + 1, "image_id": k + 1, "category_id": 1,
                         "segmentation": [[5 + 20 * j, 5, 20 + 20 * j, 5, 20 + 20 * j, 30]]}
                        for j in range(5)]
    (folder / "annotations.json").write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "part"}]}))
    return folder / "annotations.json"


def kill_once(kind: str, project: Path, dataset: Path, rng: random.Random,
              number: int) -> list[str]:
    script = {"gui": GUI_WORKER, "import": IMPORT_WORKER, "checkpoint": CHECKPOINT_WORKER}[kind]
    worker = subprocess.Popen([sys.executable, "-c", script, str(project), str(number),
                               str(dataset)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [worker.stdout.readline().strip()]
    if lines[0] == "ready":
        time.sleep(rng.uniform(0, KILL_WITHIN[kind]))
    worker.send_signal(signal.SIGKILL)
    rest, _ = worker.communicate()
    return lines + rest.splitlines()


class Checker:
    def __init__(self, project: Path):
        self.project = project
        self.saved = 0  # the newest checkpoint reported saved

    def integrity(self) -> bool:
        with sqlite3.connect(f"file:{self.project / 'project.isegui'}?mode=ro", uri=True) as c:
            return c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def instances(self) -> set[tuple[int, int]]:
        with sqlite3.connect(f"file:{self.project / 'project.isegui'}?mode=ro", uri=True) as c:
            return set(c.execute("SELECT image_id, id FROM instances"))

    def images(self) -> int:
        with sqlite3.connect(f"file:{self.project / 'project.isegui'}?mode=ro", uri=True) as c:
            return c.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def after_gui(self, lines: list[str], before: set) -> tuple[int, int]:
        """(committed edits lost, edits half there). The project must hold `before` with every
        reported edit applied, give or take the one edit that may have committed after its
        report was due: one instance added, or up to three of one image deleted."""
        expected = set(before)
        for line in lines:
            words = line.split()
            if len(words) < 3 or words[0] not in ("added", "deleted"):
                continue  # a report the kill cut short: that edit counts as unreported
            image, *ids = (int(v) for v in words[1:])
            keys = {(image, i) for i in ids}
            word = words[0]
            expected = expected | keys if word == "added" else expected - keys
        now = self.instances()
        missing, extra = expected - now, now - expected
        unreported_add = not missing and len(extra) <= 1
        unreported_delete = (not extra and len(missing) <= 3
                             and len({image for image, _ in missing}) <= 1)
        if unreported_add or unreported_delete:
            return 0, 0
        return len(missing), len(extra)

    def after_import(self, lines: list[str], before: int, size: int) -> tuple[int, int]:
        now = self.images()
        lost = int("imported" in lines and now != before + size and before + size > now)
        partial = int(now not in (before, before + size))
        return lost, partial

    def after_checkpoint(self, lines: list[str]) -> tuple[int, int]:
        from isegui.ml.model.checkpoint import CheckpointError, load_checkpoint
        reported = max([int(words[1]) for words in map(str.split, lines)
                        if len(words) == 2 and words[0] == "saved" and words[1].isdigit()],
                       default=0)  # (a report cut short by the kill reads smaller: harmless)
        self.saved = max(self.saved, reported)
        path = self.project / "runs" / "0001" / "last.pt"
        if not path.exists():
            return int(self.saved > 0), 0
        try:
            count = load_checkpoint(path)["count"]
        except CheckpointError:
            return 0, 1
        return int(count < self.saved), 0

    def temp_files(self) -> int:
        return sum(1 for _ in self.project.rglob(".*.tmp"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="isegui-kill-soak-"))
    project, data = work / "project", work / "data"
    make_project(project)
    dataset = make_dataset(data)
    checker = Checker(project)
    tally = {kind: {"kills": 0, "corrupt": 0, "lost": 0, "half_written": 0,
                    "reported_steps": 0} for kind in SHARE}
    tally["import"]["killed_midway"] = 0  # before the import said it was done
    temp_peak, started = 0, time.time()
    for number in range(1, args.kills + 1):
        kind = rng.choices(list(SHARE), weights=list(SHARE.values()))[0]
        before_instances, before_images = checker.instances(), checker.images()
        lines = kill_once(kind, project, dataset, rng, number)
        entry = tally[kind]
        entry["kills"] += 1
        entry["reported_steps"] += max(0, len(lines) - 1)
        entry["corrupt"] += int(not checker.integrity())
        if kind == "gui":
            lost, half = checker.after_gui(lines[1:], before_instances)
        elif kind == "import":
            lost, half = checker.after_import(lines, before_images, IMPORT_IMAGES)
            entry["killed_midway"] += int("imported" not in lines)
            if checker.images() != before_images:  # next time, a fresh copy of the dataset
                dataset = make_dataset(work / f"data-{entry['kills']}")
        else:
            lost, half = checker.after_checkpoint(lines)
        entry["lost"] += lost
        entry["half_written"] += half
        temp_peak = max(temp_peak, checker.temp_files())
    from isegui.core.project import Project
    from isegui.ml.runs import settle_abandoned_runs
    left_before = checker.temp_files()
    with Project.open(project, lock=False) as opened:
        run = opened.store.add_run("soak", {})
        lock = project / "runs" / f"{run.id:04d}"
        lock.mkdir(exist_ok=True)
        (lock / "running.lock").touch()
        for tmp in (project / "runs" / "0001").glob(".*.tmp"):
            tmp.rename(lock / tmp.name)  # the checkpoint worker's run is this one
        settle_abandoned_runs(opened)
    print(json.dumps({
        "benchmark": "kill_soak", "kills": args.kills, "seed": args.seed,
        "seconds": round(time.time() - started, 1), "by_kind": tally,
        "corrupt_projects": sum(t["corrupt"] for t in tally.values()),
        "lost_committed": sum(t["lost"] for t in tally.values()),
        "half_written": sum(t["half_written"] for t in tally.values()),
        "temp_files_left_peak": temp_peak, "temp_files_left_at_end": left_before,
        "temp_files_after_settling": checker.temp_files(),
        "instances_at_end": len(checker.instances()), "images_at_end": checker.images(),
    }, indent=1))


if __name__ == "__main__":
    main()
