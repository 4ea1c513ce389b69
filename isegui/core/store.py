"""The project store: one SQLite file (WAL mode) for a project on one PC, or a PostgreSQL
schema for a team's project (core.sql runs either); every edit one transaction.

Store methods are the only writers of project data. Each public method that changes something
is atomic on its own; `transaction()` groups several into one (an import, a multi-delete).
"""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, TypeAlias

import shapely
from shapely.geometry import MultiPolygon, Polygon

from isegui.core import schema
from isegui.core.entities import (ImageRecord, ImageStatus, Instance, LabelClass, Prediction,
                                  Run, RunStatus, Source, Split, default_color)
from isegui.core.errors import ProjectError, ShapeError, StaleEdit
from isegui.core.geometry import Shape
from isegui.core.sql import Engine, PostgresFailure, SqliteEngine

_INSTANCE_COLUMNS = ("image_id, id, class_id, shape, z, track_id, source, crowd, version, "
                     "edited_by, edited_at, created_by, created_at")
_IMAGE_COLUMNS = "id, path, width, height, split, status"
_PREDICTION_COLUMNS = "id, image_id, run_id, class_id, shape, score"
_RUN_COLUMNS = "id, name, created, status, config, metrics, checkpoint, finished"

# an instance to add: (class_id, shape, z or None for on top, track_id, source, crowd)
NewInstance: TypeAlias = tuple[int | None, Shape, int | None, int | None, Source, bool]


# what a write to the project file can raise when the disk, the share or the file fails
WRITE_FAILURES = (sqlite3.Error, PostgresFailure, OSError)


def write_failure_in_words(exc: BaseException) -> str:
    """Why a project file could not be read or written, for a person: what it means first,
    the system's words after."""
    text = str(exc) or type(exc).__name__
    errno_ = getattr(exc, "errno", None)
    if "full" in text or errno_ == errno.ENOSPC:
        advice = "the disk is full"
    elif "malformed" in text or "not a database" in text:
        advice = "the project file is damaged; restore it from a backup"
    elif "locked" in text or "busy" in text:
        advice = "another program holds the project file"
    elif "readonly" in text or errno_ in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "the project file cannot be written (read-only, or no permission)"
    elif "disk I/O" in text or errno_ in (errno.EIO, errno.ENOENT, errno.ESTALE,
                                          errno.EHOSTDOWN, errno.ENOTCONN):
        advice = "the disk or network share holding the project cannot be reached"
    else:
        advice = "the project file could not be read or written"
    if isinstance(exc, PostgresFailure):
        return f"the team's database could not be reached or refused the change (PostgreSQL: " \
               f"{text})"
    return f"{advice} ({'SQLite' if isinstance(exc, sqlite3.Error) else 'system'}: {text})"


def _refuse_empty(db_path: Path) -> None:
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        raise ProjectError(f"{db_path}: not found") from None
    if size == 0:
        raise ProjectError(f"{db_path}: the project file is empty (0 bytes): it was truncated or "
                           "not copied whole. Restore it from a backup (or a "
                           f"{db_path.name}.v*.bak beside it); isegui will not start a new, empty "
                           "project over it")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, db_path: Path, *, read_only: bool = False, create: bool = False,
                 on_share: bool = False):
        """Open the project file at `db_path`; only `create` makes a new one (an existing but
        empty file is a lost project, never silently started afresh). `on_share`: the file is
        on a network share, where SQLite's write-ahead log is unsafe (every process must be
        on one host), so a rollback journal is used."""
        self.path = db_path
        self.read_only = read_only
        self.on_share = on_share
        if not create:
            _refuse_empty(db_path)
        uri = f"{db_path.resolve().as_uri()}?mode={'ro' if read_only else 'rwc'}"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row  # rows are read by column name
            self.engine: Engine = SqliteEngine(conn)
            conn.execute("PRAGMA busy_timeout = 10000")
            if not create and schema.read_version(self.engine) == 0:
                conn.close()
                raise ProjectError(f"{db_path}: an SQLite file that holds no isegui project; "
                                   "isegui will not turn it into one")
            if not read_only:
                conn.execute(f"PRAGMA journal_mode = {'DELETE' if on_share else 'WAL'}")
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if read_only:
                schema.check_readable(self.engine, str(db_path))
            else:
                schema.migrate(self.engine, str(db_path),
                               backup=lambda: _backup_file(conn, db_path))
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{db_path}: not a readable isegui project file ({exc})") from exc
        self._depth = 0
        self.user = _login_name()

    @classmethod
    def on_engine(cls, engine: Engine, where: str, *, read_only: bool = False,
                  create: bool = False) -> Store:
        """A store in a database other than a project file (a team's PostgreSQL schema);
        `where` names it in messages."""
        store = cls.__new__(cls)
        store.path, store.read_only, store.on_share = Path(where), read_only, False
        store.engine, store._depth = engine, 0
        store.user = str(engine.query("SELECT current_user")[0][0])  # the team member
        if not create and schema.read_version(engine) == 0:
            raise ProjectError(f"{where}: holds no isegui project")
        if read_only:
            schema.check_readable(engine, where)
        else:
            schema.migrate(engine, where)
        return store

    def another(self) -> Store:
        """A second connection to the same store (another writer, as a second PC would be)."""
        if isinstance(self.engine, SqliteEngine):
            return Store(self.path, read_only=self.read_only, on_share=self.on_share)
        from isegui.core.sql import PostgresEngine
        assert isinstance(self.engine, PostgresEngine)
        return Store.on_engine(PostgresEngine(self.engine.url, self.engine.schema),
                               str(self.path), read_only=self.read_only)

    def close(self) -> None:
        self.engine.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all. Nests: only the outermost commits."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.engine.begin()
        self._depth = 1
        try:
            yield
            self.engine.commit()  # a failed COMMIT (disk full) rolls back too
        except BaseException:
            self.engine.rollback()
            raise
        finally:
            self._depth = 0

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside all see the store at one moment, while others go on writing (the
        training data of a team project that is being labeled meanwhile)."""
        if self._depth:  # inside a transaction already: that is one moment
            yield
            return
        self.engine.begin_snapshot()
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            self.engine.rollback()  # nothing was written

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        return self.engine.query(sql, args)

    # ------------------------------------------------------------------ meta

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else default

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction():
            if value is None:
                self.engine.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.engine.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT "
                                    "(key) DO UPDATE SET value = excluded.value", (key, value))

    # ------------------------------------------------------------------ classes

    def classes(self) -> list[LabelClass]:
        return [LabelClass(*r) for r in self._query(
            "SELECT id, name, color FROM classes ORDER BY position, id")]

    def add_class(self, name: str, color: str | None = None) -> LabelClass:
        name = _clean_name(name)
        with self.transaction():
            count = self._query("SELECT COUNT(*), COALESCE(MAX(position), -1) FROM classes")[0]
            color = color or default_color(count[0])
            try:
                class_id = self.engine.insert(
                    "INSERT INTO classes (name, color, position) VALUES (?, ?, ?) RETURNING id",
                    (name, color, count[1] + 1))
            except self.engine.integrity_errors:
                raise ValueError(f"a class named {name!r} already exists") from None
            return LabelClass(class_id, name, color)

    def class_position(self, class_id: int) -> int:
        row = self._query("SELECT position FROM classes WHERE id = ?", (class_id,))
        if not row:
            raise KeyError(f"no class with id {class_id}")
        return int(row[0][0])

    def restore_class(self, cls: LabelClass, position: int) -> None:
        """Put a deleted class back with its own id and place (undo of a delete or merge)."""
        with self.transaction():
            self.engine.execute("INSERT INTO classes (id, name, color, position) "
                                "VALUES (?,?,?,?)", (cls.id, cls.name, cls.color, position))
            self.engine.ids_restored("classes")

    def instances_of_class(self, class_id: int) -> list[Instance]:
        return [_instance(r) for r in self._query(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE class_id = ? ORDER BY image_id, id",
            (class_id,))]

    def set_instance_classes(self, keys: Iterable[tuple[int, int]], class_id: int | None) -> None:
        """Give the instances (image_id, instance_id) one class, in one transaction."""
        with self.transaction():
            self.engine.executemany(
                "UPDATE instances SET class_id = ? WHERE image_id = ? AND id = ?",
                [(class_id, image_id, i) for image_id, i in keys])

    def class_counts(self) -> dict[int, int]:
        """Instances per class id over the whole project (regions to ignore not counted)."""
        return {r[0]: r[1] for r in self._query(
            "SELECT class_id, COUNT(*) FROM instances WHERE crowd = 0 AND "
            "class_id IS NOT NULL GROUP BY class_id")}

    def ensure_classes(self, names: Iterable[str]) -> dict[str, int]:
        """Class ids by name, adding the classes that do not exist yet."""
        with self.transaction():
            by_name = {c.name: c.id for c in self.classes()}
            for name in names:
                if name not in by_name:
                    by_name[name] = self._class_named(_clean_name(name))
            return by_name

    def _class_named(self, name: str) -> int:
        """The id of class `name`, added when missing, also when another writer (a team
        member's import) adds it at the same moment."""
        count, last = self._query("SELECT COUNT(*), COALESCE(MAX(position), -1) FROM classes")[0]
        made = self._query("INSERT INTO classes (name, color, position) VALUES (?, ?, ?) "
                           "ON CONFLICT (name) DO NOTHING RETURNING id",
                           (name, default_color(count), last + 1))
        if made:
            return int(made[0][0])
        return int(self._query("SELECT id FROM classes WHERE name = ?", (name,))[0][0])

    def rename_class(self, class_id: int, name: str) -> None:
        name = _clean_name(name)
        with self.transaction():
            try:
                self.engine.execute("UPDATE classes SET name = ? WHERE id = ?", (name, class_id))
            except self.engine.integrity_errors:
                raise ValueError(f"a class named {name!r} already exists") from None

    def recolor_class(self, class_id: int, color: str) -> None:
        with self.transaction():
            self.engine.execute("UPDATE classes SET color = ? WHERE id = ?", (color, class_id))

    def merge_classes(self, source_id: int, target_id: int) -> int:
        """Move every instance and prediction of `source_id` to `target_id`, then delete the
        source class. Returns how many instances moved."""
        if source_id == target_id:
            return 0
        with self.transaction():
            moved = self.engine.execute("UPDATE instances SET class_id = ? WHERE class_id = ?",
                                        (target_id, source_id))
            self.engine.execute("UPDATE predictions SET class_id = ? WHERE class_id = ?",
                               (target_id, source_id))
            self.engine.execute("DELETE FROM classes WHERE id = ?", (source_id,))
            return moved

    def delete_class(self, class_id: int, *, delete_instances: bool = False) -> int:
        """Delete a class. Its instances are deleted, or kept without a class (the default,
        which `validate` then reports). Returns how many instances were affected."""
        with self.transaction():
            if delete_instances:
                n = self.engine.execute("DELETE FROM instances WHERE class_id = ?",
                                        (class_id,))
            else:
                n = self._query("SELECT COUNT(*) FROM instances WHERE class_id = ?",
                                (class_id,))[0][0]
            self.engine.execute("DELETE FROM classes WHERE id = ?", (class_id,))
            return n

    # ------------------------------------------------------------------ images

    def add_image(self, path: str, width: int, height: int, split: Split = Split.TRAIN,
                  status: ImageStatus = ImageStatus.UNLABELED) -> ImageRecord:
        with self.transaction():
            try:
                image_id = self.engine.insert(
                    "INSERT INTO images (path, width, height, split, status) VALUES (?,?,?,?,?) "
                    "RETURNING id",
                    (path, width, height, Split(split).value, ImageStatus(status).value))
            except self.engine.integrity_errors:
                raise ValueError(f"{path}: this image is already in the project") from None
            return ImageRecord(image_id, path, width, height, Split(split),
                               ImageStatus(status))

    def image(self, image_id: int) -> ImageRecord:
        rows = self._query(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise KeyError(f"no image with id {image_id}")
        return _image(rows[0])

    def image_by_path(self, path: str) -> ImageRecord | None:
        rows = self._query(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE path = ?", (path,))
        return _image(rows[0]) if rows else None

    def images(self, split: Split | None = None,
               status: ImageStatus | None = None) -> list[ImageRecord]:
        where, args = [], []
        if split is not None:
            where.append("split = ?")
            args.append(Split(split).value)
        if status is not None:
            where.append("status = ?")
            args.append(ImageStatus(status).value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [_image(r) for r in self._query(
            f"SELECT {_IMAGE_COLUMNS} FROM images {clause} ORDER BY path", tuple(args))]

    def image_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM images")[0][0])

    def set_split(self, image_ids: Iterable[int], split: Split) -> None:
        with self.transaction():
            self.engine.executemany("UPDATE images SET split = ? WHERE id = ?",
                                   [(Split(split).value, i) for i in image_ids])

    def set_status(self, image_id: int, status: ImageStatus) -> None:
        with self.transaction():
            self.engine.execute("UPDATE images SET status = ?, status_by = ?, status_at = ? "
                                "WHERE id = ?",
                                (ImageStatus(status).value, self.user, now_iso(), image_id))

    def claim_image(self, image_id: int, take_over: bool = False) -> tuple[str, str] | None:
        """Say that this user labels the image now. None when it is theirs (it was free, or
        already theirs, or `take_over`); else (who, since when) holds it, and nothing
        changes."""
        with self.transaction():
            taken = self.engine.execute(
                "UPDATE images SET claimed_by = ?, claimed_at = ? WHERE id = ? AND "
                "(claimed_by IS NULL OR claimed_by = ? OR ? = 1)",
                (self.user, now_iso(), image_id, self.user, int(take_over)))
            if taken:
                return None
            rows = self._query("SELECT claimed_by, claimed_at FROM images WHERE id = ?",
                               (image_id,))
            if not rows:
                raise KeyError(f"no image with id {image_id}")
            return str(rows[0][0]), str(rows[0][1])

    def release_image(self, image_id: int) -> None:
        """This user no longer labels the image (a claim of someone else's stays)."""
        with self.transaction():
            self.engine.execute("UPDATE images SET claimed_by = NULL, claimed_at = NULL "
                                "WHERE id = ? AND claimed_by = ?", (image_id, self.user))

    def claims(self) -> dict[int, tuple[str, str]]:
        """Who labels which image now: image id -> (who, since when)."""
        return {r[0]: (r[1], r[2]) for r in self._query(
            "SELECT id, claimed_by, claimed_at FROM images WHERE claimed_by IS NOT NULL")}

    def remove_image(self, image_id: int) -> None:
        """Forget an image and its labels and predictions (the image file is left alone)."""
        with self.transaction():
            self.engine.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def restore_images(self, records: Iterable[ImageRecord]) -> None:
        """Put removed images back with their own ids (redo of an add, undo of a remove)."""
        with self.transaction():
            self.engine.executemany(
                f"INSERT INTO images ({_IMAGE_COLUMNS}) VALUES (?,?,?,?,?,?)",
                [(r.id, r.path, r.width, r.height, Split(r.split).value,
                  ImageStatus(r.status).value) for r in records])
            self.engine.ids_restored("images")

    # ------------------------------------------------------------------ instances

    def instances(self, image_id: int) -> list[Instance]:
        """The image's instances, bottom to top."""
        return [_instance(r) for r in self._query(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE image_id = ? ORDER BY z, id",
            (image_id,))]

    def instance(self, image_id: int, instance_id: int) -> Instance:
        rows = self._query(f"SELECT {_INSTANCE_COLUMNS} FROM instances "
                           "WHERE image_id = ? AND id = ?", (image_id, instance_id))
        if not rows:
            raise KeyError(f"image {image_id} has no instance {instance_id}")
        return _instance(rows[0])

    def iter_labeled(self, split: Split | None = None
                     ) -> Iterator[tuple[ImageRecord, list[Instance]]]:
        """Every image (of a split) with its instances, in path order, in one pass."""
        images = self.images(split)
        clause, args = ("", ()) if split is None else (
            "WHERE image_id IN (SELECT id FROM images WHERE split = ?)", (Split(split).value,))
        rows = self._query(f"SELECT {_INSTANCE_COLUMNS} FROM instances {clause} "
                           "ORDER BY image_id, z, id", args)
        # all at once
        shapes: Iterable[Shape] = shapely.from_wkb([r["shape"] for r in rows]) if rows else []
        by_image: dict[int, list[Instance]] = {}
        for r, shape in zip(rows, shapes):
            by_image.setdefault(r["image_id"], []).append(_instance(r, shape))
        for image in images:
            yield image, by_image.get(image.id, [])

    def max_track_id(self) -> int:
        """The largest track id in the project (0 when none): new tracks start above it."""
        return int(self._query("SELECT COALESCE(MAX(track_id), 0) FROM instances")[0][0])

    def images_with_class(self, class_id: int) -> set[int]:
        return {r[0] for r in self._query(
            "SELECT DISTINCT image_id FROM instances WHERE class_id = ?", (class_id,))}

    def instance_count(self, image_id: int) -> int:
        return int(self._query("SELECT COUNT(*) FROM instances WHERE image_id = ?",
                               (image_id,))[0][0])

    def instance_counts(self) -> dict[int, int]:
        """Instances per image id (images without any are absent)."""
        return {r[0]: r[1] for r in self._query(
            "SELECT image_id, COUNT(*) FROM instances GROUP BY image_id")}

    def add_instance(self, image_id: int, class_id: int | None, shape: Shape, *,
                     z: int | None = None, track_id: int | None = None,
                     source: Source = Source.MANUAL, crowd: bool = False) -> Instance:
        """A new instance with the image's next unused id, on top unless `z` is given.
        An unlabeled image becomes labeled."""
        return self.add_instances(image_id, [(class_id, shape, z, track_id, source, crowd)])[0]

    def add_instances(self, image_id: int, items: list[NewInstance]) -> list[Instance]:
        """Many new instances at once: items of (class_id, shape, z|None, track_id, source,
        crowd); z None means on top, in the order given."""
        with self.transaction():
            # the image's row stays locked to this transaction (PostgreSQL): two PCs adding
            # to one image at once get different ids
            row = self._query("SELECT next_instance_id FROM images WHERE id = ?"
                              + self.engine.for_update, (image_id,))
            if not row:
                raise KeyError(f"no image with id {image_id}")
            next_id = row[0][0]
            top = self._query("SELECT COALESCE(MAX(z), -1) FROM instances WHERE image_id = ?",
                              (image_id,))[0][0]
            made = []
            now = now_iso()
            for k, (class_id, shape, z, track_id, source, crowd) in enumerate(items):
                if z is None:
                    top += 1
                    z = top
                made.append(Instance(image_id, next_id + k, class_id, shape, z, track_id,
                                     Source(source), bool(crowd), 1, self.user, now,
                                     self.user, now))
            self._insert_instances(made)
            self.engine.execute("UPDATE images SET next_instance_id = ?, status = CASE status "
                               "WHEN 'unlabeled' THEN 'labeled' ELSE status END WHERE id = ?",
                               (next_id + len(made), image_id))
            return made

    def restore_instances(self, instances: Iterable[Instance]) -> None:
        """Put deleted instances back with their own ids (undo of a delete)."""
        instances = list(instances)
        with self.transaction():
            self._insert_instances(instances)
            for inst in instances:
                self.engine.execute("UPDATE images SET next_instance_id = CASE WHEN "
                                    "next_instance_id < ? THEN ? ELSE next_instance_id END "
                                    "WHERE id = ?", (inst.id + 1, inst.id + 1, inst.image_id))

    def _insert_instances(self, instances: list[Instance]) -> None:
        for inst in instances:
            _check_shape(inst.shape)
        wkb: Iterable[bytes] = shapely.to_wkb([i.shape for i in instances]) if instances else []
        self.engine.executemany(
            f"INSERT INTO instances ({_INSTANCE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(i.image_id, i.id, i.class_id, blob, i.z, i.track_id, i.source.value, int(i.crowd),
              i.version, i.edited_by, i.edited_at, i.created_by, i.created_at)
             for i, blob in zip(instances, wkb)])

    def update_instance(self, image_id: int, instance_id: int, *,
                        expected_version: int | None = None, **changes: Any) -> Instance:
        """Change some of class_id, shape, z, track_id, source, crowd; returns the new state
        (its version one up). With `expected_version`, an instance someone else changed or
        deleted since is refused (StaleEdit) and nothing is written."""
        allowed = {"class_id", "shape", "z", "track_id", "source", "crowd"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"cannot change {', '.join(sorted(unknown))} of an instance")
        values = dict(changes)
        if "shape" in values:
            values["shape"] = shapely.to_wkb(_check_shape(values["shape"]))
        if "source" in values:
            values["source"] = Source(values["source"]).value
        if "crowd" in values:
            values["crowd"] = int(values["crowd"])
        with self.transaction():
            if values:
                values.update(edited_by=self.user, edited_at=now_iso())
                sets = ", ".join(f"{k} = ?" for k in values)
                check, args = ("", ()) if expected_version is None else \
                    (" AND version = ?", (expected_version,))
                changed = self.engine.execute(
                    f"UPDATE instances SET {sets}, version = version + 1 "
                    f"WHERE image_id = ? AND id = ?{check}",
                    (*values.values(), image_id, instance_id, *args))
                if changed != 1:
                    self._refuse_stale(image_id, instance_id, expected_version)
            return self.instance(image_id, instance_id)

    def _refuse_stale(self, image_id: int, instance_id: int,
                      expected_version: int | None) -> None:
        rows = self._query("SELECT version, edited_by, edited_at FROM instances WHERE "
                           "image_id = ? AND id = ?", (image_id, instance_id))
        if expected_version is None and not rows:
            raise KeyError(f"image {image_id} has no instance {instance_id}")
        if not rows:
            raise StaleEdit(f"instance {instance_id} was deleted by someone else", image_id,
                            instance_id)
        version, by, at = rows[0]
        if expected_version is not None and version != expected_version:
            raise StaleEdit(f"instance {instance_id} was changed by {by or 'someone else'} at "
                            f"{at or 'an unknown time'}", image_id, instance_id, by, at)

    def delete_instances(self, image_id: int, instance_ids: Iterable[int],
                         expected_versions: dict[int, int] | None = None) -> list[Instance]:
        """Delete instances; returns them as they were (for undo). With `expected_versions`
        (id: version), one that someone else changed or deleted since is refused (StaleEdit)
        and nothing is deleted."""
        ids = list(instance_ids)
        with self.transaction():
            if expected_versions is not None:
                for i in ids:
                    current = self._query("SELECT version FROM instances WHERE image_id = ? "
                                          "AND id = ?" + self.engine.for_update, (image_id, i))
                    if not current or current[0][0] != expected_versions.get(i):
                        self._refuse_stale(image_id, i, expected_versions.get(i))
            gone = [self.instance(image_id, i) for i in ids]
            self.engine.executemany("DELETE FROM instances WHERE image_id = ? AND id = ?",
                                   [(image_id, i) for i in ids])
            return gone

    def replace_instances(self, image_id: int, items: list[NewInstance]) -> list[Instance]:
        """Drop the image's instances and add `items` (see add_instances) in their place."""
        with self.transaction():
            self.engine.execute("DELETE FROM instances WHERE image_id = ?", (image_id,))
            return self.add_instances(image_id, items)

    # ------------------------------------------------------------------ predictions

    def add_predictions(self, image_id: int, run_id: int | None,
                        items: Iterable[tuple[int | None, Shape, float]]) -> None:
        """Store a run's detections for an image, replacing what that run had there."""
        items = list(items)
        with self.transaction():
            if run_id is None:
                self.engine.execute("DELETE FROM predictions WHERE image_id = ? AND "
                                    "run_id IS NULL", (image_id,))
            else:
                self.engine.execute("DELETE FROM predictions WHERE image_id = ? AND "
                                    "run_id = ?", (image_id, run_id))
            wkb: Iterable[bytes] = shapely.to_wkb([s for _, s, _ in items]) if items else []
            self.engine.executemany(
                "INSERT INTO predictions (image_id, run_id, class_id, shape, score) "
                "VALUES (?,?,?,?,?)",
                [(image_id, run_id, c, blob, float(score))
                 for (c, _, score), blob in zip(items, wkb)])

    def predictions(self, image_id: int, run_id: int | None = None,
                    min_score: float = 0.0) -> list[Prediction]:
        sql = (f"SELECT {_PREDICTION_COLUMNS} FROM predictions "
               "WHERE image_id = ? AND score >= ?")
        args: tuple[object, ...] = (image_id, min_score)
        if run_id is not None:
            sql += " AND run_id = ?"
            args += (run_id,)
        return [_prediction(r) for r in self._query(sql + " ORDER BY score DESC", args)]

    def take_predictions(self, prediction_ids: Iterable[int]) -> list[Prediction]:
        """Remove predictions by id and return them as they were (for accept/reject undo)."""
        ids = list(prediction_ids)
        with self.transaction():
            taken = []
            for pid in ids:
                rows = self._query(f"SELECT {_PREDICTION_COLUMNS} FROM predictions WHERE id = ?",
                                   (pid,))
                if rows:
                    taken.append(_prediction(rows[0]))
            self.engine.executemany("DELETE FROM predictions WHERE id = ?", [(p,) for p in ids])
            return taken

    def restore_predictions(self, predictions: Iterable[Prediction]) -> None:
        predictions = list(predictions)
        with self.transaction():
            wkb: Iterable[bytes] = (shapely.to_wkb([p.shape for p in predictions])
                                    if predictions else [])
            self.engine.executemany(
                "INSERT INTO predictions (id, image_id, run_id, class_id, shape, score) "
                "VALUES (?,?,?,?,?,?)",
                [(p.id, p.image_id, p.run_id, p.class_id, blob, p.score)
                 for p, blob in zip(predictions, wkb)])
            self.engine.ids_restored("predictions")

    def images_with_predictions(self, run_id: int | None = None) -> set[int]:
        sql = "SELECT DISTINCT image_id FROM predictions"
        args: tuple[object, ...] = ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        return {r[0] for r in self._query(sql, args)}

    def delete_predictions(self, run_id: int | None = None) -> None:
        with self.transaction():
            if run_id is None:
                self.engine.execute("DELETE FROM predictions")
            else:
                self.engine.execute("DELETE FROM predictions WHERE run_id = ?", (run_id,))

    # ------------------------------------------------------------------ runs

    def add_run(self, name: str, config: dict[str, Any]) -> Run:
        created = now_iso()
        with self.transaction():
            run_id = self.engine.insert(
                "INSERT INTO runs (name, created, status, config) VALUES (?, ?, ?, ?) "
                "RETURNING id", (name, created, RunStatus.RUNNING.value, json.dumps(config)))
            return Run(run_id, name, created, RunStatus.RUNNING, dict(config))

    def update_run(self, run_id: int, *, status: RunStatus | None = None,
                   metrics: dict[str, Any] | None = None, checkpoint: str | None = None) -> Run:
        with self.transaction():
            if status is not None:
                finished = None if status == RunStatus.RUNNING else now_iso()
                self.engine.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?",
                                   (RunStatus(status).value, finished, run_id))
            if metrics is not None:
                self.engine.execute("UPDATE runs SET metrics = ? WHERE id = ?",
                                   (json.dumps(metrics), run_id))
            if checkpoint is not None:
                self.engine.execute("UPDATE runs SET checkpoint = ? WHERE id = ?",
                                   (checkpoint, run_id))
            return self.run(run_id)

    def run(self, run_id: int) -> Run:
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run with id {run_id}")
        return _run(rows[0])

    def runs(self) -> list[Run]:
        return [_run(r) for r in self._query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id")]


def _backup_file(conn: sqlite3.Connection, db_path: Path) -> None:
    """A copy of the project file beside it before a migration changes it."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    version = schema.read_version(SqliteEngine(conn))
    shutil.copy2(db_path, db_path.with_name(f"{db_path.name}.v{version}.bak"))


def _check_shape(shape: object) -> Shape:
    """Only a non-empty Polygon or MultiPolygon is stored (callers repair shapes first)."""
    if not isinstance(shape, (Polygon, MultiPolygon)) or shape.is_empty:
        kind = getattr(shape, "geom_type", type(shape).__name__)
        raise ShapeError(f"an instance needs a non-empty polygon, got {kind}")
    return shape


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("a class name cannot be empty")
    return name


# each table's rows become entities here, by column name

def _image(row: Any) -> ImageRecord:
    return ImageRecord(row["id"], row["path"], row["width"], row["height"], Split(row["split"]),
                       ImageStatus(row["status"]))


def _instance(row: Any, shape: Shape | None = None) -> Instance:
    """`shape`: already decoded (many rows at once are decoded faster together)."""
    return Instance(row["image_id"], row["id"], row["class_id"],
                    shapely.from_wkb(row["shape"]) if shape is None else shape, row["z"],
                    row["track_id"], Source(row["source"]), bool(row["crowd"]),
                    row["version"], row["edited_by"], row["edited_at"], row["created_by"],
                    row["created_at"])


def _login_name() -> str:
    """Who edits a project file: the user logged in to this PC."""
    import getpass
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the user database
        return "unknown"


def _prediction(row: Any) -> Prediction:
    return Prediction(row["id"], row["image_id"], row["run_id"], row["class_id"],
                      shapely.from_wkb(row["shape"]), row["score"])


def _run(row: Any) -> Run:
    return Run(row["id"], row["name"], row["created"], RunStatus(row["status"]),
               json.loads(row["config"]), json.loads(row["metrics"]), row["checkpoint"],
               row["finished"])
