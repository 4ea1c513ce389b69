"""The project's runs as a table: the columns that matter fit the dock without sideways
scrolling (name, epochs and settings are in each row's tooltip); newest first."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from isegui.core.entities import RunStatus
from isegui.core.working_scale import WorkingScale

RUN_COLUMNS = ("Run", "Status", "Model", "Size", "Time", "Mask mAP", "Box mAP", "Active")
HEADER_TIPS = ("The run's number (its folder: runs/NNNN)", "", "",
               "Input size in px, or the tile side (tiles of large frames; their scale is in "
               "the row's tooltip)",
               "How long it trained", "Best validation mask mAP (the epoch in the tooltip)",
               "Box mAP at that epoch", "The active run's model predicts in Review")


class RunsTable(QTableWidget):
    def __init__(self):
        super().__init__(0, len(RUN_COLUMNS))
        self.setHorizontalHeaderLabels(RUN_COLUMNS)
        for col, tip in enumerate(HEADER_TIPS):
            if tip:
                header_item = self.horizontalHeaderItem(col)
                assert header_item is not None  # setHorizontalHeaderLabels made it
                header_item.setToolTip(tip)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(24)

    def show_runs(self, runs, active: int | None) -> None:
        """`runs` oldest first (as the store lists them); the table shows the newest first and
        keeps the selected run selected."""
        selected = self.selected_run()
        self.setRowCount(len(runs))
        for row, run in enumerate(reversed(runs)):
            best = run.metrics.get("best", {}) if isinstance(run.metrics, dict) else {}
            cells = [str(run.id), run.status.value, run.config.get("model", ""),
                     _size_text(run.config), _run_time(run),
                     _fmt(best.get("mask_map")), _fmt(best.get("box_map")),
                     "✓" if run.id == active else ""]
            tip = _describe(run, best)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, run.id)
                item.setToolTip(tip)
                if col in (0, 3, 5, 6):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                          Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, col, item)
        if selected is not None:
            self.select_run(selected)

    def selected_run(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.item(rows[0].row(), 0)
        assert item is not None  # show_runs fills every cell
        return item.data(Qt.ItemDataRole.UserRole)

    def select_run(self, run_id: int) -> None:
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            assert item is not None  # show_runs fills every cell
            if item.data(Qt.ItemDataRole.UserRole) == run_id:
                self.selectRow(row)
                return


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""


def duration(seconds: float) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _run_time(run) -> str:
    if run.finished:
        try:
            span = datetime.fromisoformat(run.finished) - datetime.fromisoformat(run.created)
            return duration(span.total_seconds())
        except ValueError:
            return ""
    return "running" if run.status == RunStatus.RUNNING else ""


def _working(config: dict) -> WorkingScale:
    return WorkingScale.from_dict(config.get("working_scale"), config.get("size", 512))


def _size_text(config: dict) -> str:
    """"512", or "512 tiles" for a run on tiles (their scale is in the row's tooltip)."""
    w = _working(config)
    return f"{w.size} tiles" if w.tiled else str(w.size)


def _describe(run, best: dict) -> str:
    c = run.config
    epoch = f", best at epoch {best['epoch']}" if "epoch" in best else ""
    return (f"run {run.id}: {run.name}{epoch}\nmodel {c.get('model')}, "
            f"{_working(c).describe()}, "
            f"batch {c.get('batch')}, lr {c.get('lr') or 'default'}, augment "
            f"{c.get('augment')}\nvalidation: {c.get('validation')}\n"
            f"weights: {(c.get('init') or {}).get('source')}")
