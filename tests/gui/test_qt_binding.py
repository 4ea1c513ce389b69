"""Guards against a Qt binding that corrupts reference counts (PySide6 6.12.0 on Python 3.11
dropped a reference to None on every QTableWidgetItem.setData and crashed the app)."""

import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12")
def test_item_calls_keep_none_alive(qtbot):
    table = QTableWidget(50, 4)
    qtbot.addWidget(table)
    before = sys.getrefcount(None)
    for k in range(200):
        item = QTableWidgetItem(str(k))
        item.setData(Qt.ItemDataRole.UserRole, k)
        table.setItem(k // 4, k % 4, item)
    assert sys.getrefcount(None) - before > -20  # 200 calls: a leak would show ~-400
