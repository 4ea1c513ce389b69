"""Consistency > Check the whole project lists the images training would fail on."""

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def test_checking_the_project_lists_an_unreadable_image(qtbot, window):
    record = window.session.images()[1]
    path = window.session.project.image_path(record.path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])  # a copy that stopped part way
    panel = window.consistency
    window.docks["consistency"].raise_()
    QTest.mouseClick(panel.check_all, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.title.text().startswith("Project:"), timeout=10000)
    assert panel.title.text().startswith("Project: 1 errors")
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    errors = [t for t in texts if t.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {record.path}: the image cannot be read")
    assert "corrupt or truncated" in errors[0]
