"""Accepting predictions without duplicating labeled objects: a prediction that matches a
label already on the image (mask IoU >= 0.5, whatever the classes: core.compare's rule) is
either taken as that label's new shape, added anyway, or skipped, as the user says."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QPushButton

from isegui.core.compare import compare

REPLACE, ADD, SKIP = "replace", "add", "skip"


def matched_labels(labels, predictions) -> dict[int, int]:
    """Prediction id -> id of the label it matches (labels: the image's instances; crowd
    regions are not objects and match nothing)."""
    labels = [i for i in labels if not i.crowd]
    c = compare([(i.class_id, i.shape) for i in labels],
                [(p.class_id, p.shape, p.score) for p in predictions])
    pairs = {**c.true_positives, **c.wrong_class}
    return {predictions[k].id: labels[j].id for k, j in pairs.items()}


def ask_about_matches(parent, matched: int, total: int) -> str | None:
    """REPLACE, ADD or SKIP for the predictions that match labels; None: accept nothing."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Accept predictions")
    which = ("The prediction matches" if total == 1 else
             f"{matched} of the {total} predictions match" if matched < total else
             f"All {total} predictions match")
    box.setText(f"{which} an object already labeled on this image (mask IoU ≥ 0.5). "
                "Accepting as it is would label the object twice.")
    box.setInformativeText("Replace: the label takes the prediction's shape (keeping its "
                           "class). Add anyway: a second label. Skip: leave those predictions "
                           "as they are. One undo step either way.")
    buttons = {box.addButton("Replace the label's shape", QMessageBox.ButtonRole.AcceptRole):
               REPLACE,
               box.addButton("Add anyway", QMessageBox.ButtonRole.AcceptRole): ADD,
               box.addButton("Skip", QMessageBox.ButtonRole.AcceptRole): SKIP}
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(next(b for b, v in buttons.items() if v == SKIP))
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()  # one of the buttons above (all QPushButtons), or None
    return buttons.get(clicked) if isinstance(clicked, QPushButton) else None
