"""The edit tool: select instances, drag vertices, insert and delete vertices, move whole
instances, nudge with the arrow keys. A drag previews on the canvas and becomes one command
when the mouse is released."""

from __future__ import annotations

import itertools
from PySide6.QtCore import Qt
from shapely.geometry import MultiPolygon, Polygon

from isegui.core.errors import ShapeError
from isegui.core.geometry import translate
from isegui.gui.canvas.paths import shape_path
from isegui.gui.commands.instance_commands import DeleteInstancesCommand, UpdateInstanceCommand
from isegui.gui.tools.base import Tool
from isegui.gui.tools.draw import other_shapes
from isegui.gui.tools.shape_ops import Rings, clipped, instance_at, snap_point

VERTEX_PX = 7
_drags = itertools.count(1)

NUDGE = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
         Qt.Key.Key_Down: (0, 1)}


class EditTool(Tool):
    name = "edit"
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, ctx):
        super().__init__(ctx)
        self.drag = None  # ("vertex", id, rings, ref) or ("move", ids, start, shapes)
        self.hover = None  # (id, VertexRef) of the vertex under the cursor
        self.nudge_key = None
        self._rings = None  # (id, shape, Rings): the hover asks on every mouse move

    def activate(self) -> None:
        self.ctx.scene.set_display(show_vertices=True)

    def deactivate(self) -> None:
        self.cancel()
        self.ctx.scene.set_display(show_vertices=False)

    def cancel(self) -> None:
        if self.drag is not None:
            for inst_id in self._dragged_ids():
                self._preview(inst_id, None)
        self.drag = None

    # ------------------------------------------------------------------ mouse

    def press(self, pos, event) -> None:
        doc = self.ctx.document
        if doc is None or event.button() != Qt.MouseButton.LeftButton:
            return
        x, y = pos.x(), pos.y()
        vertex = self._vertex_at(x, y)
        if vertex is not None:
            inst_id, rings, ref = vertex
            self.drag = ("vertex", inst_id, rings, ref)
            return
        hit = instance_at(doc, x, y, self.ctx.tolerance(3))
        modifiers = event.modifiers()
        if modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier):
            if hit is not None:
                doc.set_selection([i for i in doc.selected if i != hit] if hit in doc.selected
                                  else doc.selected + [hit])
            return
        if hit is None:
            doc.set_selection([])
            return
        if hit not in doc.selected:
            doc.set_selection([hit])
        ids = [i for i in doc.selected if doc.editable(i)]
        self.drag = ("move", ids, (x, y), {i: doc.instance(i).shape for i in ids})

    def move(self, pos, event) -> None:
        x, y = pos.x(), pos.y()
        if self.drag is None:
            found = self._vertex_at(x, y)
            self.hover = (found[0], found[2]) if found else None
            return
        if self.drag[0] == "vertex":
            _, inst_id, rings, ref = self.drag
            x, y = self._snapped(x, y, {inst_id})
            self._preview_rings(inst_id, rings.moved(ref, x, y))
        else:
            _, ids, (x0, y0), shapes = self.drag
            for inst_id in ids:
                self._preview(inst_id, translate(shapes[inst_id], x - x0, y - y0))

    def release(self, pos, event) -> None:
        if self.drag is None:
            return
        drag, self.drag = self.drag, None
        x, y = pos.x(), pos.y()
        if drag[0] == "vertex":
            _, inst_id, rings, ref = drag
            x, y = self._snapped(x, y, {inst_id})
            self._preview(inst_id, None)
            if (x, y) != tuple(rings.parts[ref.part][ref.ring][ref.index]):
                self._commit(inst_id, rings.moved(ref, x, y), "Move a vertex of")
            return
        _, ids, (x0, y0), shapes = drag
        for inst_id in ids:
            self._preview(inst_id, None)
        if (x, y) == (x0, y0) or not ids:
            return
        self._move_all(ids, {i: translate(shapes[i], x - x0, y - y0) for i in ids})

    def double_click(self, pos, event) -> None:
        doc = self.ctx.document
        if doc is None or len(doc.selected) != 1 or not doc.editable(doc.selected[0]):
            return
        inst_id = doc.selected[0]
        rings = Rings(doc.instance(inst_id).shape)
        edge = rings.find_edge(pos.x(), pos.y(), self.ctx.tolerance(VERTEX_PX))
        if edge is not None:
            ref, (ex, ey) = edge
            self._commit(inst_id, rings.inserted(ref, ex, ey), "Insert a vertex in")

    # ------------------------------------------------------------------ keys

    def key(self, event) -> bool:
        doc = self.ctx.document
        if doc is None:
            return False
        k = event.key()
        if k in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            if self.hover is not None and doc.editable(self.hover[0]):
                inst_id, ref = self.hover
                self.hover = None
                self._commit(inst_id, self._rings_of(inst_id).deleted(ref), "Delete a vertex of")
                return True
            ids = [i for i in doc.selected if doc.editable(i)]
            if ids:
                delete_instances(self.ctx, ids)
                return True
            return False
        if k in NUDGE and doc.selected:
            dx, dy = NUDGE[k]
            step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
            ids = [i for i in doc.selected if doc.editable(i)]
            self._move_all(ids, {i: translate(doc.instance(i).shape, dx * step, dy * step)
                                 for i in ids}, merge="nudge")
            return True
        if k == Qt.Key.Key_Escape and doc.selected:
            doc.set_selection([])
            return True
        return False

    # ------------------------------------------------------------------ helpers

    def _vertex_at(self, x: float, y: float):
        """(id, rings, ref) of a vertex of the (one) selected instance near (x, y)."""
        doc = self.ctx.document
        if doc is None or len(doc.selected) != 1 or not doc.editable(doc.selected[0]):
            return None
        inst_id = doc.selected[0]
        rings = self._rings_of(inst_id)
        ref = rings.find_vertex(x, y, self.ctx.tolerance(VERTEX_PX))
        return (inst_id, rings, ref) if ref is not None else None

    def _rings_of(self, inst_id: int) -> Rings:
        shape = self.ctx.document.instance(inst_id).shape
        if self._rings is None or self._rings[0] != inst_id or self._rings[1] is not shape:
            self._rings = (inst_id, shape, Rings(shape))
        return self._rings[2]

    def _snapped(self, x: float, y: float, exclude: set[int]) -> tuple[float, float]:
        if not self.ctx.options.snap:
            return x, y
        return snap_point(x, y, other_shapes(self.ctx.document, exclude), self.ctx.tolerance())

    def _commit(self, inst_id: int, rings: Rings, verb: str) -> None:
        try:
            fixed = rings.to_shape()
        except ShapeError as exc:
            self.ctx.say(f"Not changed: {exc}.")
            return
        shape = self._clip_if_asked(inst_id, fixed.shape)
        if shape is None:
            return
        if fixed.note:
            self.ctx.say(f"After the edit, {fixed.note}.")
        doc = self.ctx.document
        self.ctx.push(UpdateInstanceCommand(self.ctx.session, doc.image_id, inst_id,
                                            text=f"{verb} {inst_id}", shape=shape,
                                            merge_key=("drag", next(_drags))))

    def _clip_if_asked(self, inst_id: int, shape):
        """With "clip to others", an edited instance loses what instances above it own."""
        if not self.ctx.options.clip:
            return shape
        doc = self.ctx.document
        z = doc.instance(inst_id).z
        above = [i.shape for i in doc.instances() if i.z > z and not i.crowd]
        result = clipped(shape, above)
        if result is None:
            self.ctx.say("Not changed: instances above would own all of it.")
        return result

    def _move_all(self, ids: list[int], shapes: dict, merge=None) -> None:
        doc, session = self.ctx.document, self.ctx.session
        key = merge or ("move", next(_drags))
        if len(ids) > 1:
            session.undo_stack.beginMacro(f"Move {len(ids)} instances")
        for inst_id in ids:
            self.ctx.push(UpdateInstanceCommand(session, doc.image_id, inst_id,
                                                text=f"Move {inst_id}", shape=shapes[inst_id],
                                                merge_key=(key, inst_id)))
        if len(ids) > 1:
            session.undo_stack.endMacro()

    def _dragged_ids(self) -> list[int]:
        if self.drag is None:
            return []
        return [self.drag[1]] if self.drag[0] == "vertex" else list(self.drag[1])

    def _preview(self, inst_id: int, shape) -> None:
        """Show `shape` for the instance without changing it; None shows it as it is."""
        item = self.ctx.scene.instance_item(inst_id)
        if item is not None:
            item.set_preview_path(None if shape is None else shape_path(shape))

    def _preview_rings(self, inst_id: int, rings: Rings) -> None:
        item = self.ctx.scene.instance_item(inst_id)
        raw = [Polygon(r[0], r[1:]) for r in rings.parts if len(r[0]) >= 3]
        if item is not None and raw:  # unrepaired while dragging: it follows the mouse
            item.set_preview_path(shape_path(raw[0] if len(raw) == 1 else MultiPolygon(raw)))


def delete_instances(ctx, ids: list[int]) -> None:
    """One undo step; several instances go as a macro of single deletes."""
    session, doc = ctx.session, ctx.document
    if len(ids) > 1:
        session.undo_stack.beginMacro(f"Delete {len(ids)} instances")
    for inst_id in ids:
        ctx.push(DeleteInstancesCommand(session, doc.image_id, [inst_id]))
    if len(ids) > 1:
        session.undo_stack.endMacro()
