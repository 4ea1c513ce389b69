import pickle

import pytest
import torch

from isegui.ml.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from isegui.ml.model.registry import build_model, model_names
from isegui.ml.model.weights import initialise


class Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_round_trip(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"model_name": "fast", "size": 128, "classes": ["a"],
                                        "state_dict": {"w": torch.ones(2)}})
    data = load_checkpoint(tmp_path / "c.pt")
    assert data["classes"] == ["a"] and torch.equal(data["state_dict"]["w"], torch.ones(2))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_truncated_untrusted_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable weights file"):
        load_checkpoint(tmp_path / "junk.pt")

    save_checkpoint(tmp_path / "c.pt", {"model_name": "fast", "size": 128, "classes": ["a"],
                                        "state_dict": {"w": torch.ones(1000)}})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: not a readable"):
        load_checkpoint(tmp_path / "cut.pt")

    torch.save({"state_dict": {}, "trap": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt: refused"):
        load_checkpoint(tmp_path / "evil.pt")

    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "plain.pkl")

    torch.save({"w": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an isegui checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="file not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_registry_builds_each_model_and_forward_runs():
    assert {"fast", "accurate"} <= set(model_names())
    model = build_model("fast", num_classes=2, size=96).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 80, 96)])
    assert set(out[0]) == {"boxes", "labels", "scores", "masks"}
    with pytest.raises(ValueError, match="unknown model"):
        build_model("huge", num_classes=2, size=96)


def test_backbone_weights_from_a_torchvision_file(tmp_path):
    from torchvision.models import mobilenet_v3_large
    classifier = mobilenet_v3_large(weights=None)
    torch.save(classifier.state_dict(), tmp_path / "mobilenet_v3_large-8738ca79.pth")
    model = build_model("fast", num_classes=2, size=96)
    report = initialise(model, tmp_path / "mobilenet_v3_large-8738ca79.pth", ["a", "b"])
    # the backbone's convolutions and BatchNorm layers match the classifier's features
    assert report.loaded > 50
    first = model.backbone.body["0"][0].weight
    assert torch.equal(first, classifier.features[0][0].weight)


def test_a_model_with_frozen_batchnorm_reloads(tmp_path):
    from isegui.ml.model.registry import model_from_checkpoint
    from isegui.ml.model.batchnorm import freeze_batchnorm
    model = build_model("accurate", num_classes=1, size=96)
    assert freeze_batchnorm(model) > 0
    save_checkpoint(tmp_path / "c.pt", {"model_name": "accurate", "size": 96, "classes": ["a"],
                                        "state_dict": model.state_dict(),
                                        "frozen_batchnorm": True})
    again = model_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    key = "backbone.body.bn1.running_mean"
    assert torch.equal(again.state_dict()[key], model.state_dict()[key])


def test_weights_that_do_not_fit_their_model_are_one_line_naming_the_file(tmp_path):
    from isegui.ml.model.checkpoint import CheckpointError
    from isegui.ml.model.torch_predictor import Predictor
    model = build_model("fast", num_classes=3, size=96)
    save_checkpoint(tmp_path / "c.pt", {"model_name": "fast", "size": 96, "classes": ["a", "b"],
                                        "state_dict": model.state_dict()})
    with pytest.raises(CheckpointError) as caught:
        Predictor.from_checkpoint(tmp_path / "c.pt")
    message = str(caught.value)
    assert "c.pt" in message and "for 2 classes" in message and "of another shape" in message
    assert "\n" not in message and len(message) < 300
    save_checkpoint(tmp_path / "d.pt", {"model_name": ["x"], "size": 96, "classes": ["a"],
                                        "state_dict": {}})
    with pytest.raises(CheckpointError, match="does not know"):
        Predictor.from_checkpoint(tmp_path / "d.pt")


def _rezipped(source, target):
    """The archive torch.save wrote, its entries deflated (torch.load inflates them)."""
    import zipfile
    with zipfile.ZipFile(source) as src, \
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))


def test_an_archive_that_unpacks_far_beyond_its_size_is_refused_before_unpacking(tmp_path):
    """A zip bomb: 0.4 MB re-zipped from 400 MB of zeros took 1.7 GB in `weights add` and
    `predict --checkpoint` before either looked at it. The archive's own table of contents
    says what it unpacks to; that is checked first. A small file re-zipped still loads."""
    payload = {"model_name": "fast", "size": 128, "classes": ["a"]}
    save_checkpoint(tmp_path / "big.pt", {**payload, "state_dict": {"w": torch.zeros(6_000_000)}})
    _rezipped(tmp_path / "big.pt", tmp_path / "bomb.pt")
    assert (tmp_path / "bomb.pt").stat().st_size < 1_000_000
    with pytest.raises(CheckpointError, match=r"bomb.pt: refused: its \d+ KB unpack to 24 MB"):
        load_checkpoint(tmp_path / "bomb.pt")
    save_checkpoint(tmp_path / "small.pt", {**payload, "state_dict": {"w": torch.ones(1000)}})
    _rezipped(tmp_path / "small.pt", tmp_path / "small-zipped.pt")
    assert load_checkpoint(tmp_path / "small-zipped.pt")["classes"] == ["a"]


_NESTED: list = [[]]
for _ in range(30):  # one list many times over: str() of it would spell out 2**30 lists
    _NESTED = [_NESTED, _NESTED]


@pytest.mark.parametrize("key, value, problem", [
    ("version", "abc", "its version is 'abc', not a whole number"),
    ("version", float("inf"), "its version is inf, not a whole number"),
    ("version", [1], "its version is a list, not a whole number"),
    ("version", True, "its version is a bool, not a whole number"),
    ("size", "abc", "its size is 'abc', not a number of pixels"),
    ("size", 0, "its size is 0, not a number of pixels"),
    ("classes", "pill", "its classes must be a list of class names, not 'pill'"),
    ("classes", [1, 2], "its classes must be a list of class names, not a list holding"),
    ("classes", _NESTED, "its classes must be a list of class names, not a list holding"),
    ("classes", ["p\x1b[31m", "x"], "a class name holds no control characters"),
    ("classes", ["a", "b\nc"], "a class name holds no control characters"),
    ("classes", [" a"], "a class name has no space around it"),
    ("classes", ["a", "a"], "the class 'a' is listed twice"),
])
def test_a_checkpoint_field_of_the_wrong_kind_is_refused_naming_the_file(tmp_path, key, value,
                                                                         problem):
    """version 'abc' gave "invalid literal for int()" naming no file, inf and [1] an
    'unexpected' error; classes [1, 2, 3] were predicted under the classes 1, 2, 3 and names
    holding ESC or a line break went into every output."""
    payload = {"model_name": "fast", "size": 128, "classes": ["a"],
               "state_dict": {"w": torch.ones(2)}}
    save_checkpoint(tmp_path / "c.pt", payload)
    data = torch.load(tmp_path / "c.pt", weights_only=True)
    torch.save({**data, key: value}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert str(err.value).startswith(f"{tmp_path / 'bad.pt'}: not a valid isegui checkpoint: ")
    assert problem in str(err.value)
