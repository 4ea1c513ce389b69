"""The training settings form: sensible defaults, a tooltip on every field, and the
`isegui train` arguments they mean."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QRadioButton,
                               QSpinBox, QWidget)

SIZES = ("256", "384", "512", "768", "1024")
MODELS = {"fast": "fast — MobileNetV3 Mask R-CNN, trains and predicts on a CPU",
          "accurate": "accurate — ResNet-50 Mask R-CNN v2, best on a GPU"}


class TrainingSettings(QWidget):
    def __init__(self, session):
        super().__init__()
        self.session = session
        form = QFormLayout(self)
        self.model = QComboBox()
        for name, text in MODELS.items():
            self.model.addItem(text, name)
        self.model.setToolTip("fast: for shop-floor PCs without a GPU. accurate: slower to train "
                              "and predict, better masks, wants a GPU.")
        form.addRow("Model", self.model)

        self.size = QComboBox()
        self.size.setEditable(True)
        self.size.addItems(SIZES)
        self.size.setCurrentText("512")
        self.size.setToolTip("Images are resized so their long side is this many pixels. "
                             "Larger finds smaller objects and costs time and memory.")
        form.addRow("Input size (px)", self.size)

        self.by_epochs = QRadioButton("epochs")
        self.by_minutes = QRadioButton("minutes")
        self.by_epochs.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_epochs)
        group.addButton(self.by_minutes)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(30)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 10_000)
        self.minutes.setValue(15)
        row = QHBoxLayout()
        for w in (self.epochs, self.by_epochs, self.minutes, self.by_minutes):
            row.addWidget(w)
        self.epochs.setToolTip("Passes over the training images")
        self.minutes.setToolTip("A time budget instead: training stops when it is spent")
        form.addRow("Stop after", row)

        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(4)
        self.batch.setToolTip("Images per step. Lower it if training runs out of memory.")
        form.addRow("Batch size", self.batch)
        self.lr = QLineEdit()
        self.lr.setPlaceholderText("the model's default")
        self.lr.setToolTip("Learning rate (AdamW). Empty: the model's default (fast 2e-3, "
                           "accurate 2e-4). Lower it if the loss jumps or becomes NaN.")
        form.addRow("Learning rate", self.lr)
        self.weight_decay = QLineEdit("1e-4")
        self.weight_decay.setToolTip("AdamW weight decay")
        form.addRow("Weight decay", self.weight_decay)

        self.rotate = QCheckBox("rotation")
        self.rotate.setToolTip("Any angle: parts on a belt lie every which way")
        self.flip = QCheckBox("flips")
        self.scale = QCheckBox("scale")
        self.scale.setToolTip("Zoom in and out by up to 25%")
        self.color = QCheckBox("colour")
        self.color.setToolTip("Brightness, contrast and saturation jitter (lighting changes)")
        self.preview = QPushButton("Preview…")
        self.preview.setToolTip("Show augmented samples of the image on screen")
        row = QHBoxLayout()
        for box in (self.rotate, self.flip, self.scale, self.color):
            box.setChecked(True)
            row.addWidget(box)
        row.addWidget(self.preview)
        form.addRow("Augmentation", row)

        self.device = QComboBox()
        self.device.setToolTip("Where to train; auto takes the first GPU if there is one")
        self.device.addItem("auto", "auto")
        form.addRow("Device", self.device)

        self.init = QComboBox()
        self.init.setToolTip("Random weights (or the model's pretrained file, if one is in the "
                             "project's pretrained/ folder or the torch cache), a previous run to "
                             "fine-tune (its classes carry over by name), or a weights file")
        self.choose_file = QPushButton("File…")
        self.choose_file.clicked.connect(self._pick_file)
        row = QHBoxLayout()
        row.addWidget(self.init, 1)
        row.addWidget(self.choose_file)
        form.addRow("Start from", row)
        self.refresh_runs()

    def load_devices(self) -> None:
        """The devices torch finds (importing torch takes a moment: done when first shown)."""
        if self.device.count() > 1:
            return
        from isegui.ml.device import describe_devices
        for found in describe_devices():
            self.device.addItem(found["label"], found["name"])

    def refresh_runs(self) -> None:
        current = self.init.currentData()
        self.init.clear()
        self.init.addItem("scratch (or a pretrained file found locally)", None)
        for run in reversed(self.session.store.runs()):
            if run.checkpoint:
                self.init.addItem(f"run {run.id}: {run.name}", str(run.id))
        index = self.init.findData(current)
        self.init.setCurrentIndex(max(0, index))

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "",
                                              "PyTorch weights (*.pt *.pth);;All files (*)")
        if path:
            self.init.addItem(Path(path).name, path)
            self.init.setCurrentIndex(self.init.count() - 1)

    def augment_text(self) -> str:
        parts = [name for name, box in (("rotate", self.rotate), ("flip", self.flip),
                                        ("scale", self.scale), ("color", self.color))
                 if box.isChecked()]
        return ",".join(parts) or "none"

    def arguments(self) -> list[str]:
        """The settings as `isegui train` arguments; ValueError names a bad field."""
        try:
            size = int(self.size.currentText())
        except ValueError:
            raise ValueError(f"Input size must be a whole number, not {self.size.currentText()!r}")
        args = ["--model", self.model.currentData(), "--size", str(size),
                "--batch", str(self.batch.value()), "--augment", self.augment_text(),
                "--device", self.device.currentData() or "auto"]
        if self.by_minutes.isChecked():
            args += ["--minutes", f"{self.minutes.value():g}"]
        else:
            args += ["--epochs", str(self.epochs.value())]
        for flag, field, name in (("--lr", self.lr, "Learning rate"),
                                  ("--weight-decay", self.weight_decay, "Weight decay")):
            text = field.text().strip()
            if text:
                try:
                    float(text)
                except ValueError:
                    raise ValueError(f"{name} must be a number, not {text!r}") from None
                args += [flag, text]
        if self.init.currentData():
            args += ["--init", self.init.currentData()]
        return args
