"""Line rules from a run's review: the engineer sets per-class tolerances (count, area, length,
width, equivalent diameter, minimum score; classes that are defects) in a table, next to the
measurements of the run's predictions, proposes limits from the reviewed images, sees at once
which predicted images the rules would call NG and why, and saves the JSON that `isegui watch`,
`isegui station` and `export-model --rules` take (docs/rules.md)."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog,
                               QDoubleSpinBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from isegui.core.fileio import atomic_write_text
from isegui.core.line_rules import (DEFAULT_MIN_SCORE, MEASURES, Limit, Rules, RulesError,
                                    load_rules, rules_from_measurements)
from isegui.core.measure import to_mm
from isegui.core.rules_review import (PredictedImage, measurements_by_class, predicted_images,
                                      verdicts)

# the table's columns after the class name: (rules key, limit side or None, header)
COLUMNS = [("defects", None, "Defect"), ("count", "min", "Count min"),
           ("count", "max", "Count max")] + [
    (key, side, f"{key.replace('equivalent_diameter', 'eq. diameter').capitalize()} {side}")
    for key in MEASURES for side in ("min", "max")] + [("min_score", None, "Own min score")]
DEFAULT_FILE = "rules.json"


class LineRulesDialog(QDialog):
    def __init__(self, session, run_id: int, threshold: float = DEFAULT_MIN_SCORE,
                 parent=None):
        super().__init__(parent)
        self.session, self.run_id = session, run_id
        self.mm_per_px = session.project.mm_per_px
        self.path: Path | None = None
        self.rules: Rules | None = None  # the table's rules, when they are valid
        self.setWindowTitle(f"Line rules from run {run_id}'s predictions")
        self.resize(1100, 680)

        self.units = QComboBox()
        self.units.addItem("px", "px")
        self.units.addItem("mm", "mm")
        if not self.mm_per_px:
            model = self.units.model()
            assert isinstance(model, QStandardItemModel)  # a QComboBox's own model
            model.item(1).setEnabled(False)
            self.units.setToolTip("Calibrate the project (Measure panel) to set limits in mm")
        self.min_score = QDoubleSpinBox()
        self.min_score.setRange(0.0, 1.0)
        self.min_score.setSingleStep(0.05)
        self.min_score.setValue(round(float(threshold), 2))
        self.min_score.setToolTip("Predictions below it are not counted or measured; a class "
                                  "may override it in the table's last column")
        self.reviewed_only = QCheckBox("Propose from reviewed images only")
        self.reviewed_only.setToolTip("Mark the images whose parts are good as reviewed, and "
                                      "the limits are proposed from those alone")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0, 90)
        self.margin.setValue(10)
        self.margin.setSuffix(" %")
        self.margin.setToolTip("How far beyond the measured range the proposed limits go")
        self.propose = QPushButton("Propose limits")
        self.propose.setToolTip("Count, area, length, width and diameter limits of each class "
                                "from the measured predictions, widened by the margin")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([header for *_, header in COLUMNS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Empty: no limit. Sizes in the units chosen above.")
        self.note = QLabel("Every class starts as a defect: any one found makes the part NG. "
                           "Untick the classes that are parts to count or measure, then "
                           "Propose limits.")
        self.note.setObjectName("rules-note")
        self.note.setWordWrap(True)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828")
        self.error.setWordWrap(True)
        self.measured = QPlainTextEdit()
        self.measured.setReadOnly(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.failing = QListWidget()
        self.failing.setToolTip("The images these rules call NG, and why; click to open one")
        self.failing.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.open_button = QPushButton("Open…")
        self.save_button = QPushButton("Save…")
        self.close_button = QPushButton("Close")

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        for widget in (QLabel("Units"), self.units, QLabel("Min score, all classes"),
                       self.min_score,
                       self.reviewed_only, QLabel("Margin"), self.margin, self.propose):
            top.addWidget(widget)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addWidget(self.note)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        below = QWidget()
        below_layout = QHBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        for title, pane in (("Measured predictions", self.measured),
                            ("What the line would say", self.failing)):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"<b>{title}</b>"))
            if pane is self.failing:
                column.addWidget(self.summary)
            column.addWidget(pane)
            below_layout.addLayout(column, 1)
        split.addWidget(below)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        rows = min(8, max(3, len(session.classes())))
        split.setSizes([self.table.horizontalHeader().sizeHint().height()
                        + rows * (self.fontMetrics().height() + 12), 400])
        layout.addWidget(split, 1)
        layout.addWidget(self.error)
        hint = QLabel("Save… them as rules.json in the project: File > Export model for the "
                      "line then puts them in the model file, the one file the line needs "
                      "(<code>isegui watch … --rules rules.json</code> takes them too).")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

        self.class_names = [c.name for c in session.classes()]
        self.images: list[PredictedImage] = []  # the run's predicted images
        # a new line's first question is "is anything wrong": every class a defect until the
        # engineer says which are parts to count or measure
        self.set_rules(Rules(defects=tuple(self.class_names), units="px",
                             min_score=self.min_score.value()))
        self.table.itemChanged.connect(lambda _item: self._changed())
        self.units.currentIndexChanged.connect(lambda _k: self._changed())
        self.min_score.valueChanged.connect(lambda _v: self._changed())
        self.reviewed_only.toggled.connect(lambda _v: self._show_measured())
        self.propose.clicked.connect(self.propose_limits)
        self.failing.itemClicked.connect(
            lambda item: session.open_image(item.data(Qt.ItemDataRole.UserRole)))
        self.open_button.clicked.connect(self.open_file)
        self.save_button.clicked.connect(self.save_file)
        self.close_button.clicked.connect(self.close)
        self._reload_predictions()

    # ------------------------------------------------------------------ predictions

    def _reload_predictions(self) -> None:
        """The run's predictions, all of them: the rules' minimum scores choose."""
        self.images = predicted_images(self.session.store, self.run_id, 0.0)
        self._changed()

    def _changed(self) -> None:
        self._mark_overrides()
        self.reevaluate()
        self._show_measured()

    def _mark_overrides(self) -> None:
        """A class's own min score shown as an override of the one for all classes; an empty
        cell says which it uses."""
        col = [key for key, *_ in COLUMNS].index("min_score")
        overall = _num(self.min_score.value())
        self.table.blockSignals(True)
        for row in range(self.table.rowCount()):
            item = self.table.item(row, col)
            if item is None:
                continue
            own = bool(item.text().strip())
            font = item.font()
            font.setBold(own)
            item.setFont(font)
            item.setToolTip(f"Overrides the min score for all classes ({overall})" if own else
                            f"Empty: the min score for all classes ({overall})")
        self.table.blockSignals(False)

    def _proposal_images(self):
        reviewed = [i for i in self.images if self._is_reviewed(i.image_id)]
        return reviewed if self.reviewed_only.isChecked() else self.images

    def _is_reviewed(self, image_id: int) -> bool:
        from isegui.core.entities import ImageStatus
        return self.session.store.image(image_id).status == ImageStatus.REVIEWED

    def _scored(self, images):
        """The images with only the predictions the rules would count."""
        rules = self.rules or Rules(min_score=self.min_score.value())
        return [type(i)(i.image_id, i.path, [d for d in i.detections
                                             if d[1] >= rules.threshold(d[0])])
                for i in images]

    def _show_measured(self) -> None:
        images = self._scored(self._proposal_images())
        units = self.units.currentData()
        lines = [f"{len(images)} images with run {self.run_id}'s predictions"
                 + (" marked reviewed" if self.reviewed_only.isChecked() else "")
                 + f", in {units}:"]
        for name, per_image in measurements_by_class(images, self.class_names).items():
            counts = [len(ms) for ms in per_image]
            found = [m for ms in per_image for m in ms]
            if units == "mm" and self.mm_per_px:
                found = [to_mm(m, self.mm_per_px) for m in found]
            line = f"{name}: {min(counts, default=0)}–{max(counts, default=0)} per image"
            for key in MEASURES if found else ():
                values = [float(getattr(m, key)) for m in found]
                unit = units + ("²" if key == "area" else "")
                line += f"; {key.replace('_', ' ')} {_num(min(values))}–{_num(max(values))} {unit}"
            lines.append(line)
        self.measured.setPlainText("\n".join(lines))

    # ------------------------------------------------------------------ the table

    def set_rules(self, rules: Rules) -> None:
        """Show `rules` in the table (classes of the project first, then any others)."""
        for widget in (self.table, self.units, self.min_score):
            widget.blockSignals(True)
        self.units.setCurrentIndex(max(0, self.units.findData(rules.units)))
        self.min_score.setValue(rules.min_score)
        names = self.class_names + [n for n in (*rules.classes, *rules.defects)
                                    if n not in self.class_names]
        self.table.setRowCount(len(names))
        self.table.setVerticalHeaderLabels(names)
        for row, name in enumerate(names):
            rule = rules.classes.get(name)
            for col, (key, side, _) in enumerate(COLUMNS):
                if key == "defects":
                    item = QTableWidgetItem()
                    item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                    item.setCheckState(Qt.CheckState.Checked if name in rules.defects
                                       else Qt.CheckState.Unchecked)
                else:
                    item = QTableWidgetItem(_cell(rule, key, side))
                self.table.setItem(row, col, item)
        for widget in (self.table, self.units, self.min_score):
            widget.blockSignals(False)
        self._changed()

    def table_rules(self) -> Rules:
        """The rules the table holds, checked as a rules file is (RulesError names the cell)."""
        classes: dict[str, dict] = {}
        defects = []
        for row in range(self.table.rowCount()):
            name = self.table.verticalHeaderItem(row).text()
            entry: dict = {}
            for col, (key, side, header) in enumerate(COLUMNS):
                item = self.table.item(row, col)
                assert item is not None  # set_rules fills every cell
                if key == "defects":
                    if item.checkState() == Qt.CheckState.Checked:
                        defects.append(name)
                    continue
                text = item.text().strip()
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    raise RulesError("the rules table", f"{name}, {header}: {text!r} is not "
                                     "a number") from None
                if key == "count" and value.is_integer():
                    value = int(value)
                if side is None:
                    entry[key] = value
                else:
                    entry.setdefault(key, {})[side] = value
            if entry:
                classes[name] = entry
        return Rules.from_json({"isegui_rules": 1, "units": self.units.currentData(),
                                "min_score": self.min_score.value(), "classes": classes,
                                "defects": defects}, "the rules table")

    def reevaluate(self) -> None:
        """Check the table and show each predicted image's verdict under it."""
        self.failing.clear()
        try:
            self.rules = self.table_rules()
            results = verdicts(self.rules, self.images, self.mm_per_px)
        except RulesError as exc:
            self.rules = None
            self.error.setText(str(exc))
            self.summary.setText("Fix the rules to see the verdicts.")
            self.save_button.setEnabled(False)
            return
        self.error.setText("")
        self.save_button.setEnabled(True)
        failed = [(image, v) for image, v in results if not v.ok]
        self.summary.setText(f"{len(results) - len(failed)} of {len(results)} predicted images "
                             f"OK, {len(failed)} NG" if results else
                             "No predictions of this run yet: predict some images first.")
        for image, verdict in failed:
            name = image.path.rsplit("/", 1)[-1]
            item = QListWidgetItem(f"{name}: NG — {'; '.join(verdict.reasons)}")
            item.setToolTip("\n".join([f"{name}: NG", *verdict.reasons]))
            item.setData(Qt.ItemDataRole.UserRole, image.image_id)
            self.failing.addItem(item)

    def propose_limits(self) -> None:
        """Limits from the measured predictions (reviewed images, if so chosen), widened by
        the margin; the defect ticks and minimum scores stay."""
        images = self._scored(self._proposal_images())
        if not images:
            self.note.setText("Nothing proposed: no predicted images to propose limits from"
                              + (" (none is marked reviewed: mark the good parts reviewed, or "
                                 "untick 'reviewed images only')." if
                                 self.reviewed_only.isChecked() else
                                 " — predict some images with this run first (Review)."))
            return
        units = self.units.currentData()
        keep = self.rules or Rules()
        measured = {name: per_image for name, per_image
                    in measurements_by_class(images, self.class_names).items()
                    if name not in keep.defects}  # any instance of a defect is NG anyway
        if not measured:
            self.note.setText("Nothing proposed: every class is ticked as a defect, and a "
                              "defect has no limits (any one is NG). Untick the classes that "
                              "are parts to count or measure.")
            return
        proposed = rules_from_measurements(measured, self.margin.value() / 100, units,
                                           self.mm_per_px)
        seen = [n for n, per_image in measured.items() if any(per_image)]
        self.note.setText(
            f"Limits proposed from {len(images)} images (margin {self.margin.value():g} %) "
            + (f"for {', '.join(seen)}" if seen else "")
            + "".join(f"; no {n} above its min score: its count must stay 0"
                      for n in measured if n not in seen) + ".")
        classes = {name: type(rule)(rule.count, rule.sizes,
                                    keep.classes[name].min_score if name in keep.classes
                                    else None)
                   for name, rule in proposed.classes.items()}
        self.set_rules(Rules(classes, keep.defects, units, self.min_score.value()))

    # ------------------------------------------------------------------ files

    def open_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open line rules",
                                              str(self.session.project.folder),
                                              "Rules (*.json);;All files (*)")
        if name:
            self.load(Path(name))

    def load(self, path: Path) -> bool:
        try:
            rules = load_rules(path)
        except RulesError as exc:
            self.error.setText(str(exc))
            return False
        self.path = path
        self.set_rules(rules)
        return True

    def save_file(self) -> None:
        default = self.path or self.session.project.folder / DEFAULT_FILE
        name, _ = QFileDialog.getSaveFileName(self, "Save line rules", str(default),
                                              "Rules (*.json)")
        if name:
            self.save(Path(name))

    def save(self, path: Path) -> bool:
        if self.rules is None:
            return False
        try:
            atomic_write_text(path, self.rules.to_json())
        except OSError as exc:
            self.error.setText(f"{path}: cannot write the rules: {exc.strerror or exc}")
            return False
        self.path = path
        self.error.setText("")
        self.summary.setText(self.summary.text() + f" Saved to {path}.")
        return True


def _cell(rule, key: str, side: str | None) -> str:
    if rule is None:
        return ""
    if key == "min_score":
        return "" if rule.min_score is None else _num(rule.min_score)
    limit = rule.count if key == "count" else rule.sizes.get(key, Limit())
    value = getattr(limit, side) if side else None
    return "" if value is None else _num(value)


def _num(value: float) -> str:
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"
