"""A screenshot of Review > Line rules… on the demo project, the demo's labels standing in for
a run's predictions (so no training is needed): limits proposed from the images marked
reviewed, the counts left open (the demo's scenes hold any number of parts), and what the
line would say about the images not reviewed.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/line_rules_screenshot.py \
        docs/line-rules.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from isegui.core.demo import create_demo_project
    from isegui.core.entities import ImageStatus, RunStatus
    from isegui.core.project import Project
    from isegui.gui.app import open_window
    from isegui.gui.dialogs.line_rules import COLUMNS, LineRulesDialog
    folder = Path(tempfile.mkdtemp(prefix="isegui-rules-")) / "demo"
    create_demo_project(folder, n_images=12).close()
    with Project.open(folder) as project:
        store = project.store
        run = store.add_run("demo-run", {"model": "fast", "size": 512})
        store.update_run(run.id, status=RunStatus.FINISHED, checkpoint="runs/0001/best.pt")
        for k, record in enumerate(store.images()):
            labels = [i for i in store.instances(record.id) if not i.crowd]
            store.add_predictions(record.id, run.id, [
                (i.class_id, i.shape, 0.97 - 0.01 * (n % 30)) for n, i in enumerate(labels)])
            if k < 8:
                store.set_status(record.id, ImageStatus.REVIEWED)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = open_window(folder)
    window.resize(1500, 950)
    window.show()
    dialog = LineRulesDialog(window.session, run.id, 0.5, window)
    dialog.resize(1450, 760)
    dialog.show()
    dialog.reviewed_only.setChecked(True)
    dialog.propose_limits()
    headers = [h for *_, h in COLUMNS]
    names = [dialog.table.verticalHeaderItem(r).text() for r in range(dialog.table.rowCount())]
    for name in names:
        for column in ("Count min", "Count max"):
            dialog.table.item(names.index(name), headers.index(column)).setText("")

    for _ in range(20):
        app.processEvents()
    dialog.grab().save(str(out))
    print(out, dialog.summary.text())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
