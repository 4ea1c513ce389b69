"""The labeling window. Wiring only: the canvas, the panels as docks, the tools, the actions
(gui/actions.py), the status bar."""

from __future__ import annotations

from pathlib import PurePosixPath

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter,
                               QUndoView)

from isegui.gui import drop
from isegui.gui.actions import build_actions
from isegui.gui.canvas.review import ReviewController, SideView
from isegui.gui.canvas.scene import CanvasScene
from isegui.gui.canvas.view import CanvasView
from isegui.gui.panels.classes import ClassPanel
from isegui.gui.panels.consistency import ConsistencyPanel
from isegui.gui.panels.images import ImagePanel
from isegui.gui.panels.instances import InstancePanel
from isegui.gui.panels.measure import MeasurePanel
from isegui.gui.panels.review import ReviewPanel
from isegui.gui.panels.training import TrainingPanel
from isegui.gui.session import ProjectSession
from isegui.gui.tools.base import Tool, ToolContext, ToolOptions
from isegui.gui.tools.assist_context import LabelAssist
from isegui.ml.model.loaded_model import LoadedModel
from isegui.gui.tools.assisted import BoxMaskTool, ClickTool, ScissorsTool, WandTool
from isegui.gui.tools.brush import BrushTool, EraserTool
from isegui.gui.tools.draw import EllipseTool, HoleTool, PolygonTool, RectangleTool
from isegui.gui.tools.edit import EditTool
from isegui.gui.tools.measure import CalibrateTool

TOOLS = (EditTool, PolygonTool, RectangleTool, EllipseTool, HoleTool, BrushTool, EraserTool,
         BoxMaskTool, ClickTool, ScissorsTool, WandTool)


class MainWindow(QMainWindow):
    # another project asked for (File > Open, recent, a dropped project, a new one): the app
    # opens it in place of this window, then starts `job` (images to add) there, if any
    projectRequested = Signal(object, object)  # folder (Path), job (AddImagesJob or None)

    def __init__(self, session: ProjectSession):
        super().__init__()
        self.session = session
        self.setWindowTitle(f"isegui — {session.project.name}")
        self.scene = CanvasScene(session)
        self.view = CanvasView(self.scene)
        self.side_view = SideView(self.view)
        self.side_view.hide()
        canvas = QSplitter(Qt.Orientation.Horizontal)
        canvas.addWidget(self.view)
        canvas.addWidget(self.side_view)
        self.setCentralWidget(canvas)
        self.options = ToolOptions()
        self.loaded_model = LoadedModel()  # the active run's model, for Review and the tools
        self.assist = LabelAssist(session, self.loaded_model, self.options)
        self.ctx = ToolContext(session, self.view, self.scene, self.options, self.assist)
        self.tools: dict[str, Tool] = {cls.name: cls(self.ctx) for cls in TOOLS}
        self.review_canvas = ReviewController(session, self.scene, self.side_view)

        self.images = ImagePanel(session, self.loaded_model)
        self.instances = InstancePanel(session, self.ctx)
        self.classes = ClassPanel(session)
        self.consistency = ConsistencyPanel(session)
        self.training = TrainingPanel(session)
        self.review = ReviewPanel(session, self.review_canvas, self.loaded_model)
        self.measure = MeasurePanel(session, self.review_canvas, self)
        self.tools["calibrate"] = CalibrateTool(self.ctx, self.measure.calibrate_line,
                                                self.measure.calibration_ended)
        self.history = QUndoView(session.undo_stack)
        self.history.setEmptyLabel("(opened)")
        self.docks = {}
        for key, title, widget, area in (
                ("images", "Images", self.images, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("classes", "Classes", self.classes, Qt.DockWidgetArea.RightDockWidgetArea),
                ("instances", "Instances", self.instances, Qt.DockWidgetArea.RightDockWidgetArea),
                ("consistency", "Consistency", self.consistency,
                 Qt.DockWidgetArea.RightDockWidgetArea),
                ("history", "History", self.history, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("training", "Training", self.training, Qt.DockWidgetArea.RightDockWidgetArea),
                ("review", "Review", self.review, Qt.DockWidgetArea.RightDockWidgetArea),
                ("measure", "Measure", self.measure, Qt.DockWidgetArea.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        for key in ("consistency", "review", "measure", "training"):
            self.tabifyDockWidget(self.docks["instances"], self.docks[key])
        self.docks["instances"].raise_()
        self.training.settings.preview.clicked.connect(self._preview_augmentation)
        self.training.runsChanged.connect(self.review.refresh_runs)
        self.review.listed_images = self.images.listed_ids

        self.position = QLabel()
        self.zoom = QLabel()
        self.model_status = QLabel()  # the active run's model: loading, ready, failed
        self.model_status.setObjectName("model-status")
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().addPermanentWidget(self.position)
        self.statusBar().addPermanentWidget(self.zoom)
        self.image_adder = None  # images being added, while they are (image_adding)
        self.actions_by_name, self.recent_menu, self.opacity_slider = build_actions(self)

        self.view.cursorMoved.connect(self._show_position)
        self.view.zoomChanged.connect(lambda s: self.zoom.setText(f"{s * 100:.0f} %"))
        self.ctx.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        session.documentChanged.connect(self._document_changed)
        session.writeFailed.connect(self._write_failed)
        session.editConflict.connect(lambda why: self.statusBar().showMessage(why, 30_000))
        session.editedElsewhere.connect(lambda what: self.statusBar().showMessage(what, 5000))
        session.holderChanged.connect(lambda: self._show_holder(
            session.document.held_by if session.document is not None else None))
        session.editRefused.connect(lambda why: self.statusBar().showMessage(
            "Read-only: " + why, 10000))
        self.assist.modelStatus.connect(self.model_status.setText)
        self.training.runsChanged.connect(self.assist.preload)
        self.set_tool("edit")
        self.assist.preload()  # the active run's model is read while the user looks around
        self.setAcceptDrops(True)  # folders and image files dropped here are added
        self.resize(1400, 900)

    # ------------------------------------------------------------------ slots

    def open_first_image(self) -> None:
        """The image last worked on, else the first listed."""
        image_id = self.session.last_image_id()
        if image_id is None:
            records = self.session.images()
            image_id = records[0].id if records else None
        if image_id is not None:
            self.session.open_image(image_id)

    def _document_changed(self) -> None:
        doc = self.session.document
        if self.view.tool is not None:
            self.view.tool.cancel()  # a polygon or an edge wire of the last image ends there
        self.scene.set_document(doc)
        if doc is not None:
            name = PurePosixPath(doc.record.path).name
            self.setWindowTitle(f"isegui — {self.session.project.name} — {name}"
                                + (" — READ-ONLY" if self.session.read_only else ""))
            self._show_holder(doc.held_by)
            if doc.load_error:
                self.statusBar().showMessage(doc.load_error, 10000)
            self.view.fit()

    def _show_holder(self, holder: tuple[str, str] | None) -> None:
        """A team mate labels the image on screen: say who, and how to take it over."""
        banner = self.findChild(QLabel, "claimed-banner")
        if banner is None:
            banner = QLabel()
            banner.setObjectName("claimed-banner")
            banner.setStyleSheet("QLabel { color: black; background: #f1c40f; padding: 2px 8px;"
                                 " font-weight: bold; }")
            self.statusBar().insertPermanentWidget(0, banner)
        banner.setText(f"Claimed by {holder[0]} since {holder[1]} — Image > Take over"
                       if holder else "")
        banner.setVisible(holder is not None)
        action = self.actions_by_name.get("take-over") if hasattr(
            self, "actions_by_name") else None
        if action is not None:
            action.setEnabled(holder is not None)

    def _write_failed(self, why: str) -> None:
        """The store could not save an edit: say so plainly and stop editing."""
        self.setWindowTitle(f"{self.windowTitle()} — READ-ONLY")
        banner = QLabel("READ-ONLY: saving failed")
        banner.setObjectName("read-only-banner")
        banner.setToolTip(why)
        banner.setStyleSheet("QLabel { color: white; background: #c0392b; padding: 2px 8px; "
                             "font-weight: bold; }")
        self.statusBar().insertPermanentWidget(0, banner)
        for name, action in self.actions_by_name.items():
            if name.startswith("tool-") and name not in ("tool-edit",):
                action.setEnabled(False)
        self.set_tool("edit")
        QMessageBox.critical(self, "isegui — saving failed", why)

    def set_tool(self, name: str) -> None:
        self.view.set_tool(self.tools[name])
        action = self.actions_by_name.get(f"tool-{name}") if hasattr(
            self, "actions_by_name") else None
        if action is not None:
            action.setChecked(True)

    def _show_position(self, pos: QPointF) -> None:
        doc = self.session.document
        if doc is None:
            return
        x, y = int(pos.x() // 1), int(pos.y() // 1)
        text = f"x {x}  y {y}"
        pixels = doc.pixels()
        if pixels is not None and 0 <= x < doc.record.width and 0 <= y < doc.record.height:
            value = pixels[y, x]
            text += "  value " + (str(int(value)) if pixels.ndim == 2 else
                                  " ".join(str(int(v)) for v in value))
        self.position.setText(text)

    def _preview_augmentation(self) -> None:
        doc = self.session.document
        if doc is None:
            return
        from isegui.gui.dialogs.augment_preview import AugmentPreviewDialog
        AugmentPreviewDialog(doc, self.session.classes(), self.training.settings.augment_text(),
                             self, self.training.settings.working_scale()).show()

    def dragEnterEvent(self, event) -> None:
        drop.accept_drag(event)

    def dragMoveEvent(self, event) -> None:
        drop.accept_drag(event)

    def dropEvent(self, event) -> None:
        drop.drop_on(self, event)

    def closeEvent(self, event) -> None:
        self.view.set_tool(None)
        if self.training.process.running:
            self.training.process.cancel()  # the run keeps its checkpoint
        self.training.click_model.stop()  # the project keeps the click model it had
        for worker in (self.review.worker, self.images.suggester):
            if worker is not None:
                worker.cancel()
                worker.wait(10_000)
        from isegui.gui.dialogs.export_model import ExportModelDialog
        for export in self.findChildren(ExportModelDialog):
            export.finish_export()
        super().closeEvent(event)
