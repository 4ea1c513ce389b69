"""The scene of the image on screen: the picture, one item per instance and the layer of their
class names, kept in step with the document's signals. Display options (fill opacity, outline
only, labels and names on or off) live here."""

from __future__ import annotations


from PySide6.QtCore import QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QPen, QPixmap, QTextOption
from PySide6.QtWidgets import QGraphicsScene, QGraphicsTextItem

from isegui.gui.canvas.items import ImageItem, InstanceItem, pixmap_from_array
from isegui.gui.canvas.names import ClassNameLayer
from isegui.gui.document import ImageDocument

CROWD_COLOR = "#9e9e9e"
DEFAULT_FILL = 0.18  # outline first: a light tint keeps the object's own look visible


class CanvasScene(QGraphicsScene):
    def __init__(self, session):
        super().__init__()
        self.session = session
        self.document: ImageDocument | None = None
        self.image_item = ImageItem()
        self.addItem(self.image_item)
        self.items_by_id: dict[int, InstanceItem] = {}
        self.opacity = DEFAULT_FILL
        self.outline_only = False
        self.labels_visible = True
        self.names_visible = True
        self.class_names = ClassNameLayer(self)
        self.addItem(self.class_names)
        self.show_vertices = False  # the edit tool shows handles on the selection
        self._shown_selected: set[int] = set()
        self._message = None
        self._backdrop = None
        self.setBackgroundBrush(QBrush(QColor("#2b2b2b")))
        session.classesChanged.connect(self.restyle)

    # ------------------------------------------------------------------ document

    def set_document(self, document) -> None:
        if self.document is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        self.document = document
        for item in self.items_by_id.values():
            self.removeItem(item)
        self.items_by_id.clear()
        self._shown_selected = set()
        self._clear_message()
        if document is None:
            self.image_item.setPixmap(QPixmap())
            self.class_names.changed()
            return
        for signal, slot in self._connections():
            signal.connect(slot)
        pixels = document.pixels()
        rect = QRectF(0, 0, document.record.width, document.record.height)
        if pixels is not None:
            self.image_item.setPixmap(pixmap_from_array(pixels))
        else:
            self.image_item.setPixmap(QPixmap())
            self._show_message(rect, f"Cannot show this image:\n{document.load_error}\n\n"
                                     "Its labels are drawn over this grey area.")
        self.setSceneRect(rect.adjusted(-rect.width() * 0.25, -rect.height() * 0.25,
                                        rect.width() * 0.25, rect.height() * 0.25))
        self.class_names.set_area(rect)
        for inst in document.instances():
            self._add_item(inst.id)
        self._sync_selection()

    def _connections(self):
        d = self.document
        assert d is not None  # only while a document is shown
        return [(d.instanceAdded, self._add_item), (d.instanceChanged, self._change_item),
                (d.instanceRemoved, self._remove_item), (d.selectionChanged,
                                                         self._sync_selection),
                (d.viewStateChanged, self._change_visibility)]

    def _add_item(self, instance_id: int) -> None:
        assert self.document is not None  # its signal, or set_document
        item = InstanceItem(self.document.instance(instance_id))
        self.items_by_id[instance_id] = item
        self._style(item)
        self.addItem(item)
        self._change_visibility(instance_id)

    def _change_item(self, instance_id: int) -> None:
        item = self.items_by_id[instance_id]
        assert self.document is not None  # its signal
        item.set_instance(self.document.instance(instance_id))
        self._style(item)
        self.class_names.changed()

    def _remove_item(self, instance_id: int) -> None:
        item = self.items_by_id.pop(instance_id, None)
        if item is not None:
            self.removeItem(item)
        self.class_names.changed()

    def _change_visibility(self, instance_id: int) -> None:
        item = self.items_by_id.get(instance_id)
        if item is not None:
            assert self.document is not None  # items are there only with a document
            item.setVisible(self.labels_visible and instance_id not in self.document.hidden)
            self.class_names.changed()

    def _sync_selection(self) -> None:
        selected = set(self.document.selected) if self.document else set()
        # only the items whose state changes (there may be thousands)
        for inst_id in selected | self._shown_selected:
            item = self.items_by_id.get(inst_id)
            if item is not None:
                item.set_selected(inst_id in selected, self.show_vertices and inst_id in selected)
        self._shown_selected = selected

    # ------------------------------------------------------------------ display options

    def instance_color(self, inst) -> QColor:
        cls = self.session.class_by_id(inst.class_id)
        return QColor(CROWD_COLOR if inst.crowd or cls is None else cls.color)

    def _style(self, item: InstanceItem) -> None:
        inst = item.instance
        item.set_style(self.instance_color(inst), self.opacity, self.outline_only or inst.crowd)

    def restyle(self) -> None:
        for item in self.items_by_id.values():
            self._style(item)
        self.class_names.changed()  # a renamed or recoloured class: its names' pixmaps are new

    def set_display(self, *, opacity: float | None = None, outline_only: bool | None = None,
                    labels_visible: bool | None = None, names_visible: bool | None = None,
                    show_vertices: bool | None = None) -> None:
        if opacity is not None:
            self.opacity = opacity
        if outline_only is not None:
            self.outline_only = outline_only
        if labels_visible is not None:
            self.labels_visible = labels_visible
        if names_visible is not None:
            self.names_visible = names_visible
        self.class_names.set_shown(self.labels_visible and self.names_visible)
        if show_vertices is not None:
            self.show_vertices = show_vertices
        self.restyle()
        if self.document is not None:
            for inst_id in self.items_by_id:
                self._change_visibility(inst_id)
            self._shown_selected = set(self.items_by_id)  # restate every item once
            self._sync_selection()

    # ------------------------------------------------------------------ load errors

    def _show_message(self, rect: QRectF, text: str) -> None:
        """`text` over a grey stand-in for the image, wrapped (a long path anywhere) and scaled
        so that all of it lies inside the image, whatever its size."""
        self._backdrop = self.addRect(rect, QPen(QColor("#888")), QBrush(QColor("#555")))
        self._backdrop.setZValue(-999)
        self._message = QGraphicsTextItem()
        self._message.setPlainText(text)
        self._message.setDefaultTextColor(QColor("#ffd54f"))
        font = QFont()
        font.setPixelSize(14)  # laid out at a readable size, then the item is scaled
        self._message.setFont(font)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self._message.document().setDefaultTextOption(option)
        self._message.setZValue(-998)
        room_w, room_h = rect.width() * 0.92, rect.height() * 0.92
        scale = room_w / 420  # about 50 characters a line, if the height allows
        for _ in range(60):
            self._message.setTextWidth(room_w / scale)
            if self._message.boundingRect().height() * scale <= room_h:
                break
            scale *= 0.85
        self._message.setScale(scale)
        bounds = self._message.boundingRect()
        self._message.setPos(rect.center().x() - bounds.width() * scale / 2,
                             rect.center().y() - bounds.height() * scale / 2)
        self.addItem(self._message)

    def _clear_message(self) -> None:
        for item in (self._message, self._backdrop):
            if item is not None:
                self.removeItem(item)
        self._message = self._backdrop = None

    @property
    def message(self) -> str | None:
        return self._message.toPlainText() if self._message is not None else None

    def instance_item(self, instance_id: int) -> InstanceItem | None:
        return self.items_by_id.get(instance_id)


