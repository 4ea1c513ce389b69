"""The curves of a run: each training loss by step and validation mAP by epoch, live while it
trains and redrawn from its events file afterwards. The legend is a row of check boxes under
each plot (every drawn series, in its colour; unchecking hides it), so it never covers the
curves."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QCheckBox, QGridLayout, QSplitter, QVBoxLayout, QWidget

# distinct on the dark plot background; each plot counts its own series
SERIES_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
                 "#bfef45")
LOSS_NAMES = {"loss": "total", "loss_classifier": "class", "loss_box_reg": "box",
              "loss_mask": "mask", "loss_objectness": "objectness",
              "loss_rpn_box_reg": "RPN box"}
MAP_NAMES = {"mask_map": "mask mAP", "box_map": "box mAP"}
LEGEND_COLUMNS = 3


class CurvePlot(QWidget):
    """One plot with its series and their check-box legend."""

    def __init__(self, title: str, x_label: str, y_range: tuple | None = None):
        super().__init__()
        self.plot = pg.PlotWidget(title=title)
        self.plot.setLabel("bottom", x_label)
        if y_range:
            self.plot.setYRange(*y_range)
        self.legend = QGridLayout()
        self.legend.setContentsMargins(4, 0, 4, 0)
        self.legend.setHorizontalSpacing(8)
        self.legend.setVerticalSpacing(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(self.legend)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.boxes: dict[str, QCheckBox] = {}
        self.points: dict[str, tuple[list, list]] = {}

    def sizeHint(self) -> QSize:
        return QSize(240, 220)  # a plot's own hint (600 px) would widen the whole dock

    def add(self, key: str, label: str, x, y) -> None:
        xs, ys = self.points.setdefault(key, ([], []))
        if xs and x <= xs[-1]:  # done again (a run resumed from an earlier checkpoint)
            keep = sum(1 for v in xs if v < x)
            del xs[keep:], ys[keep:]
        xs.append(x)
        ys.append(y)
        if key not in self.curves:
            self._new_series(key, label)
        curve = self.curves[key]
        curve.setData(xs, ys)
        curve.setSymbol("o" if len(xs) == 1 else None)  # a line of one point draws nothing

    def _new_series(self, key: str, label: str) -> None:
        color = SERIES_COLORS[len(self.curves) % len(SERIES_COLORS)]
        self.curves[key] = self.plot.plot(pen=pg.mkPen(color, width=2), symbolSize=6,
                                          symbolBrush=color, symbolPen=None)
        box = QCheckBox(label)
        box.setChecked(True)
        box.setToolTip(f"{key}: show or hide this curve")
        swatch = QPixmap(14, 4)
        swatch.fill(QColor(color))
        box.setIcon(QIcon(swatch))
        box.toggled.connect(self.curves[key].setVisible)
        n = len(self.boxes)
        self.legend.addWidget(box, n // LEGEND_COLUMNS, n % LEGEND_COLUMNS)
        self.boxes[key] = box

    def clear(self) -> None:
        self.plot.clear()
        for box in self.boxes.values():
            self.legend.removeWidget(box)
            box.deleteLater()
        self.curves.clear()
        self.boxes.clear()
        self.points.clear()

    def legend_entries(self) -> list[tuple[str, str]]:
        """(label, colour) of each series, in the legend's order."""
        return [(box.text(), self.curves[key].opts["pen"].color().name())
                for key, box in self.boxes.items()]


class CurvesWidget(QWidget):
    def __init__(self):
        super().__init__()
        self.losses = CurvePlot("Training losses", "step")
        self.maps = CurvePlot("Validation mAP", "epoch", (0, 1))
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.losses)
        plots.addWidget(self.maps)
        plots.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(plots)

    def clear(self) -> None:
        self.losses.clear()
        self.maps.clear()

    def add_step(self, fields: dict) -> None:
        for key, value in (fields.get("losses") or {}).items():
            self.losses.add(key, LOSS_NAMES.get(key, key), fields["step"], value)

    def add_epoch(self, fields: dict) -> None:
        for key, label in MAP_NAMES.items():
            if key in fields:
                self.maps.add(key, label, fields["epoch"], fields[key])

    def load(self, events: list[tuple[str, dict]]) -> None:
        """Draw a run's curves from its events (replacing what is shown)."""
        self.clear()
        for kind, fields in events:
            (self.add_step if kind == "step" else self.add_epoch)(fields)

    @property
    def series(self) -> dict[str, tuple[list, list]]:
        """Every series' points by its key (loss names, mask_map, box_map)."""
        return {**self.losses.points, **self.maps.points}
