"""The training settings form: sensible defaults, a tooltip on every field, the `isegui train`
arguments they mean, and below them what will limit a run with these settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGridLayout, QHBoxLayout, QLineEdit, QMessageBox,
                               QPushButton, QRadioButton, QSpinBox, QWidget)

from isegui.gui.panels.training_advice import AdviceView, FactsReader, WeightsInstaller
from isegui.ml.train.preflight import advise

SIZES = ("256", "384", "512", "768", "1024")
MODELS = {"fast": "fast — MobileNetV3 Mask R-CNN, trains and predicts on a CPU",
          "accurate": "accurate — ResNet-50 Mask R-CNN v2, best on a GPU"}


class TrainingSettings(QWidget):
    size: QComboBox  # type: ignore[assignment]  # hides QWidget.size(); tests and scripts use it

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
        for combo in (self.model,):
            _narrow(combo)

        self.size = QComboBox()
        self.size.setEditable(True)
        self.size.addItems(SIZES)
        self.size.setCurrentText("512")
        self.size.setToolTip("Images are resized so their long side is this many pixels, or "
                             "(with tiles) the side of a tile. Larger finds smaller objects "
                             "and costs time and memory.")
        form.addRow("Input size (px)", self.size)

        self.tiles = QComboBox()
        for text, mode in (("auto: from the labels", "auto"), ("off: whole images", "off"),
                           ("on, at scale", "on")):
            self.tiles.addItem(text, mode)
        self.tiles.setToolTip("Large frames with small objects are cut into tiles of the input "
                              "size at a scale of the frame (1 = the camera's pixels), for "
                              "training and prediction. auto: tiles when whole images at the "
                              "input size would shrink the labeled objects below 10 px")
        self.tile_scale = QDoubleSpinBox()
        self.tile_scale.setRange(0.05, 4.0)
        self.tile_scale.setSingleStep(0.125)
        self.tile_scale.setDecimals(3)
        self.tile_scale.setValue(1.0)
        self.tile_scale.setToolTip("Model pixels per camera pixel: 1 keeps every pixel, 0.5 "
                                   "halves the frame (tiles cover twice as much)")
        self.tile_scale.setEnabled(False)
        self.blobs = QCheckBox("blobs")
        self.blobs.setChecked(True)
        self.blobs.setToolTip("On tiles, small defects (scratches, pits, stains) are found "
                              "pixel by pixel, as blob analysis does, and told apart where "
                              "they touch or cross: thin defects keep their shape. Large "
                              "heaped parts stay with the detector. Off: the detector finds "
                              "every class")
        row = QHBoxLayout()
        row.addWidget(self.tiles, 1)
        row.addWidget(self.tile_scale)
        row.addWidget(self.blobs)
        form.addRow("Tiles", row)
        _narrow(self.tiles)

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
        for w in (self.by_epochs, self.epochs, self.by_minutes, self.minutes):
            row.addWidget(w, 1 if w in (self.epochs, self.minutes) else 0)
        self.epochs.setToolTip("Passes over the training images")
        self.minutes.setToolTip("A time budget instead: training stops when it is spent")
        form.addRow("Stop after", row)

        self.batch = QSpinBox()
        self.batch.setRange(0, 256)
        self.batch.setSpecialValueText("auto")  # 0
        self.batch.setValue(0)
        self.batch.setToolTip("Images per step. auto: 2 on a CPU (smaller steps learn more in "
                              "a short run), 4 on a GPU. Lower it if training runs out of "
                              "memory.")
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
        self.rotate.setToolTip("Any angle. Worth it in longer runs where parts lie at angles the "
                               "labeled images lack; a first run of minutes learns more without")
        self.flip = QCheckBox("flips")
        self.scale = QCheckBox("scale")
        self.scale.setToolTip("Zoom in and out by up to 25%")
        self.color = QCheckBox("colour")
        self.color.setToolTip("Brightness, contrast and saturation jitter (lighting changes)")
        self.preview = QPushButton("Preview…")
        self.preview.setToolTip("Show augmented samples of the image on screen")
        grid = QGridLayout()  # two by two: the form stays as narrow as the dock
        for k, box in enumerate((self.flip, self.color, self.rotate, self.scale)):
            box.setChecked(box in (self.flip, self.color))  # the default: see AugmentConfig
            grid.addWidget(box, k // 2, k % 2)
        grid.addWidget(self.preview, 0, 2, 2, 1)
        form.addRow("Augmentation", grid)

        self.device = QComboBox()
        self.device.setToolTip("Where to train; auto takes the first GPU if there is one")
        self.device.addItem("auto", "auto")
        form.addRow("Device", self.device)

        self.init = QComboBox()
        self.init.setToolTip("The model's pretrained weights when a file of them is found (the "
                             "project's pretrained/ folder, the weights folder, the program's "
                             "own, the torch cache), else random weights; a previous run to "
                             "fine-tune (its classes carry over by name); or a weights file")
        self.choose_file = QPushButton("File…")
        self.choose_file.setToolTip("Pick a weights file: copy it into the weights folder so "
                                    "every run starts from it, or use it for one run")
        self.choose_file.clicked.connect(self._pick_file)
        row = QHBoxLayout()
        row.addWidget(self.init, 1)
        row.addWidget(self.choose_file)
        form.addRow("Start from", row)
        _narrow(self.init)
        self.advice = AdviceView()
        form.addRow(self.advice)

        self._start_text: str | None = None  # what a run starts from without a choice
        self._facts = None  # the project's labels as preflight reads them
        self._reader: FactsReader | None = None
        self._stale = True  # the labels changed since they were last read
        self._reread = QTimer(self)  # a pause in the edits before reading them again
        self._reread.setSingleShot(True)
        self._reread.setInterval(1000)
        self._reread.timeout.connect(self.read_project)
        self._installer: WeightsInstaller | None = None
        self.refresh_runs()
        self.advice.show_message("What will limit a run shows here.")
        self.model.currentIndexChanged.connect(self.refresh_start)
        self.size.currentTextChanged.connect(self.update_advice)
        self.tiles.currentIndexChanged.connect(self._tiles_changed)
        self.tile_scale.valueChanged.connect(self.update_advice)
        self.init.currentIndexChanged.connect(self.update_advice)
        session.aboutToClose.connect(self._stop_threads)
        session.aboutToClose.connect(self._reread.stop)
        for signal in (session.imageEdited, session.imagesChanged, session.classesChanged):
            signal.connect(self._labels_changed)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_start()
        if self._stale:
            self.read_project()

    def _labels_changed(self, *_) -> None:
        self._stale = True
        if self.isVisible():  # hidden, it reads them again when shown
            self._reread.start()

    def load_devices(self) -> None:
        """The devices torch finds (importing torch takes a moment: done when first shown)."""
        if self.device.count() > 1:
            return
        from isegui.ml.model.device import describe_devices
        for found in describe_devices():
            self.device.addItem(found["label"], found["name"])

    def refresh_runs(self) -> None:
        current = self.init.currentData()
        self.init.clear()
        self.init.addItem(self._start_text or "the model's pretrained file if one is found, "
                          "else random weights", None)
        for run in reversed(self.session.store.runs()):
            if run.checkpoint:
                self.init.addItem(f"run {run.id}: {run.name}", str(run.id))
        index = self.init.findData(current)
        self.init.setCurrentIndex(max(0, index))

    # ------------------------------------------------------------------ start and advice

    def refresh_start(self) -> None:
        """Say in the first entry what a run of this model starts from (importing torch's
        model definitions takes a moment: done once the settings are shown)."""
        from isegui.ml.model.weights import describe_start
        self._start_text = describe_start(self.model.currentData(),
                                          self.session.project.folder)
        self.init.setItemText(0, self._start_text)
        self.update_advice()

    def read_project(self) -> None:
        """Read the labels (and check the images) again, in a thread."""
        if self._reader is not None:
            return  # when it ends, a change made meanwhile is read
        self._stale = False
        project = self.session.project  # a team project is opened by its team file
        self._reader = FactsReader(project.team_file or project.folder)
        self._reader.read.connect(self._facts_read)
        self._reader.finished.connect(self._reader_finished)
        self._reader.start()

    def _facts_read(self, facts) -> None:
        self._facts = facts
        self.update_advice()

    def _reader_finished(self) -> None:
        self._reader = None
        if self._stale and self.isVisible():
            self._reread.start()

    def update_advice(self) -> None:
        if self._facts is None:
            self.advice.show_message("Reading the labels…")
            return
        try:
            size = int(self.size.currentText())
        except ValueError:
            self.advice.show_message("Input size must be a whole number.")
            return
        start = self._start_text if self.init.currentData() is None else None
        tile, scale = self._tiling(size)
        self.advice.show_advice(advise(self._facts, model=self.model.currentData(),
                                       size=size, start=start, tile=tile, scale=scale))

    def working_scale(self):
        """The working scale a run with these settings would choose (core.working_scale), or
        None while the labels are still being read."""
        from isegui.core.working_scale import choose_working_scale
        try:
            size = int(self.size.currentText())
        except ValueError:
            return None
        if self._facts is None:
            return None
        tile, scale = self._tiling(size)
        return choose_working_scale(self._facts.sizes, size, tile, scale)

    def _tiles_changed(self) -> None:
        self.tile_scale.setEnabled(self.tiles.currentData() == "on")
        self.update_advice()

    def _tiling(self, size: int) -> tuple[int | None, float | None]:
        """(tile, scale) as `isegui train` takes them; None: chosen from the labels."""
        mode = self.tiles.currentData()
        if mode == "off":
            return 0, None
        if mode == "on":
            return size, self.tile_scale.value()
        return None, None

    def _stop_threads(self) -> None:
        for thread in (self._reader, self._installer):
            if thread is not None:
                thread.stopped = True
                thread.wait()

    # ------------------------------------------------------------------ weights file

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "",
                                              "PyTorch weights (*.pt *.pth);;All files (*)")
        if not path:
            return
        from isegui.data_folders import user_weights_folder
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self, "Weights file", f"Copy {Path(path).name} into the weights folder, so that "
            f"every run starts from it?\n\n{user_weights_folder()}\n\nNo: use it for the next "
            "run only.", buttons.Yes | buttons.No | buttons.Cancel, buttons.Yes)
        if answer == buttons.Yes:
            self._install(Path(path))
        elif answer == buttons.No:
            self.init.addItem(f"{Path(path).name} (this run only)", path)
            self.init.setCurrentIndex(self.init.count() - 1)

    def _install(self, path: Path) -> None:
        if self._installer is not None:
            return
        self.choose_file.setEnabled(False)
        self.advice.show_message(f"Checking {path.name} against the models…")
        self._installer = WeightsInstaller(path)
        self._installer.done.connect(self._installed)
        self._installer.failed.connect(self._install_failed)
        self._installer.finished.connect(self._installer_finished)
        self._installer.start()

    def _installed(self, installed) -> None:
        QMessageBox.information(self, "Weights file", installed.describe())
        index = self.model.findData(installed.model)
        if index >= 0:
            self.model.setCurrentIndex(index)
        self.init.setCurrentIndex(0)
        self.refresh_start()

    def _install_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Weights file", message)
        self.update_advice()

    def _installer_finished(self) -> None:
        self._installer = None
        self.choose_file.setEnabled(True)

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
            raise ValueError(f"Input size must be a whole number, not "
                             f"{self.size.currentText()!r}") from None
        args = ["--model", self.model.currentData(), "--size", str(size),
                "--augment", self.augment_text(),
                "--device", self.device.currentData() or "auto"]
        tile, scale = self._tiling(size)
        if tile is not None:
            args += ["--tile", str(tile)]
        if scale is not None:
            args += ["--scale", f"{scale:g}"]
        if not self.blobs.isChecked():
            args += ["--no-blobs"]
        if self.batch.value():
            args += ["--batch", str(self.batch.value())]
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


def _narrow(combo: QComboBox) -> None:
    """A combo box as narrow as the dock lets it be (its long entries elided, not widening
    the whole form)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
