"""Accepting and rejecting predictions, undoably. An accepted prediction becomes a label
instance (source: accepted-prediction) and leaves the predictions; undo puts both back."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from isegui.core.entities import Instance, Prediction, Source


class AcceptPredictionsCommand(QUndoCommand):
    def __init__(self, session, image_id: int, prediction_ids: list[int]):
        n = len(prediction_ids)
        super().__init__(f"Accept {n} prediction{'s' if n != 1 else ''}")
        self.session, self.image_id, self.ids = session, image_id, list(prediction_ids)
        self.taken: list[Prediction] = []
        self.instances: list[Instance] = []

    def redo(self) -> None:
        doc = self.session.document_for(self.image_id)
        self.taken = self.session.store.take_predictions(self.ids)
        if not self.instances:
            self.instances = [doc.create(p.class_id, p.shape, source=Source.ACCEPTED_PREDICTION)
                              for p in self.taken]
        else:
            doc.restore(self.instances)
        doc.set_selection([i.id for i in self.instances])
        self.session.predictions_edited(self.image_id)

    def undo(self) -> None:
        doc = self.session.document_for(self.image_id)
        doc.remove([i.id for i in self.instances])
        self.session.store.restore_predictions(self.taken)
        self.session.predictions_edited(self.image_id)


class RejectPredictionsCommand(QUndoCommand):
    def __init__(self, session, image_id: int, prediction_ids: list[int]):
        n = len(prediction_ids)
        super().__init__(f"Reject {n} prediction{'s' if n != 1 else ''}")
        self.session, self.image_id, self.ids = session, image_id, list(prediction_ids)
        self.taken: list[Prediction] = []

    def redo(self) -> None:
        self.session.document_for(self.image_id)
        self.taken = self.session.store.take_predictions(self.ids)
        self.session.predictions_edited(self.image_id)

    def undo(self) -> None:
        self.session.document_for(self.image_id)
        self.session.store.restore_predictions(self.taken)
        self.session.predictions_edited(self.image_id)
