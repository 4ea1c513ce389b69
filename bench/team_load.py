"""Benchmark (issue 16): a team of inspectors on one team project, measured.

    python bench/team_load.py [--workers 5] [--seconds 60] [--out FILE] [--no-kill]
                              [--no-restart] [--down-s 2] [--images 24] [--fast] [--seed 0]
                              [--claim-expiry-s 15]

Starts a private PostgreSQL (isegui.testing.pg_server.LocalServer, fsync on unless --fast), makes a
team project with images, classes and one inspector login per worker, then starts N inspector
processes (this script with --worker). Each has its own store connection and ChangeFeed, like a
window, and edits as fast as it can until the run ends: it opens an image (claims it; mostly
its own images, sometimes another's, taking it over when someone holds it), does a run of
edits there - create (most), drag and change class (update with the version it saw), delete
(with that version), undo (of its own last step on the image: delete a created one, restore a
deleted one, revert an update; with the version of its own last step) - every edit one
transaction, and polls its feed between edits (timeout 0, as a window's timer does, only more
often), reloading the image when another client changed it.

Every committed step goes to a JSON-lines log per worker as soon as the store call returns
(created instances carry a unique tag in track_id), and so does every step that was refused
(StaleEdit), lost (PostgresConnectionLost) or failed. Afterwards the union of the logs is
checked against the database, instance by instance: committed creates + restores - deletes
says whether it must exist; its version must be 1 + its committed updates, its box and class
those of the last committed update (or the create); no two committed creates may have got the
same (image, id); no two committed updates may have started from the same version; no row may
exist that no committed step made (half written). A step the client was told was not saved
but that is in the database all the same (its tag is there, a later committed step started
from the version it made, ...) is counted as saved and reported ("said_lost_but_saved").

At 1/3 of the run one worker starts a transaction that adds instances in batches of 10 (tags of
their own) and says so through a file; it is killed with SIGKILL while it is adding more. The
others go on; none of its batch may exist afterwards. At 2/3 the server is stopped
(pg_ctl stop -m fast) and started again after --down-s: a step in flight is lost whole and said
to be (PostgresConnectionLost), the stores reconnect by themselves, the feeds report EVERYTHING
(reload all); each worker says both on stderr (collected in "restart.said").

"save_ms" is the wall time of one edit's store call (one transaction, COMMIT included;
"claim_ms" the same for claims, take-overs and releases);
"seen_by_others_ms" the time from the end of that call in the editor to the end of the feed
poll that returned its notice in another worker (same machine, same wall clock; a notice can
come back before the editor's call returns, so small negative values are possible). It includes
the receiver's polling delay ("poll_gap_ms_p50": the receiver's own edits in between). Notices
are matched in order to the sender's commits on that image; commits whose notice may have gone
missing because the server stopped (the receivers reload everything then) are counted apart
("not_seen_around_restart"); "never_seen" counts the others.
Claims are enforced by the server (a trigger refuses writes to an image another member
holds): "edits.on_images_claimed_by_another" counts the edits committed on an image someone
else had claimed before the edit began (only a step whose statements ran before the take-over
committed can), and "failed" the steps the server refused.
Prints one JSON object (and writes it to --out FILE); exit status 1 when the check finds a lost,
duplicated, half-written or wrong instance. Linux/macOS only (SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROJECT = "bench"
DATABASE = "team"
CLASSES = ("scratch", "dent", "stain", "crack")
IMAGE_SIZE = 1000
TAG_SPAN = 10_000_000  # worker k's creates carry track_id (k + 1) * TAG_SPAN + n
KILL_TAG = 900_000_000  # the killed worker's in-flight batch: track_id KILL_TAG + n
# the edits an inspector makes, and how often
EDIT_MIX = (("create", 0.40), ("drag", 0.22), ("change_class", 0.10), ("delete", 0.12),
            ("undo", 0.16))
MAX_PER_IMAGE = 60  # past this a create becomes a delete: images stay a realistic size
OTHER_IMAGE = 0.15  # how often an inspector opens another's image
TAKE_OVER = 0.5  # and takes it over when someone holds it
RUN_OF_EDITS = (5, 25)  # edits on one image before opening the next
DRAIN_S = 1.0  # after the run, how long workers go on listening (no edits)
NEAR_RESTART_S = 1.0  # visibility: a commit this close before the stop may go unannounced
LABEL_EVENTS = ("create", "update", "delete", "restore")


# ---------------------------------------------------------------------------- the inspector

class Inspector:
    """One worker process: a store connection, a change feed, a log of committed steps."""

    def __init__(self, cfg: dict[str, Any]):
        from isegui.core.store.team import ChangeFeed, open_team_store
        self.k, self.workdir = int(cfg["index"]), Path(cfg["workdir"])
        self.rng = random.Random(cfg["seed"] * 1009 + self.k)
        self.store = open_team_store(cfg["url"], PROJECT)
        self.feed = ChangeFeed(self.store)
        self.user = self.store.user
        self.classes: list[int] = cfg["classes"]
        images: list[int] = cfg["images"]
        self.own = [i for n, i in enumerate(images) if n % cfg["workers"] == self.k]
        self.others = [i for i in images if i not in self.own]
        self.log = open(self.workdir / f"worker-{self.k}.jsonl", "w", encoding="utf-8",
                        buffering=1)  # one write per line: a SIGKILL leaves whole lines
        self.kill_request = self.workdir / f"kill-{self.k}"
        self.image: int | None = None
        self.cache: dict[int, Any] = {}  # the open image's instances, as this window sees them
        self.undo: list[tuple[Any, ...]] = []  # this window's steps on the open image
        self.mine: dict[int, int] = {}  # instance id -> version after this window's last step
        self.run_left = 0
        self.seq = 0
        self.pending: dict[str, Any] = {}
        self.counts: Counter[str] = Counter()
        self.seen: list[tuple[float, str, int | None]] = []
        self.poll_gaps: list[float] = []
        self.last_poll: float | None = None
        self.reconnects_said = 0
        self.feed_lost_at: float | None = None
        self.everything: list[float] = []
        self.said: list[tuple[float, str]] = []
        self.need_reload = False

    # -- bookkeeping

    def write(self, record: dict[str, Any]) -> None:
        self.log.write(json.dumps(record) + "\n")

    def say(self, message: str) -> None:
        """What the window would show, on stderr and in the summary."""
        now = time.time()
        self.said.append((now, message))
        print(f"{self.user}: {message}", file=sys.stderr, flush=True)
        self.write({"ev": "said", "t": now, "msg": message})

    # -- the loop

    def run(self, start: float, end: float) -> None:
        while time.time() < start:
            time.sleep(min(0.01, max(0.0, start - time.time())))
        while time.time() < end:
            self.poll()
            if self.kill_request.exists():
                self.in_flight_batch()  # never returns: the parent kills this process
            if self.image is None or self.run_left <= 0:
                self.open_image()
                continue
            self.edit()
        deadline = time.time() + DRAIN_S
        while time.time() < deadline:
            self.poll()
            time.sleep(0.01)

    def poll(self) -> None:
        from isegui.core.store.engine import PostgresFailure
        from isegui.core.store.team import EVERYTHING
        now = time.time()
        if self.last_poll is not None:
            self.poll_gaps.append(now - self.last_poll)
        self.last_poll = now
        try:
            changes = self.feed.poll(0)
        except PostgresFailure as exc:
            self.counts["feed_failed"] += 1
            self.write({"ev": "feed_failed", "t": now, "error": str(exc)[:200]})
            changes = []
        seen_at = time.time()
        if self.feed.lost is not None and self.feed_lost_at is None:
            self.feed_lost_at = seen_at
            self.say(f"lost the team's changes ({self.feed.lost}); trying again")
        reload = self.need_reload
        claim_changed = False
        for change in changes:
            if change.table == EVERYTHING:
                self.everything.append(seen_at)
                self.feed_lost_at = None
                self.say("the team's changes are back: reloading everything")
                reload = True
            elif change.table == "instances":
                self.seen.append((seen_at, change.by, change.image_id))
                reload = reload or change.image_id == self.image
            elif change.table == "images" and change.image_id == self.image:
                claim_changed = True
        if self.store.engine.reconnects != self.reconnects_said:
            self.reconnects_said = self.store.engine.reconnects
            self.say(f"reconnected to the team's database (reconnect {self.reconnects_said})")
        if claim_changed and self.image is not None:
            try:
                holder = self.store.claims().get(self.image)
            except PostgresFailure:
                holder = None
            if holder is not None and holder[0] != self.user:
                self.counts["taken_from_me"] += 1
                self.write({"ev": "taken_from_me", "t": seen_at, "image": self.image,
                            "by": holder[0]})
                self.image = None  # the window turns read-only: open another image
                return
        if reload and self.image is not None:
            self.reload()

    def reload(self) -> None:
        from isegui.core.store.engine import PostgresFailure
        try:
            assert self.image is not None
            self.cache = {i.id: i for i in self.store.instances(self.image)}
            self.need_reload = False
        except PostgresFailure:
            self.need_reload = True

    def open_image(self) -> None:
        from isegui.core.store.engine import PostgresFailure
        try:
            if self.image is not None:
                self.timed("release", self.store.release_image, self.image)
                self.write({"ev": "release", "image": self.image, "t1": time.time()})
            target = self.rng.choice(self.others if self.others and
                                     self.rng.random() < OTHER_IMAGE else self.own)
            if self.claim(target, False) is not None:
                if target not in self.own and self.rng.random() >= TAKE_OVER:
                    target = self.rng.choice(self.own)  # leave it to them: back to my own
                    if self.claim(target, False) is not None:
                        self.claim(target, True)
                else:
                    self.claim(target, True)
            self.image = target
            self.cache = {i.id: i for i in self.store.instances(target)}
        except PostgresFailure as exc:  # the server is away: the next turn tries again
            self.counts["failed"] += 1
            self.write({"ev": "failed", "kind": "open_image", "t": time.time(),
                        "error": str(exc)[:200]})
            self.image = None
            time.sleep(0.05)
            return
        self.undo, self.mine, self.need_reload = [], {}, False
        self.run_left = self.rng.randint(*RUN_OF_EDITS)

    def claim(self, image: int, take_over: bool) -> Any:
        held = self.timed("take_over" if take_over else "claim", self.store.claim_image, image,
                          take_over)
        self.write({"ev": "claim", "image": image, "take_over": take_over,
                    "held_by": held[0] if held else None, "t1": time.time()})
        return held

    def timed(self, kind: str, fn: Any, *args: Any) -> Any:
        t0, p0 = time.time(), time.perf_counter()
        result = fn(*args)
        ms = (time.perf_counter() - p0) * 1000
        self.counts[kind] += 1
        self.write({"ev": "tx", "kind": kind, "t0": t0, "t1": time.time(), "ms": ms})
        return result

    # -- the edits

    def edit(self) -> None:
        from isegui.core.errors import StaleEdit
        from isegui.core.store.engine import PostgresConnectionLost, PostgresFailure
        self.run_left -= 1
        kind = self.rng.choices([k for k, _ in EDIT_MIX], [w for _, w in EDIT_MIX])[0]
        if kind in ("drag", "change_class", "delete") and not self.cache:
            kind = "create"
        if kind == "create" and len(self.cache) >= MAX_PER_IMAGE:
            kind = "delete"
        if kind == "undo" and not self.undo:
            kind = "create"
        self.pending = {}  # the step as it will be logged once committed
        t0, p0 = time.time(), time.perf_counter()
        try:
            getattr(self, f"do_{kind}")()
        except StaleEdit as exc:
            self.counts["stale"] += 1
            self.write({"ev": "stale", "kind": kind, "step": self.pending, "t0": t0,
                        "t1": time.time(), "by": exc.by})
            self.reload()  # the window reloads and shows who changed it
            return
        except PostgresConnectionLost as exc:
            self.counts["lost"] += 1
            self.write({"ev": "lost", "kind": kind, "step": self.pending, "t0": t0,
                        "t1": time.time(), "error": str(exc)[:200]})
            self.say(f"{kind} was not saved: {exc}")
            self.need_reload = True
            return
        except PostgresFailure as exc:
            self.counts["failed"] += 1
            self.write({"ev": "failed", "kind": kind, "step": self.pending, "t0": t0,
                        "t1": time.time(), "error": str(exc)[:200]})
            self.need_reload = True
            time.sleep(0.05)
            return
        ms = (time.perf_counter() - p0) * 1000
        self.counts[kind] += 1
        self.write({**self.pending, "kind": kind, "t0": t0, "t1": time.time(), "ms": ms})

    def _box(self) -> tuple[int, int, int, int]:
        x, y = self.rng.randrange(0, IMAGE_SIZE - 100), self.rng.randrange(0, IMAGE_SIZE - 100)
        return x, y, x + self.rng.randrange(8, 100), y + self.rng.randrange(8, 100)

    def do_create(self) -> None:
        from shapely.geometry import box
        tag = (self.k + 1) * TAG_SPAN + self.seq
        self.seq += 1
        bounds, cls = self._box(), self.rng.choice(self.classes)
        self.pending = {"ev": "create", "image": self.image, "tag": tag, "v": 1, "cls": cls,
                        "bounds": list(bounds)}
        inst = self.store.add_instance(self.image, cls, box(*bounds), track_id=tag)
        self.pending["id"] = inst.id
        self.cache[inst.id], self.mine[inst.id] = inst, inst.version
        self.undo.append(("create", inst.id))

    def do_drag(self) -> None:
        from shapely.geometry import box
        inst = self.rng.choice(list(self.cache.values()))
        x0, y0, x1, y1 = (int(v) for v in inst.shape.bounds)
        dx = max(-x0, min(IMAGE_SIZE - x1, self.rng.randint(-25, 25)))
        dy = max(-y0, min(IMAGE_SIZE - y1, self.rng.randint(-25, 25))) or 1
        bounds = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        self._update(inst.id, inst.version, {"shape": box(*bounds)}, {"bounds": list(bounds)},
                     {"shape": inst.shape})

    def do_change_class(self) -> None:
        inst = self.rng.choice(list(self.cache.values()))
        cls = self.rng.choice([c for c in self.classes if c != inst.class_id])
        self._update(inst.id, inst.version, {"class_id": cls}, {"cls": cls},
                     {"class_id": inst.class_id})

    def _update(self, instance_id: int, version: int, change: dict[str, Any],
                what: dict[str, Any], revert: dict[str, Any] | None, **extra: Any) -> None:
        self.pending = {"ev": "update", "image": self.image, "id": instance_id,
                        "from": version, "to": version + 1, **what, **extra}
        new = self.store.update_instance(self.image, instance_id, expected_version=version,
                                         **change)
        self.pending["to"] = new.version  # the check compares it with from + 1
        self.cache[new.id], self.mine[new.id] = new, new.version
        if revert is not None:  # what undo puts back
            self.undo.append(("update", new.id, revert))

    def _delete(self, instance_id: int, version: int, **extra: Any) -> Any:
        self.pending = {"ev": "delete", "image": self.image, "id": instance_id, "v": version,
                        **extra}
        (gone,) = self.store.delete_instances(self.image, [instance_id],
                                              expected_versions={instance_id: version})
        self.cache.pop(instance_id, None)
        self.mine.pop(instance_id, None)
        return gone

    def do_delete(self) -> None:
        inst = self.rng.choice(list(self.cache.values()))
        self.undo.append(("delete", self._delete(inst.id, inst.version)))

    def do_undo(self) -> None:
        entry = self.undo.pop()
        if entry[0] == "delete":  # put it back, its own id and version
            inst = entry[1]
            self.pending = {"ev": "restore", "image": self.image, "id": inst.id,
                            "v": inst.version, "undo": "delete"}
            self.store.restore_instances([inst])
            self.cache[inst.id], self.mine[inst.id] = inst, inst.version
            return
        instance_id = entry[1]
        version = self.mine.get(instance_id, 0)  # refused if someone changed it since mine
        if entry[0] == "create":
            self._delete(instance_id, version, undo="create")
            return
        old = entry[2]
        what = ({"bounds": [int(v) for v in old["shape"].bounds]} if "shape" in old
                else {"cls": old["class_id"]})
        self._update(instance_id, version, old, what, None, undo="update")

    def in_flight_batch(self) -> None:
        """One transaction that adds instances in batches of 10 and never ends: after the
        first 50 it says so (the marker file, rewritten after every batch) and goes on until
        the parent's SIGKILL."""
        from shapely.geometry import box

        from isegui.core.entities import Source
        image = self.image if self.image is not None else self.own[0]
        marker = self.workdir / f"in-transaction-{self.k}"
        with self.store.transaction():
            backend = int(self.store.engine.conn.info.backend_pid)
            written = 0
            while True:
                self.store.add_instances(image, [
                    (self.classes[0], box(*self._box()), None, KILL_TAG + written + j,
                     Source.MANUAL, False) for j in range(10)])
                written += 10
                if written >= 50:
                    tmp = marker.with_suffix(".tmp")
                    tmp.write_text(json.dumps({"pid": os.getpid(), "backend_pid": backend,
                                               "image": image, "rows": written,
                                               "t": time.time()}))
                    os.replace(tmp, marker)
                if written >= 5000:
                    time.sleep(0.01)

    def summary(self) -> dict[str, Any]:
        return {"index": self.k, "user": self.user, "reconnects": self.store.engine.reconnects,
                "everything": self.everything, "said": self.said, "seen": self.seen,
                "poll_gaps_ms": _stats([g * 1000 for g in self.poll_gaps]),
                "counts": dict(self.counts), "ended": time.time()}


def worker_main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    inspector = Inspector(cfg)
    print("ready", flush=True)
    go = json.loads(sys.stdin.readline())
    inspector.run(go["start"], go["end"])
    inspector.log.close()
    summary = Path(cfg["workdir"]) / f"worker-{inspector.k}.summary.json"
    tmp = summary.with_suffix(".tmp")
    tmp.write_text(json.dumps(inspector.summary()))
    os.replace(tmp, summary)
    try:
        inspector.feed.close()
        inspector.store.close()
    except Exception:  # noqa: BLE001 (closing; the results are written)
        pass
    return 0


# ---------------------------------------------------------------------------- the parent

def _stats(values: list[float]) -> dict[str, Any]:
    """p50/p95/p99/max (linear between ranks) of a list, rounded; n."""
    if not values:
        return {"n": 0}
    xs = sorted(values)

    def pct(q: float) -> float:
        pos = (len(xs) - 1) * q
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
    return {"n": len(xs), "p50": round(pct(0.5), 2), "p95": round(pct(0.95), 2),
            "p99": round(pct(0.99), 2), "max": round(xs[-1], 2)}


def _sleep_until(t: float) -> None:
    while (left := t - time.time()) > 0:
        time.sleep(min(left, 0.05))


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psycopg
    return {"cores": os.cpu_count(), "cpu": model or platform.processor(),
            "platform": platform.platform(), "python": platform.python_version(),
            "psycopg": psycopg.__version__}


def _setup(server: Any, workers: int, n_images: int, claim_expiry_s: int) -> dict[str, Any]:
    """The team project: images, classes, one inspector login per worker; claims that run
    out after `claim_expiry_s` without renewal."""
    from isegui.core.store.team import add_member, open_team_store
    from isegui.core.store.team_rules import CLAIM_EXPIRY_KEY
    server.create_database(DATABASE)
    store = open_team_store(server.url(DATABASE), PROJECT, create=True)
    try:
        store.set_meta(CLAIM_EXPIRY_KEY, str(int(claim_expiry_s)))
        classes = [store.add_class(name).id for name in CLASSES]
        images = [store.add_image(f"line/frame_{n:03d}.png", IMAGE_SIZE, IMAGE_SIZE).id
                  for n in range(n_images)]
        logins = [f"inspector_{k}" for k in range(workers)]
        for login in logins:
            server.create_role(login)
            add_member(store, login, "inspector")
    finally:
        store.close()
    return {"classes": classes, "images": images, "logins": logins}


def _claims_left(server: Any, login: str) -> dict[str, Any]:
    """What the SIGKILLed worker still holds at the end: rows naming it, and how many of them
    the store still counts as claims (none once claim_expiry_s has passed since its last)."""
    from isegui.core.store.team import open_team_store
    store = open_team_store(server.url(DATABASE), PROJECT)
    try:
        rows = store.engine.query("SELECT id, claimed_at FROM images WHERE claimed_by = ?",
                                  (login,))
        live = [i for i, (who, _) in store.claims().items() if who == login]
        return {"rows_naming_it": len(rows), "live_claims": len(live),
                "last_claimed_at": max((str(r[1]) for r in rows), default=None)}
    finally:
        store.close()


def _server_info(server: Any, fast: bool) -> dict[str, Any]:
    import psycopg
    with psycopg.connect(server.url(DATABASE), autocommit=True) as conn:
        show = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in
                ("server_version", "fsync", "synchronous_commit", "full_page_writes",
                 "wal_level", "shared_buffers")}
    return {"postgresql": show.pop("server_version"), **show, "fast": fast,
            "host": "127.0.0.1, same machine (LocalServer)"}


def _kill(server: Any, proc: subprocess.Popen[str], k: int, workdir: Path,
          rng: random.Random) -> dict[str, Any]:
    """Ask worker k for its in-flight batch, SIGKILL it while it adds more."""
    import psycopg
    marker = workdir / f"in-transaction-{k}"
    (workdir / f"kill-{k}").touch()
    deadline = time.time() + 15
    while not marker.exists():
        if time.time() > deadline or proc.poll() is not None:
            return {"worker": k, "done": False, "why": "it never said it was in a transaction"}
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.03))
    os.kill(proc.pid, signal.SIGKILL)
    t_kill = time.time()
    proc.wait(10)
    said = json.loads(marker.read_text())
    gone_s = None
    with psycopg.connect(server.url(DATABASE), autocommit=True) as conn:
        while time.time() - t_kill < 10:
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                (said["backend_pid"],)).fetchone():
                gone_s = time.time() - t_kill
                break
            time.sleep(0.005)
    return {"worker": k, "done": True, "t": t_kill, "image": said["image"],
            "batch_rows_at_least": said["rows"],
            "server_session_gone_ms": None if gone_s is None else round(gone_s * 1000, 1)}


def _restart(server: Any, fast: bool, down_s: float) -> dict[str, float]:
    t0 = time.time()
    server.halt()
    t1 = time.time()
    time.sleep(down_s)
    server.resume(fast=fast)
    t2 = time.time()
    return {"halt_t": t0, "down_t": t1, "up_t": t2}


def _read_log(path: Path) -> tuple[list[dict[str, Any]], int]:
    records, torn = [], 0
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                torn += 1
    return records, torn


def _db_rows(server: Any) -> tuple[dict[tuple[int, int], dict[str, Any]], int,
                                   dict[int, int]]:
    import psycopg
    import shapely
    schema = f"isegui_{PROJECT}"
    with psycopg.connect(server.url(DATABASE), autocommit=True) as conn:
        rows = conn.execute(f"SELECT image_id, id, track_id, version, class_id, shape FROM "
                            f"{schema}.instances").fetchall()
        next_ids = dict(conn.execute(f"SELECT id, next_instance_id FROM {schema}.images")
                        .fetchall())
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for image, iid, tag, version, cls, shape in rows:
        bounds = [int(round(v)) for v in shapely.from_wkb(bytes(shape)).bounds]
        found[(image, iid)] = {"tag": tag, "v": version, "cls": cls, "bounds": bounds}
    return found, len(rows) - len(found), next_ids


def _steps() -> dict[str, Any]:
    return {"creates": [], "updates": [], "deletes": [], "restores": []}


def _was_saved(step: dict[str, Any], s: dict[str, Any], row: dict[str, Any] | None) -> bool:
    """Whether a step that was not reported committed (lost, failed, refused) is in the
    database all the same, judged by the committed steps on its instance and its row."""
    exists = len(s["creates"][:1]) + len(s["restores"]) - len(s["deletes"])
    if step["ev"] == "update":
        v = step["from"]
        if any(u["from"] == v for u in s["updates"]):
            return False  # someone else's committed update started from that version
        built_on = any(u["from"] == v + 1 for u in s["updates"]) or any(
            d["v"] == v + 1 for d in s["deletes"] + s["restores"])
        return built_on or (row is not None and row["v"] == 2 + len(s["updates"]))
    if step["ev"] == "delete":
        return exists == 1 and row is None
    if step["ev"] == "restore":
        return exists == 0 and row is not None
    return False


def _check(logs: dict[int, list[dict[str, Any]]], db: dict[tuple[int, int], dict[str, Any]],
           db_duplicates: int = 0, next_ids: dict[int, int] | None = None) -> dict[str, Any]:
    """The union of the committed steps against the database rows (image_id, id) -> tag, v,
    cls, bounds; instance by instance. A step reported lost, failed or refused that is in
    the database all the same counts as saved (and is counted: the client said otherwise)."""
    steps: dict[tuple[int, int], dict[str, Any]] = defaultdict(_steps)
    uncommitted: list[tuple[str, dict[str, Any]]] = []
    for records in logs.values():
        for r in records:
            if r["ev"] in LABEL_EVENTS:
                steps[(r["image"], r["id"])][r["ev"] + "s"].append(r)
            elif r["ev"] in ("lost", "failed", "stale") and r.get("step", {}).get("ev"):
                uncommitted.append((r["ev"], r["step"]))
    by_tag = {row["tag"]: key for key, row in db.items() if row["tag"] is not None}
    result: Counter[str] = Counter()
    examples: list[str] = []

    def bad(what: str, key: tuple[int, int], detail: str = "") -> None:
        result[what] += 1
        if len(examples) < 10:
            examples.append(f"{what}: image {key[0]} instance {key[1]} {detail}".strip())

    for outcome, step in uncommitted:
        if step["ev"] == "create":  # saved if its tag is in the database
            key = by_tag.get(step["tag"])
            saved = key is not None and key[0] == step["image"]
        else:
            key = (step["image"], step["id"])
            saved = _was_saved(step, steps[key], db.get(key))
        if not saved or key is None:
            result[f"{outcome}_and_not_saved"] += 1
            continue
        result[f"{outcome}_but_saved"] += 1  # the client was told it was not saved
        if len(examples) < 10:
            examples.append(f"{outcome}_but_saved: image {key[0]} instance {key[1]} "
                            f"({step['ev']})")
        steps[key][step["ev"] + "s"].append({**step, "id": key[1]})
    expected = 0
    for key, s in steps.items():
        row = db.get(key)
        if len(s["creates"]) > 1:
            bad("duplicated_ids", key, f"created by {len(s['creates'])} committed steps")
        froms = Counter(u["from"] for u in s["updates"])
        if any(n > 1 for n in froms.values()):
            bad("conflicting_updates", key, "two committed updates from one version")
        if any(u["to"] != u["from"] + 1 for u in s["updates"]):
            bad("version_skips", key)
        if not s["creates"]:
            bad("steps_without_create", key)
            continue
        exists = 1 + len(s["restores"]) - len(s["deletes"])
        if exists not in (0, 1):
            bad("inconsistent_log", key, f"creates+restores-deletes = {exists}")
            continue
        expected += exists
        if exists and row is None:
            bad("lost", key, f"(tag {s['creates'][0]['tag']})")
        elif not exists and row is not None:
            bad("deleted_but_present", key)
        elif exists:
            create = s["creates"][0]
            ups = sorted(s["updates"], key=lambda u: u["to"])
            last_box = next((u["bounds"] for u in reversed(ups) if "bounds" in u),
                            create["bounds"])
            last_cls = next((u["cls"] for u in reversed(ups) if "cls" in u), create["cls"])
            if row["tag"] != create["tag"]:
                bad("wrong_instance", key, f"tag {row['tag']} != {create['tag']}")
            elif row["v"] != 1 + len(ups):
                bad("wrong_version", key, f"{row['v']} != {1 + len(ups)}")
            elif row["bounds"] != last_box or row["cls"] != last_cls:
                bad("wrong_state", key, f"{row['bounds']}/{row['cls']} != "
                                        f"{last_box}/{last_cls}")
    kill_rows = 0
    for key, row in db.items():
        if row["tag"] is not None and row["tag"] >= KILL_TAG:
            kill_rows += 1
        elif key not in steps:
            bad("unlogged_rows", key, f"(tag {row['tag']})")
    max_ids: dict[int, int] = defaultdict(int)
    for (image, iid) in list(steps) + list(db):
        max_ids[image] = max(max_ids[image], iid)
    behind = sum(1 for image, top in max_ids.items()
                 if next_ids is not None and next_ids.get(image, 0) <= top)
    return {"lost": result["lost"], "duplicated_ids": result["duplicated_ids"] + db_duplicates,
            "half_written": kill_rows + result["unlogged_rows"],
            "kill_batch_rows_found": kill_rows, "unlogged_rows": result["unlogged_rows"],
            "deleted_but_present": result["deleted_but_present"],
            "wrong_instance": result["wrong_instance"],
            "wrong_version": result["wrong_version"], "wrong_state": result["wrong_state"],
            "conflicting_updates": result["conflicting_updates"],
            "version_skips": result["version_skips"],
            "steps_without_create": result["steps_without_create"],
            "inconsistent_log": result["inconsistent_log"],
            "next_id_not_above_ids": behind,
            "said_lost_but_saved": result["lost_but_saved"],
            "said_lost_and_not_saved": result["lost_and_not_saved"],
            "failed_but_saved": result["failed_but_saved"],
            "refused_stale_but_saved": result["stale_but_saved"],
            "instances_in_db": len(db), "instances_expected": expected,
            "instances_ever_created": sum(1 for s in steps.values() if s["creates"]),
            "examples": examples}


def _match(made: list[tuple[float, float]], seen: list[float],
           latencies: list[float]) -> tuple[int, int]:
    """Notices to commits, in order (PostgreSQL delivers them in commit order); a notice
    seen before the commit began is not its own. (commits never seen, notices left over)"""
    i = j = extra = 0
    while i < len(made) and j < len(seen):
        if seen[j] < made[i][0]:
            extra += 1
            j += 1
            continue
        latencies.append((seen[j] - made[i][1]) * 1000)
        i += 1
        j += 1
    return len(made) - i, extra + len(seen) - j


def _visibility(logs: dict[int, list[dict[str, Any]]], summaries: dict[int, dict[str, Any]],
                users: list[str], restart: dict[str, float] | None) -> dict[str, Any]:
    """Each notice a receiver saw, matched in order to the sender's commits on that image.
    With a restart, two segments per stream: commits that ended before the server was up
    again against notices before the receiver's feed reported EVERYTHING, and the rest;
    commits of the second that began before that report may have been committed before the
    feed listened again (the reload covers them): only as many as it saw are matched."""
    commits: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for k, records in logs.items():
        for r in records:
            if r["ev"] in LABEL_EVENTS:
                commits[(users[k], r["image"])].append((r["t0"], r["t1"]))
    latencies: list[float] = []
    unseen = around = extra = 0
    for rk, summary in summaries.items():
        notices: dict[tuple[str, int], list[float]] = defaultdict(list)
        for t, by, image in summary["seen"]:
            notices[(by, image)].append(t)
        relisten = float("inf")
        if restart is not None:
            relisten = min((t for t in summary["everything"] if t >= restart["halt_t"]),
                           default=float("inf"))
        for (by, image), made in commits.items():
            if by == users[rk]:
                continue
            made = sorted(made, key=lambda c: c[1])
            seen = sorted(notices.pop((by, image), []))
            if restart is None:
                missed, left = _match(made, seen, latencies)
                unseen, extra = unseen + missed, extra + left
                continue
            before = [c for c in made if c[1] < restart["up_t"]]
            missed, left = _match(before, [t for t in seen if t < relisten], latencies)
            near = sum(1 for c in before[len(before) - missed:]
                       if c[1] >= restart["halt_t"] - NEAR_RESTART_S)
            unseen, around, extra = unseen + missed - near, around + near, extra + left
            after = [c for c in made if c[1] >= restart["up_t"]]
            sure = [c for c in after if c[0] >= relisten]
            maybe = [c for c in after if c[0] < relisten]
            later = [t for t in seen if t >= relisten]
            delivered = max(0, min(len(maybe), len(later) - len(sure)))
            around += len(maybe) - delivered
            missed, left = _match(maybe[len(maybe) - delivered:] + sure, later, latencies)
            unseen, extra = unseen + missed, extra + left
        extra += sum(len(v) for v in notices.values())
    gaps = [s["poll_gaps_ms"] for s in summaries.values() if s["poll_gaps_ms"].get("n")]
    return {**_stats(latencies), "never_seen": unseen,
            "not_seen_around_restart": around, "unmatched_notices": extra,
            "receivers": len(summaries),
            "poll": "between edits, timeout 0 (the time includes the receiver's own edit)",
            "poll_gap_ms_p50": round(sorted(g["p50"] for g in gaps)[len(gaps) // 2], 2)
            if gaps else None}


def run_bench(workers: int = 5, seconds: float = 60.0, *, kill: bool = True,
              restart: bool = True, fast: bool = False, down_s: float = 2.0,
              n_images: int = 24, seed: int = 0, workdir: Path | None = None,
              claim_expiry_s: int = 15) -> dict[str, Any]:
    from isegui.testing.pg_server import LocalServer
    if workers < 1 or (kill and workers < 2):
        raise ValueError("at least one worker, two when one is killed")
    n_images = max(n_images, workers)
    rng = random.Random(seed)
    own_workdir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="team-load-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    server = LocalServer.start(fast=fast)
    procs: list[subprocess.Popen[str]] = []
    errs = []
    try:
        setup = _setup(server, workers, n_images, claim_expiry_s)
        info = _server_info(server, fast)
        for k in range(workers):
            cfg = {"index": k, "workers": workers, "workdir": str(work), "seed": seed,
                   "url": server.url(DATABASE, user=setup["logins"][k]),
                   "classes": setup["classes"], "images": setup["images"]}
            path = work / f"worker-{k}.config.json"
            path.write_text(json.dumps(cfg))
            err = open(work / f"worker-{k}.err", "w", encoding="utf-8")
            errs.append(err)
            procs.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True))
        for k, proc in enumerate(procs):
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker {k} did not start: "
                                   f"{(work / f'worker-{k}.err').read_text()[-2000:]}")
        t_start = time.time() + 0.3
        t_end = t_start + seconds
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"start": t_start, "end": t_end}) + "\n")
            proc.stdin.flush()
        victim = workers - 1
        kill_result: dict[str, Any] = {"done": False, "why": "--no-kill"}
        restart_times: dict[str, float] | None = None
        if kill:
            _sleep_until(t_start + seconds / 3)
            kill_result = _kill(server, procs[victim], victim, work, rng)
        if restart:
            _sleep_until(t_start + 2 * seconds / 3)
            restart_times = _restart(server, fast, down_s)
        _sleep_until(t_end)
        stuck = []
        for k, proc in enumerate(procs):
            try:
                proc.wait(DRAIN_S + 30)
            except subprocess.TimeoutExpired:
                stuck.append(k)
                proc.kill()
                proc.wait(10)
        (work / "timeline.json").write_text(json.dumps({  # the logs can be looked at again
            "start": t_start, "end": t_end, "kill": kill_result, "restart": restart_times}))
        logs, torn = {}, 0
        for k in range(workers):
            logs[k], n = _read_log(work / f"worker-{k}.jsonl")
            torn += n
        summaries = {k: json.loads((work / f"worker-{k}.summary.json").read_text())
                     for k in range(workers) if (work / f"worker-{k}.summary.json").exists()}
        claims_left = _claims_left(server, setup["logins"][victim]) if kill else None
        db, db_duplicates, next_ids = _db_rows(server)
        check = _check(logs, db, db_duplicates, next_ids)
        result = _report(workers, seconds, info, logs, summaries, setup["logins"], check,
                         kill_result, restart_times, t_start, t_end, down_s, victim, stuck,
                         torn, work)
        if claims_left is not None:
            result["killed_worker_claims"] = {"claim_expiry_s": claim_expiry_s, **claims_left}
        load_after = os.getloadavg()
        result["machine"] = {**_machine(), "load_average_before": [round(v, 2) for v in
                                                                   load_before],
                             "load_average_after": [round(v, 2) for v in load_after]}
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for err in errs:
            err.close()
        server.stop()
        if own_workdir:
            shutil.rmtree(work, ignore_errors=True)


def _report(workers: int, seconds: float, info: dict[str, Any],
            logs: dict[int, list[dict[str, Any]]], summaries: dict[int, dict[str, Any]],
            users: list[str], check: dict[str, Any], kill_result: dict[str, Any],
            restart_times: dict[str, float] | None, t_start: float, t_end: float,
            down_s: float, victim: int, stuck: list[int], torn: int,
            work: Path) -> dict[str, Any]:
    label = [r for records in logs.values() for r in records if r["ev"] in LABEL_EVENTS]
    txs = [r for records in logs.values() for r in records if r["ev"] == "tx"]
    by_kind = Counter(r["kind"] for r in label) + Counter(r["kind"] for r in txs)
    outcome = Counter(r["ev"] for records in logs.values() for r in records)
    span = max(t_end - t_start, 1e-9)
    buckets = Counter(int((r["t1"] - t_start) // 5) for r in label + txs
                      if t_start <= r["t1"] < t_end)
    committed = len(label) + len(txs)
    edits = {"committed": committed, "per_s": round(committed / span, 1),
             "label_edits": len(label), "label_per_s": round(len(label) / span, 1),
             "by_kind": dict(sorted(by_kind.items())),
             "stale_refused": outcome["stale"], "lost_in_restart": outcome["lost"],
             "failed": outcome["failed"], "taken_from_me": outcome["taken_from_me"],
             "on_images_claimed_by_another": _after_take_over(logs),
             "per_s_every_5s": [round(buckets[b] / 5, 1) for b in range(int(span // 5))],
             "per_worker": [sum(1 for r in logs[k] if r["ev"] in LABEL_EVENTS or
                                r["ev"] == "tx") for k in range(workers)]}
    alive = [k for k in range(workers) if not (kill_result.get("done") and k == victim)]
    result: dict[str, Any] = {
        "benchmark": "team_load", "date": time.strftime("%Y-%m-%d"), "workers": workers,
        "seconds": seconds, "server": info, "edits": edits,
        "save_ms": _stats([r["ms"] for r in label]),
        "claim_ms": _stats([r["ms"] for r in txs]),
        "seen_by_others_ms": _visibility(logs, {k: s for k, s in summaries.items()
                                                if k in alive}, users, restart_times),
        "check": check}
    if kill_result.get("done"):
        t_kill = kill_result.pop("t")
        others = [sorted(r["t1"] for r in logs[k] if r["ev"] in LABEL_EVENTS or
                         r["ev"] == "tx") for k in alive]
        pauses = []
        until = min(t_kill + 3, restart_times["halt_t"] if restart_times else t_end)
        for times in others:
            around = [t for t in times if t_kill - 1 <= t <= until]
            pauses += [b - a for a, b in zip(around, around[1:])]
        kill_result.update(
            at_s=round(t_kill - t_start, 2),
            others_committed_next_2s=sum(1 for times in others for t in times
                                         if t_kill <= t < t_kill + 2),
            others_longest_pause_ms=round(max(pauses, default=0) * 1000, 1),
            batch_rows_found=check["kill_batch_rows_found"],
            victim_committed_before=edits["per_worker"][victim])
    result["kill"] = kill_result
    if restart_times is None:
        result["restart"] = {"done": False}
    else:
        up = restart_times["up_t"]
        per_worker = []
        for k in alive:
            s = summaries.get(k, {})
            after = [r["t1"] for r in logs[k] if (r["ev"] in LABEL_EVENTS or r["ev"] == "tx")
                     and r["t1"] > restart_times["down_t"]]
            per_worker.append({
                "worker": k, "reconnects": s.get("reconnects"),
                "feed_reloaded": any(t >= restart_times["halt_t"]
                                     for t in s.get("everything", [])),
                "lost_steps": sum(1 for r in logs[k] if r["ev"] == "lost"),
                "first_commit_after_up_s": round(min(after) - up, 2) if after else None,
                "said": [m for t, m in s.get("said", []) if t >= restart_times["halt_t"]]})
        result["restart"] = {
            "done": True, "at_s": round(restart_times["halt_t"] - t_start, 2),
            "down_s": round(up - restart_times["halt_t"], 2), "asked_down_s": down_s,
            "halt_s": round(restart_times["down_t"] - restart_times["halt_t"], 2),
            "workers_alive": len(alive),
            "reconnected_workers": sum(1 for w in per_worker if (w["reconnects"] or 0) >= 1),
            "feeds_reloaded": sum(1 for w in per_worker if w["feed_reloaded"]),
            "per_worker": per_worker}
    result["problems"] = {"stuck_workers": stuck, "torn_log_lines": torn,
                          "worker_errors": _tracebacks(work, workers)}
    check_ok = all(check[k] == 0 for k in (
        "lost", "duplicated_ids", "half_written", "deleted_but_present", "wrong_instance",
        "wrong_version", "wrong_state", "conflicting_updates", "version_skips",
        "steps_without_create", "inconsistent_log", "next_id_not_above_ids"))
    result["ok"] = bool(check_ok and not stuck and (
        restart_times is None or result["restart"]["reconnected_workers"] == len(alive)))
    return result


def _after_take_over(logs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Edits a worker committed on an image that another held (claimed, not released since)
    when the edit began: the server refuses writes to an image another holds, so only a step
    whose statements ran before the take-over committed can land after it."""
    import bisect
    timeline: dict[int, list[tuple[float, int, bool]]] = defaultdict(list)
    for k, records in logs.items():
        for r in records:
            if r["ev"] == "claim" and (r["take_over"] or r["held_by"] is None):
                timeline[r["image"]].append((r["t1"], k, True))
            elif r["ev"] == "release":
                timeline[r["image"]].append((r["t1"], k, False))
    holders: dict[int, tuple[list[float], list[int | None]]] = {}
    for image, events in timeline.items():
        times, who, holder = [], [], None
        for t, k, claimed in sorted(events):
            if claimed:
                holder = k
            elif holder == k:  # a release ends only the releaser's own claim
                holder = None
            times.append(t)
            who.append(holder)
        holders[image] = (times, who)
    late = []
    for k, records in logs.items():
        for r in records:
            if r["ev"] in LABEL_EVENTS and r["image"] in holders:
                times, who = holders[r["image"]]
                i = bisect.bisect_right(times, r["t0"]) - 1
                if i >= 0 and who[i] not in (None, k):
                    late.append((r["t1"] - times[i]) * 1000)
    return {"n": len(late), "max_ms_after_claim": round(max(late, default=0.0), 1)}


def _tracebacks(work: Path, workers: int) -> list[str]:
    found = []
    for k in range(workers):
        err = work / f"worker-{k}.err"
        text = err.read_text(errors="replace") if err.exists() else ""
        if "Traceback" in text:
            found.append(f"worker {k}: " + text[text.index("Traceback"):][-1500:])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--down-s", type=float, default=2.0,
                        help="how long the server stays stopped at the restart")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--fast", action="store_true",
                        help="fsync off (the tests' server); the default keeps it on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the workers' logs here")
    parser.add_argument("--claim-expiry-s", type=int, default=15,
                        help="claims not renewed for this long run out (the killed worker's)")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    result = run_bench(args.workers, args.seconds, kill=not args.no_kill,
                       restart=not args.no_restart, fast=args.fast, down_s=args.down_s,
                       n_images=args.images, seed=args.seed, workdir=args.workdir,
                       claim_expiry_s=args.claim_expiry_s)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
