"""The window's actions, menus and tool bars, with their shortcuts (labelme's where it has
them: D / A for next / previous)."""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QMenu, QSlider, QSpinBox

from isegui.core.entities import ImageStatus
from isegui.core.store.team import TEAM_SUFFIX
from isegui.gui import edit_actions, image_adding
from isegui.gui.commands.instance_commands import SetImageStatusCommand
from isegui.gui.tools.assist_context import ENGINES
from isegui.gui.user_settings import recent_projects
from isegui.logs import log_folder

TOOL_KEYS = {"edit": ("Edit", "E", "Select, move, edit vertices (double-click an edge to add "
                               "one, Del on a vertex removes it)"),
             "polygon": ("Polygon", "P", "Click the vertices; close on the first one or with "
                                         "Enter; Backspace removes the last; Esc cancels"),
             "rectangle": ("Rectangle", "R", "Drag a rectangle"),
             "ellipse": ("Ellipse", "C", "Drag an ellipse"),
             "hole": ("Hole", "H", "Draw a polygon inside the selected instance to cut a hole"),
             "brush": ("Brush", "B", "Paint the selected instance (or a new one); [ and ] "
                                     "change the size"),
             "eraser": ("Eraser", "X", "Erase from the selected instance"),
             "box-mask": ("Box → mask", "M", "Drag a box around an object: the active run's "
                                            "model outlines it (GrabCut without a trained "
                                            "run); Shift keeps the active class"),
             "click": ("Click → instance", "I", "Click an object: the model's (or GrabCut's) "
                                               "outline shows; click again to refine (right "
                                               "click or Shift: not part of it); Enter adds "
                                               "it, Esc drops it"),
             "scissors": ("Edge outline", "T", "Click anchors around an object: the outline "
                                              "follows its edges between them; close on the "
                                              "first anchor or with Enter"),
             "wand": ("Magic wand", "W", "Click: the region of similar colour becomes a new "
                                         "instance, or joins the selected one where it "
                                         "touches it (Ctrl: anywhere); Shift cuts it; [ and ] "
                                         "change the tolerance")}


ASSISTED_TOOLS = ("box-mask", "click", "scissors", "wand")  # on a tool bar row of their own

TOOLBAR_WORDS = {"snap": "Snap", "clip": "Clip", "fit": "Fit", "actual": "1:1",
                 "outline": "Outlines", "labels": "Labels", "class-names": "Names"}


def build_actions(window) -> tuple[dict[str, QAction], QMenu, QSlider]:
    """The window's actions by name, in its menus and toolbars; also the recent-projects menu
    and the fill-opacity slider, which the window keeps."""
    session, ctx = window.session, window.ctx
    actions: dict[str, QAction] = {}

    def act(name, text, slot, shortcut=None, tip="", checkable=False):
        action = QAction(text, window)
        if shortcut:
            action.setShortcuts([QKeySequence(s) for s in
                                 (shortcut if isinstance(shortcut, tuple) else (shortcut,))])
        action.setToolTip(f"{tip or text}" + (f" ({action.shortcut().toString()})"
                                                if shortcut else ""))
        action.setStatusTip(tip or text)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        window.addAction(action)
        actions[name] = action
        return action

    undo = session.undo_stack.createUndoAction(window, "Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = session.undo_stack.createRedoAction(window, "Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    actions["undo"], actions["redo"] = undo, redo
    for action, word in ((undo, "Undo"), (redo, "Redo")):
        # the menu shows "Undo <command>"; the tool bar button keeps one word and one width
        action.setIconText(word)
        action.changed.connect(lambda a=action: _name_in_tip(a))
        _name_in_tip(action)

    act("new-project", "New project…", lambda: image_adding.ask_new_project(window),
        "Ctrl+N", "Make a project from a folder of your images (they come in unlabeled)")
    act("new-team-project", "New team project…", lambda: _new_team_project(window),
        "Ctrl+Shift+N", "Make a team project in the PostgreSQL database your team shares, "
        "and its team file")
    act("add-images", "Add images…", lambda: image_adding.ask_add_images(window), "Ctrl+I",
        "Add a folder of images or image files to this project, unlabeled (or drop them on "
        "the window)")
    act("open-team-project", "Open team project…", lambda: _choose_team_file(window), None,
        "Open a team project's .isegui-team file")
    act("open-project", "Open project…", lambda: _choose_and_open(window), "Ctrl+O",
        "Open another project folder (this one closes; every edit is already saved)")
    act("export-model", "Export model for the line…", lambda: _export_model(window), None,
        "Write a run's model as one .onnx file for the line runtime (isegui watch, the "
        "station), with the line rules and the calibration")
    act("getting-started", "Getting started", lambda: show_help(window, "getting-started"), "F1",
        "The three steps: your images in, label, train and review")
    act("keyboard-reference", "Keyboard reference", lambda: show_help(window, "keys"),
        tip="Every key and mouse gesture of the window")
    act("show-logs", "Show log folder", lambda: show_log_folder(window), tip="Open the folder "
        "of isegui's log files, for support")
    act("save", "Save", lambda: window.statusBar().showMessage(
        "Every edit is saved as you make it.", 4000), "Ctrl+S")
    act("quit", "Quit", window.close, "Ctrl+Q")
    act("copy", "Copy", lambda: edit_actions.copy(ctx), "Ctrl+C")
    act("paste", "Paste", lambda: edit_actions.paste(ctx), "Ctrl+V")
    act("duplicate", "Duplicate", lambda: edit_actions.duplicate(ctx), "Ctrl+D")
    act("copy-previous", "Copy labels from the previous image", lambda: _copy_previous(window),
        "Ctrl+Shift+V", "Copy every instance of the previous image here, keeping track ids")
    act("propagate", "Propagate labels from the previous image",
        lambda: _copy_previous(window, refit=True), "Ctrl+Shift+B",
        "Every instance of the previous image, re-fitted to this image by the active run's "
        "model on its box (GrabCut without one), keeping track ids")
    act("join", "Join selected", lambda: edit_actions.union(ctx), "Ctrl+J",
        "Join the selected instances into the first")
    act("subtract", "Subtract selected", lambda: edit_actions.subtract(ctx), "Ctrl+Shift+J",
        "Cut the other selected instances out of the first")
    act("split", "Split into parts", lambda: edit_actions.split_parts(ctx), "Ctrl+K",
        "Make each separate part of the selected instance an instance of its own")

    def give_class() -> None:
        if session.active_class_id:
            edit_actions.change_class(ctx, session.active_class_id)
    act("give-class", "Give the selection the active class", give_class, "Ctrl+G",
        "Change the class of the selected instances to the active class (pick it with 1-9)")
    act("raise", "Raise", lambda: edit_actions.restack(ctx, +1), "PgUp")
    act("lower", "Lower", lambda: edit_actions.restack(ctx, -1), "PgDown")
    act("select-all", "Select all", lambda: session.document and session.document.set_selection(
        [i.id for i in session.document.instances()]), "Ctrl+A")

    act("fit", "Fit to window", window.view.fit, ("F", "Ctrl+0"))
    act("actual", "Actual pixels (1:1)", window.view.actual_size, "Ctrl+1")
    act("zoom-in", "Zoom in", lambda: window.view.zoom_by(1.25), ("+", "="))
    act("zoom-out", "Zoom out", lambda: window.view.zoom_by(0.8), "-")
    outline = act("outline", "Outlines only", lambda on: window.scene.set_display(
        outline_only=on), "O", checkable=True)
    labels = act("labels", "Show labels", lambda on: window.scene.set_display(
        labels_visible=on), "L", "Show the labeled instances (off: the bare image)",
        checkable=True)
    labels.setChecked(True)
    act("class-names", "Show class names", lambda on: window.scene.set_display(
        names_visible=on), "N", "Write each instance's class and id beside it (zoomed far out, "
        "only on instances large enough to carry one)", checkable=True).setChecked(True)

    act("next", "Next image", lambda: window.images.step(+1), "D")
    act("previous", "Previous image", lambda: window.images.step(-1), "A")
    act("take-over", "Take over this image", lambda: window.session.take_over(), None,
        "Label the image on screen although a team mate is labeling it (team projects)")
    act("mark-labeled", "Mark as labeled", lambda: _mark(window, ImageStatus.LABELED),
        "Ctrl+Shift+L")
    act("mark-reviewed", "Mark as reviewed", lambda: _mark(window, ImageStatus.REVIEWED),
        "Ctrl+R")
    for n in range(1, 10):
        act(f"class-{n}", f"Class {n}", lambda _=False, n=n: window.classes.pick_number(n),
            str(n))

    tools = QActionGroup(window)
    for name, (text, key, tip) in TOOL_KEYS.items():
        action = act(f"tool-{name}", text, lambda _=False, n=name: window.set_tool(n), key, tip,
                     checkable=True)
        tools.addAction(action)
    snap = act("snap", "Snap to neighbours", lambda on: ctx.options.set(snap=on), "S",
               "New and moved vertices snap to nearby edges and vertices of other instances",
               checkable=True)
    clip = act("clip", "Clip to others", lambda on: ctx.options.set(clip=on), "K",
               "A new instance gets only area no other instance owns; an edited one loses what "
               "instances above it own", checkable=True)
    clip.setShortcut(QKeySequence("Shift+K"))

    recent = _menus(window, actions)
    opacity = _toolbars(window, actions, snap, clip, outline, labels)
    return actions, recent, opacity


def _menus(window, a: dict) -> QMenu:
    bar = window.menuBar()
    for title, names in (
            ("&File", ["new-project", "new-team-project", "open-project", "open-team-project",
                       "recent", None,
                       "add-images", None, "export-model", None, "save", None, "quit"]),
            ("&Edit", ["undo", "redo", None, "copy", "paste", "duplicate", "copy-previous",
                       "propagate", None,
                       "join", "subtract", "split", None, "give-class", "raise", "lower",
                       "select-all"]),
            ("&View", ["fit", "actual", "zoom-in", "zoom-out", None, "outline", "labels",
                       "class-names"]),
            ("&Image", ["next", "previous", None, "mark-labeled", "mark-reviewed", None,
                        "take-over"]),
            ("&Tools", [f"tool-{n}" for n in TOOL_KEYS] + [None, "snap", "clip"]),
            ("&Help", ["getting-started", "keyboard-reference", None, "show-logs"])):
        menu = bar.addMenu(title)
        for name in names:
            if name is None:
                menu.addSeparator()
            elif name == "recent":
                recent = menu.addMenu("Open &recent")
                recent.aboutToShow.connect(lambda m=recent: fill_recent_menu(window, m))
            else:
                menu.addAction(a[name])
    return recent


def _export_model(window):
    from isegui.gui.dialogs.export_model import ExportModelDialog
    dialog = window.findChild(ExportModelDialog)
    if dialog is None:
        dialog = ExportModelDialog(window.session, window)
    dialog.show()
    dialog.raise_()
    return dialog


def fill_recent_menu(window, menu: QMenu) -> None:
    """The recent projects as they are when the menu opens, without the one on screen."""
    menu.clear()
    here = window.session.project.folder.resolve()
    shown = [p for p in recent_projects() if p.resolve() != here]
    for n, folder in enumerate(shown, start=1):
        action = menu.addAction(f"&{n}  {folder.name}  ({folder.parent})")
        action.setData(str(folder))
        action.triggered.connect(
            lambda _=False, f=folder: window.projectRequested.emit(f, None))
    if not shown:
        menu.addAction("(no other recent projects)").setEnabled(False)


def show_help(window, which: str):
    """Open (or bring up) a help dialog; it stays open beside the window while you work."""
    from isegui.gui.dialogs.help import GettingStartedDialog, KeyboardReferenceDialog
    kind = GettingStartedDialog if which == "getting-started" else KeyboardReferenceDialog
    dialog = window.findChild(kind)
    if dialog is None:
        dialog = kind(window)
    dialog.show()
    dialog.raise_()
    return dialog


def show_log_folder(window) -> Path:
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    window.statusBar().showMessage(f"The log files are in {folder}", 15000)
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
    return folder


def _name_in_tip(action: QAction) -> None:
    """The command's name ("Undo Draw polygon 3") in the tip, as the action's text changes."""
    if not shiboken6.isValid(action):  # `changed` comes once more while the window goes
        return
    tip = f"{action.text()} ({action.shortcut().toString()})"
    if (action.toolTip(), action.statusTip()) != (tip, action.text()):  # `changed` again
        action.setToolTip(tip)
        action.setStatusTip(action.text())


def _toolbars(window, a: dict, snap, clip, outline, labels) -> QSlider:
    tools = window.addToolBar("Tools")
    tools.setObjectName("toolbar-tools")
    for name in TOOL_KEYS:
        if name not in ASSISTED_TOOLS:
            tools.addAction(a[f"tool-{name}"])
    tools.addSeparator()
    tools.addAction(snap)
    tools.addAction(clip)
    tools.addWidget(QLabel(" Brush "))
    size = QSpinBox()
    size.setRange(1, 500)
    size.setSuffix(" px")
    size.setValue(window.options.brush_size)
    size.setToolTip("Brush and eraser diameter ([ and ])")
    size.valueChanged.connect(lambda v: window.options.set(brush_size=v))
    window.options.changed.connect(lambda: size.setValue(window.options.brush_size))
    tools.addWidget(size)

    window.addToolBarBreak()
    assisted = window.addToolBar("Assisted labeling")
    assisted.setObjectName("toolbar-assisted")
    for name in ASSISTED_TOOLS:
        assisted.addAction(a[f"tool-{name}"])
    assisted.addWidget(QLabel(" Tolerance "))
    tolerance = QSpinBox()
    tolerance.setObjectName("wand-tolerance")
    tolerance.setRange(0, 255)
    tolerance.setValue(window.options.wand_tolerance)
    tolerance.setToolTip("Magic wand: how far a colour may be from the clicked one "
                         "(0-255; [ and ])")
    tolerance.valueChanged.connect(lambda v: window.options.set(wand_tolerance=v))
    window.options.changed.connect(
        lambda: tolerance.setValue(window.options.wand_tolerance))
    assisted.addWidget(tolerance)
    assisted.addWidget(QLabel(" Engine "))
    engine = QComboBox()
    engine.setObjectName("assist-engine")
    for key, text in ENGINES.items():
        engine.addItem(text, key)
    engine.setCurrentIndex(engine.findData(window.options.engine))
    engine.setToolTip("What box → mask and click → instance use: the active run's model, "
                      "colour (GrabCut), or Auto: the model where it is sure (score, mask, "
                      "and a mask that fills the box), else GrabCut")
    engine.currentIndexChanged.connect(
        lambda _: window.options.set(engine=engine.currentData()))
    assisted.addWidget(engine)

    view = window.addToolBar("View")
    view.setObjectName("toolbar-view")
    for name in ("undo", "redo", "fit", "actual"):
        view.addAction(a[name])
    view.addSeparator()
    view.addAction(outline)
    view.addAction(labels)
    view.addAction(a["class-names"])
    # short words on the buttons (the menus keep the full names): both bars fit at 1400 px
    for name, word in TOOLBAR_WORDS.items():
        a[name].setIconText(word)
    view.addWidget(QLabel(" Fill "))
    opacity = QSlider(Qt.Orientation.Horizontal)
    opacity.setRange(0, 100)
    opacity.setValue(int(window.scene.opacity * 100))
    opacity.setFixedWidth(110)
    opacity.setToolTip("Opacity of the filled instances")
    opacity.valueChanged.connect(lambda v: window.scene.set_display(opacity=v / 100))
    view.addWidget(opacity)
    return opacity


def _copy_previous(window, refit: bool = False) -> None:
    previous = window.images.previous_image_id()
    if previous is None:
        window.statusBar().showMessage("There is no previous image in the list.", 4000)
        return
    if refit:
        from isegui.gui.tools.assisted import busy, refit_shape
        with busy():
            edit_actions.copy_from_image(window.ctx, previous,
                                         refit=lambda inst: refit_shape(window.ctx, inst))
    else:
        edit_actions.copy_from_image(window.ctx, previous)


def _mark(window, status: ImageStatus) -> None:
    doc = window.session.document
    if doc is not None and doc.record.status != status:
        window.session.undo_stack.push(SetImageStatusCommand(window.session, doc.image_id,
                                                             status))


def _new_team_project(window):
    from isegui.gui.dialogs.new_team_project import ask_new_team_project
    return ask_new_team_project(window)


def _choose_and_open(window) -> None:
    chosen = QFileDialog.getExistingDirectory(window, "Project folder")
    if chosen:
        window.projectRequested.emit(Path(chosen), None)


def _choose_team_file(window) -> None:
    chosen, _ = QFileDialog.getOpenFileName(window, "Team project", "",
                                            f"Team projects (*{TEAM_SUFFIX})")
    if chosen:
        window.projectRequested.emit(Path(chosen), None)
