"""Edits that are not a canvas gesture: change class, z-order, copy/paste, duplicate, labels
from the previous image, union, subtract, split. Each makes commands (one undo step)."""

from __future__ import annotations

from contextlib import contextmanager

import shapely

from isegui.core.errors import ShapeError
from isegui.core.geometry import polygons_of, repair, translate
from isegui.gui.commands.base import StoreCommand
from isegui.gui.commands.instance_commands import (AddInstanceCommand, DeleteInstancesCommand,
                                                   UpdateInstanceCommand)

_clipboard: list[dict] = []  # copied instances: class, shape, crowd, track id


@contextmanager
def one_step(session, text: str, count: int):
    """Several commands as one undo step (a macro) when there is more than one."""
    if count > 1:
        session.undo_stack.beginMacro(text)
    try:
        yield
    finally:
        if count > 1:
            session.undo_stack.endMacro()


def _editable_selection(ctx) -> list[int]:
    doc = ctx.document
    return [i for i in doc.selected if doc.editable(i)] if doc else []


def change_class(ctx, class_id: int) -> None:
    ids = _editable_selection(ctx)
    cls = ctx.session.class_by_id(class_id)
    if not ids or cls is None:
        return
    doc = ctx.document
    with one_step(ctx.session, f"Make {len(ids)} instances {cls.name}", len(ids)):
        for i in ids:
            if doc.instance(i).class_id != class_id:
                ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, i,
                                               text=f"Make {i} {cls.name}", class_id=class_id))


def restack(ctx, direction: int) -> None:
    """Move the selected instance one place up (+1) or down (-1), swapping z with its
    neighbour."""
    ids = _editable_selection(ctx)
    if len(ids) != 1:
        return
    doc = ctx.document
    order = doc.instances()
    k = next(n for n, inst in enumerate(order) if inst.id == ids[0])
    j = k + direction
    if not 0 <= j < len(order):
        return
    a, b = order[k], order[j]
    za, zb = (b.z, a.z) if a.z != b.z else (a.z + direction, a.z)
    with one_step(ctx.session, f"{'Raise' if direction > 0 else 'Lower'} {a.id}", 2):
        ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, a.id, z=za))
        ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, b.id, z=zb))
    doc.set_selection([a.id])


def copy(ctx) -> int:
    doc = ctx.document
    if doc is None or not doc.selected:
        return 0
    _clipboard[:] = [{"class_id": doc.instance(i).class_id, "shape": doc.instance(i).shape,
                      "crowd": doc.instance(i).crowd, "track_id": doc.instance(i).track_id}
                     for i in doc.selected]
    return len(_clipboard)


def keep_on_clipboard(session, shapes: list) -> None:
    """Shapes an edit could not save (a team mate changed the instance first), ready to be
    pasted as new instances of the active class."""
    _clipboard[:] = [{"class_id": session.active_class_id, "shape": shape, "crowd": False,
                      "track_id": None} for shape in shapes]


def paste(ctx, offset: float = 0.0) -> None:
    doc = ctx.document
    if doc is None or not _clipboard:
        return
    items = list(_clipboard)
    with one_step(ctx.session, f"Paste {len(items)} instances", len(items)):
        for item in items:
            ctx.push(AddInstanceCommand(
                ctx.session, doc.image_id, item["class_id"],
                translate(item["shape"], offset, offset) if offset else item["shape"],
                crowd=item["crowd"], text="Paste"))


def duplicate(ctx) -> None:
    if copy(ctx):
        paste(ctx, offset=10.0)


def copy_from_image(ctx, source_image_id: int, refit=None) -> None:
    """Every instance of another image (the previous one of a sequence) into this one. Track
    ids are kept; an instance without one gets a new track id, there and here, so the object
    can be followed through the sequence. `refit(instance)` gives each one's shape on this
    image (the model or GrabCut on its box: propagation), None to keep it as it was."""
    doc, session = ctx.document, ctx.session
    if doc is None or source_image_id == doc.image_id:
        return
    source = session.store.instances(source_image_id)
    if not source:
        ctx.say("The previous image has no labels to copy.")
        return
    next_track = session.store.max_track_id() + 1
    tracks = {}
    for inst in source:
        if inst.track_id is None:
            tracks[inst.id], next_track = next_track, next_track + 1
        else:
            tracks[inst.id] = inst.track_id
    verb = "Propagate" if refit else "Copy"
    with one_step(session, f"{verb} {len(source)} labels from the previous image", 2):
        for inst in source:  # the source objects get their new track ids first
            if inst.track_id is None:
                session.undo_stack.push(_SetTrackOnOtherImage(session, inst.image_id, inst.id,
                                                              tracks[inst.id]))
        for inst in source:
            shape = (refit(inst) if refit else None) or inst.shape
            ctx.push(AddInstanceCommand(session, doc.image_id, inst.class_id, shape,
                                        track_id=tracks[inst.id], crowd=inst.crowd,
                                        text="Propagate" if refit else "Copy"))


class _SetTrackOnOtherImage(StoreCommand):
    """Set a track id on an instance of an image that is not on screen, without showing it."""

    def __init__(self, session, image_id: int, instance_id: int, track_id: int):
        super().__init__(f"Track {instance_id}")
        self.session, self.image_id, self.instance_id = session, image_id, instance_id
        self.track_id = track_id

    def redo(self) -> None:
        self.session.set_track(self.image_id, self.instance_id, self.track_id)

    def undo(self) -> None:
        self.session.set_track(self.image_id, self.instance_id, None)


def union(ctx) -> None:
    ids = _editable_selection(ctx)
    if len(ids) < 2:
        ctx.say("Select two or more instances to join.")
        return
    doc = ctx.document
    joined = repair(shapely.union_all([doc.instance(i).shape for i in ids])).shape
    with one_step(ctx.session, f"Join {len(ids)} instances", 2):
        ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, ids[0], shape=joined))
        for i in ids[1:]:
            ctx.push(DeleteInstancesCommand(ctx.session, doc.image_id, [i]))
    doc.set_selection([ids[0]])


def subtract(ctx) -> None:
    """The first selected instance loses what the others cover."""
    ids = _editable_selection(ctx)
    if len(ids) < 2:
        ctx.say("Select the instance to cut, then (Shift+click) the ones to cut away.")
        return
    doc = ctx.document
    rest = doc.instance(ids[0]).shape.difference(
        shapely.union_all([doc.instance(i).shape for i in ids[1:]]))
    try:
        shape = repair(rest).shape
    except ShapeError:
        ctx.say("Nothing would be left of it; delete it instead.")
        return
    ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, ids[0], shape=shape,
                                   text=f"Subtract from {ids[0]}"))


def split_parts(ctx) -> None:
    """Each separate part of the selected instance becomes an instance of its own."""
    ids = _editable_selection(ctx)
    if len(ids) != 1:
        return
    doc = ctx.document
    inst = doc.instance(ids[0])
    parts = sorted(polygons_of(inst.shape), key=lambda p: -p.area)
    if len(parts) < 2:
        ctx.say("This instance has only one part.")
        return
    with one_step(ctx.session, f"Split {inst.id} into {len(parts)}", 2):
        ctx.push(UpdateInstanceCommand(ctx.session, doc.image_id, inst.id, shape=parts[0]))
        for part in parts[1:]:
            ctx.push(AddInstanceCommand(ctx.session, doc.image_id, inst.class_id, part,
                                        crowd=inst.crowd, text="Split part"))
