"""Accepting and rejecting predictions, undoably. An accepted prediction becomes a label
instance (source: accepted-prediction) and leaves the predictions; undo puts both back."""

from __future__ import annotations


from isegui.core.entities import Instance, Prediction, Source
from isegui.gui.commands.base import StoreCommand


class AcceptPredictionsCommand(StoreCommand):
    """`replace` maps a prediction id to the label it matches: that label takes the
    prediction's shape (keeping its id, class and place) instead of a new label being made."""

    def __init__(self, session, image_id: int, prediction_ids: list[int],
                 replace: dict[int, int] | None = None):
        n = len(prediction_ids)
        self.replace = dict(replace or {})
        replacing = f" ({len(self.replace)} replacing a label's shape)" if self.replace else ""
        super().__init__(f"Accept {n} prediction{'s' if n != 1 else ''}{replacing}")
        self.session, self.image_id, self.ids = session, image_id, list(prediction_ids)
        self.taken: list[Prediction] = []
        self.instances: list[Instance] = []
        self.old_shapes: dict[int, object] = {}  # label id -> its shape before

    def redo(self) -> None:
        doc = self.session.document_for(self.image_id)
        self.taken = self.session.take_predictions(self.image_id, self.ids)
        new = [p for p in self.taken if p.id not in self.replace]
        if not self.instances:
            self.instances = [doc.create(p.class_id, p.shape, source=Source.ACCEPTED_PREDICTION)
                              for p in new]
        else:
            doc.restore(self.instances)
        for p in self.taken:
            if p.id in self.replace:
                label = self.replace[p.id]
                self.old_shapes.setdefault(label, doc.instance(label).shape)
                doc.update(label, shape=p.shape)
        doc.set_selection([i.id for i in self.instances] + list(self.old_shapes))

    def undo(self) -> None:
        doc = self.session.document_for(self.image_id)
        doc.remove([i.id for i in self.instances])
        for label, shape in self.old_shapes.items():
            doc.update(label, shape=shape)
        self.session.restore_predictions(self.image_id, self.taken)


class RejectPredictionsCommand(StoreCommand):
    def __init__(self, session, image_id: int, prediction_ids: list[int]):
        n = len(prediction_ids)
        super().__init__(f"Reject {n} prediction{'s' if n != 1 else ''}")
        self.session, self.image_id, self.ids = session, image_id, list(prediction_ids)
        self.taken: list[Prediction] = []

    def redo(self) -> None:
        self.session.document_for(self.image_id)
        self.taken = self.session.take_predictions(self.image_id, self.ids)

    def undo(self) -> None:
        self.session.document_for(self.image_id)
        self.session.restore_predictions(self.image_id, self.taken)
