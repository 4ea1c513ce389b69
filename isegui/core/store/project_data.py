"""The project store: one SQLite file (WAL mode) for a project on one PC, or a PostgreSQL
schema for a team's project (core.store.engine runs either, core.store.base opens it); every
edit one transaction.

Store methods are the only writers of project data. Each public method that changes something
is atomic on its own; `transaction()` groups several into one (an import, a multi-delete).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

import shapely
from shapely.geometry import MultiPolygon, Polygon

from isegui.core.entities import (MAX_CLASSES, ImageRecord, ImageStatus, Instance, LabelClass,
                                  Prediction, Run, RunStatus, Source, Split, default_color)
from isegui.core.errors import DamagedRow, ShapeError, StaleEdit
from isegui.core.geometry import Shape
# the store's base, and what callers have always imported from here
from isegui.core.store.rows import (MOST_WHOLE, RowReader, as_class, as_image, as_instance,
                                    as_prediction, as_run, decoded_shapes, storable_id)
from isegui.core.store.base import StoreBase, now_iso
from isegui.core.store.team_rules import CLAIM_EXPIRY_KEY, CLAIM_EXPIRY_S

_INSTANCE_COLUMNS = ("image_id, id, class_id, shape, z, track_id, source, crowd, version, "
                     "edited_by, edited_at, created_by, created_at")
_IMAGE_COLUMNS = "id, path, width, height, split, status"
_PREDICTION_COLUMNS = "id, image_id, run_id, class_id, shape, score"
_RUN_COLUMNS = "id, name, created, status, config, metrics, checkpoint, finished"

# an instance to add: (class_id, shape, z or None for on top, track_id, source, crowd)
NewInstance: TypeAlias = tuple[int | None, Shape, int | None, int | None, Source, bool]


class Store(RowReader, StoreBase):
    # ------------------------------------------------------------------ classes

    def classes(self) -> list[LabelClass]:
        return self._readable(as_class, self._query(
            "SELECT id, name, color FROM classes ORDER BY position, id"))

    def add_class(self, name: str, color: str | None = None) -> LabelClass:
        name = _clean_name(name)
        with self.transaction():
            count = self._query("SELECT COUNT(*), COALESCE(MAX(position), -1) FROM classes")[0]
            _room_for_a_class(count[0])
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
        return self._readable(as_instance, self._query(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE class_id = ? ORDER BY image_id, id",
            (class_id,)))

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
        if not self._query("SELECT 1 FROM classes WHERE name = ?", (name,)):
            _room_for_a_class(count)
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
        return self._read(as_image, rows[0])

    def image_by_path(self, path: str) -> ImageRecord | None:
        rows = self._query(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE path = ?", (path,))
        return self._read(as_image, rows[0]) if rows else None

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
        return self._readable(as_image, self._query(
            f"SELECT {_IMAGE_COLUMNS} FROM images {clause} ORDER BY path", tuple(args)))

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
                "(claimed_by IS NULL OR claimed_by = ? OR ? = 1 OR claimed_at < ?)",
                (self.user, now_iso(), image_id, self.user, int(take_over),
                 self._claim_cutoff()))
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
        """Who labels which image now: image id -> (who, since when). A claim its holder's
        window has not renewed for the project's claim expiry (a window killed, a PC gone) has
        run out and is not listed; the server treats it as free too."""
        return {r[0]: (r[1], r[2]) for r in self._query(
            "SELECT id, claimed_by, claimed_at FROM images WHERE claimed_by IS NOT NULL "
            "AND claimed_at >= ?", (self._claim_cutoff(),))}

    def _claim_cutoff(self) -> str:
        """Claims taken or renewed before this time (as stored: ISO 8601, UTC) have run out;
        by the server's clock for a team."""
        value = self.meta(CLAIM_EXPIRY_KEY)
        seconds = int(value) if value is not None and value.isdigit() else CLAIM_EXPIRY_S
        now = (self._query("SELECT now()")[0][0] if self.engine.dialect == "postgresql"
               else datetime.now(UTC))
        return (now - timedelta(seconds=seconds)).astimezone(UTC).isoformat(timespec="seconds")

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
        return self._of_known_classes(self._readable(as_instance, self._query(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE image_id = ? ORDER BY z, id",
            (image_id,))))

    def instance(self, image_id: int, instance_id: int) -> Instance:
        rows = self._query(f"SELECT {_INSTANCE_COLUMNS} FROM instances "
                           "WHERE image_id = ? AND id = ?", (image_id, instance_id))
        if not rows:
            raise KeyError(f"image {image_id} has no instance {instance_id}")
        return self._read(as_instance, rows[0])

    def iter_labeled(self, split: Split | None = None
                     ) -> Iterator[tuple[ImageRecord, list[Instance]]]:
        """Every image (of a split) with its instances, in path order, in one pass."""
        images = self.images(split)
        clause, args = ("", ()) if split is None else (
            "WHERE image_id IN (SELECT id FROM images WHERE split = ?)", (Split(split).value,))
        rows = self._query(f"SELECT {_INSTANCE_COLUMNS} FROM instances {clause} "
                           "ORDER BY image_id, z, id", args)
        by_image: dict[int, list[Instance]] = {}
        for instance in self._of_known_classes(self._readable(as_instance, rows,
                                                              decoded_shapes(rows))):
            by_image.setdefault(instance.image_id, []).append(instance)
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
            # the status stays: an image with some labels is "in progress" until its person
            # marks it labeled (a missing object would be taught as background)
            self.engine.execute("UPDATE images SET next_instance_id = ? WHERE id = ?",
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
            _check_numbers(inst.id, inst.z, inst.track_id)
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
        _check_numbers(instance_id, values.get("z", 0), values.get("track_id"))
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
        return self._readable(as_prediction, self._query(sql + " ORDER BY score DESC", args))

    def take_predictions(self, prediction_ids: Iterable[int]) -> list[Prediction]:
        """Remove predictions by id and return them as they were (for accept/reject undo)."""
        ids = list(prediction_ids)
        with self.transaction():
            taken = []
            for pid in ids:
                rows = self._query(f"SELECT {_PREDICTION_COLUMNS} FROM predictions WHERE id = ?",
                                   (pid,))
                if rows:
                    taken.append(self._read(as_prediction, rows[0]))
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
        return self._read(as_run, rows[0])

    def runs(self) -> list[Run]:
        return self._readable(as_run, self._query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id"))

    # ------------------------------------------------------------------ rows it cannot read

    def _of_known_classes(self, instances: list[Instance]) -> list[Instance]:
        """The instances whose class is one of the project's (or none); the others, written
        by another program past the foreign key, are left out and named."""
        known = {c.id for c in self.classes()}
        strays = [i for i in instances if i.class_id is not None and i.class_id not in known]
        for stray in strays:
            self._note_damaged(DamagedRow(f"instance {stray.id} of image {stray.image_id} "
                                          f"cannot be read (its class_id {stray.class_id} is "
                                          "no class of the project)"))
        return [i for i in instances if i not in strays] if strays else instances


def _check_shape(shape: object) -> Shape:
    """Only a non-empty Polygon or MultiPolygon is stored (callers repair shapes first)."""
    if not isinstance(shape, (Polygon, MultiPolygon)) or shape.is_empty:
        kind = getattr(shape, "geom_type", type(shape).__name__)
        raise ShapeError(f"an instance needs a non-empty polygon, got {kind}")
    return shape


def _check_numbers(instance_id: object, z: object, track_id: object) -> None:
    """Only numbers the store reads back are written (a row that reads back damaged would be
    a label lost without a word)."""
    if not storable_id(instance_id, 1) or not storable_id(z, -MOST_WHOLE) or not (
            track_id is None or storable_id(track_id)):
        raise ValueError(f"instance {instance_id!r}: ids and track ids are whole numbers from "
                         f"0 to {MOST_WHOLE} (z from {-MOST_WHOLE}), not z {z!r}, track "
                         f"{track_id!r}")


MAX_CLASS_NAME = 100  # characters; every team mate's window lists every class


def fit_class_name(name: str) -> str:
    """`name` made a class name the store takes, for names from other tools' files: white
    space of any kind (a line break, a tab) one space, other control characters left out,
    cut to MAX_CLASS_NAME characters."""
    spaced = " ".join(name.split())
    return "".join(ch for ch in spaced if ch.isprintable())[:MAX_CLASS_NAME].strip()


def check_class_names(names: Iterable[str]) -> None:
    """ValueError, in words, for class names the store would refuse: asked before a project is
    made, so a refused name leaves nothing behind."""
    _room_for_a_class(len({_clean_name(name) for name in names}) - 1)  # room for the last


def _room_for_a_class(count: int) -> None:
    if count >= MAX_CLASSES:
        raise ValueError(f"a project holds at most {MAX_CLASSES:,} classes")


def _clean_name(name: str) -> str:
    """A class name as stored: no space around it, not empty, at most MAX_CLASS_NAME
    characters, no control characters (a NUL, a line break, a terminal's escape)."""
    name = name.strip()
    if not name:
        raise ValueError("a class name cannot be empty")
    if len(name) > MAX_CLASS_NAME:
        raise ValueError(f"a class name has at most {MAX_CLASS_NAME} characters; this one has "
                         f"{len(name)} ({name[:40]!r}...)")
    if not all(ch.isprintable() for ch in name):
        raise ValueError(f"a class name holds no control characters: {name!r}")
    return name
