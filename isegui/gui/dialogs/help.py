"""Help: "Getting started" (the three steps from a folder of photos to a reviewed model) and
the keyboard reference. Both read the window's own actions (names, shortcuts, tips), so a key
that changes changes here too."""

from __future__ import annotations

import html

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

# what the canvas does without an action of its own (mouse gestures, keys inside a tool)
CANVAS_KEYS = (
    ("Zoom at the cursor", "Mouse wheel", ""),
    ("Pan", "Middle button drag, or Space + drag", ""),
    ("Nudge the selection", "Arrow keys (Shift: 10 px)", "Edit tool"),
    ("Delete the vertex under the cursor, or the selection", "Del, Backspace", "Edit tool"),
    ("Add a vertex", "Double-click an edge", "Edit tool"),
    ("Close the polygon / remove its last point", "Enter / Backspace", "Polygon and hole tools"),
    ("Cancel what is being drawn, or clear the selection", "Esc", ""),
    ("Brush and eraser size", "[ and ]", "Brush and eraser"),
    ("Add to or take from the selection", "Shift+click, Ctrl+click", "Edit tool"),
)


def _name(action) -> str:
    # the undo stack's actions carry the command in their text ("Undo Draw polygon 3")
    text = action.iconText() if action.text().startswith(("Undo ", "Redo ")) else action.text()
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _keys(action) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                     for s in action.shortcuts())


class KeyboardReferenceDialog(QDialog):
    """Every menu action with a shortcut, menu by menu, then the canvas's own keys."""

    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Keyboard reference")
        self._rows: list[tuple[str, str, str]] = []
        sections: list[tuple[str, list]] = []
        for menu_action in window.menuBar().actions():
            menu = menu_action.menu()
            if menu is None:
                continue
            rows = [(_name(a), _keys(a), a.statusTip() if a.statusTip() != a.text() else "")
                    for a in menu.actions()
                    if not a.isSeparator() and a.menu() is None and a.shortcuts()]
            if rows:
                sections.append((menu_action.text().replace("&", ""), rows))
        classes = [a for n, a in window.actions_by_name.items()
                   if n.startswith("class-") and n[6:].isdigit() and a.shortcuts()]
        if classes:  # keys without a menu item
            sections.append(("Classes", [("Pick the active class", f"{_keys(classes[0])}-"
                                          f"{_keys(classes[-1])}", "In the Classes dock's order; "
                                          "new instances get it")]))
        sections.append(("On the canvas", list(CANVAS_KEYS)))
        lines = []
        for title, rows in sections:
            lines.append(f'<h3>{html.escape(title)}</h3><table cellpadding="2" width="100%">')
            for name, keys, tip in rows:
                self._rows.append((name, keys, tip))
                lines.append(f'<tr><td width="24%"><b>{html.escape(keys)}</b></td>'
                             f'<td width="34%">{html.escape(name)}</td>'
                             f'<td><span style="color: gray">{html.escape(tip)}</span></td></tr>')
            lines.append("</table>")
        self.browser = QTextBrowser()
        self.browser.setHtml("".join(lines))
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout.addWidget(close)
        self.resize(820, 680)

    def rows(self) -> list[tuple[str, str, str]]:
        """(name, keys, what it does) of every key listed."""
        return list(self._rows)


class GettingStartedDialog(QDialog):
    """The three steps: images in, label, train and review."""

    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Getting started")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(_guide(window.actions_by_name))
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout.addWidget(close)
        self.resize(640, 620)

    def text(self) -> str:
        return self.browser.toPlainText()


def _guide(actions: dict) -> str:
    def key(name: str) -> str:
        action = actions.get(name)
        return f" (<b>{html.escape(_keys(action))}</b>)" if action and action.shortcuts() else ""

    def menu_item(name: str, fallback: str) -> str:
        action = actions.get(name)
        return html.escape(_name(action) if action else fallback)

    tools = ", ".join(f"<b>{html.escape(_keys(a))}</b> {html.escape(_name(a).lower())}"
                      for n, a in actions.items() if n.startswith("tool-") and a.shortcuts())
    return f"""
<h3>1. Your images in</h3>
<p><b>File &gt; {menu_item("new-project", "New project…")}</b>{key("new-project")} makes a
project from a folder of your images; they come in unlabeled and stay where they are.
<b>File &gt; {menu_item("add-images", "Add images…")}</b>{key("add-images")} adds more (a
folder or files), and so does dropping a folder or image files on the window. A project is a
folder; every edit is saved the moment you make it.</p>

<h3>2. Label</h3>
<p>Add your classes in the <b>Classes</b> dock (<b>Add</b>); the keys <b>1</b>-<b>9</b> pick
the class new instances get. Draw every object as an instance of its own. Tools: {tools}.
The polygon closes on its first point or with Enter; the brush size changes with [ and ];
in the edit tool drag a vertex, double-click an edge for a new one, Del removes one.
Undo{key("undo")} takes back any edit.</p>
<p>Box → mask and click → instance find the outline for you. The tool bar's <b>Engine</b>
says with what: <i>Model</i> (the active run, once trained), <i>Colour</i> (GrabCut) or
<i>Auto</i>, the model only where it is sure, else GrabCut; the status bar names the one that
made each instance. The model is read in the background when a run becomes active.</p>
<p>An image you have started is <i>in progress</i> (◔ in the image list). When every
object in it is drawn, mark it
<b>{menu_item("mark-labeled", "Mark as labeled")}</b>{key("mark-labeled")}: training learns
only from labeled and reviewed images (in an image in progress, a missing object would be
taught as background), and Review judges predictions only there.
{menu_item("next", "Next image")}{key("next")} and
{menu_item("previous", "Previous image")}{key("previous")} step through the list. Right-click
selected images in the list to move them to the train, val or test split.
Help &gt; Keyboard reference lists every key.</p>

<h3>3. Train and review</h3>
<p>In the <b>Training</b> dock, <b>Start training</b>. A first run wants a few dozen labeled
images with each class on several of them; without a val split it holds some labeled images
out to measure itself. Before it starts, the panel says what will limit it (no pretrained
weights file, objects too small at the input size) and what helps. The curves show the losses
and the validation mAP as it learns; Cancel keeps what it learned and Resume goes on.</p>
<p>In the <b>Review</b> dock, predict this image, the listed images or all of them: the
predictions are drawn over your labels, right in green, wrong in red, missed in orange.
Accept a good prediction and it becomes a label you can correct: the next images go faster,
and each run learns from more.</p>
"""
