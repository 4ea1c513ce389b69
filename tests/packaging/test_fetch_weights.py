"""scripts/fetch_weights.py, offline: the pinned list matches the models' weights, files are
verified by their pinned hash or the hash in their name, and a wrong file is refused."""

import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import fetch_weights  # noqa: E402

CONTENT = b"pretend these are weights"
DIGEST = hashlib.sha256(CONTENT).hexdigest()


def pinned_list(tmp_path, name, sha256=""):
    path = tmp_path / "pinned.json"
    path.write_text(json.dumps({"weights": [{
        "model": "fast", "weights": "Some_Weights.V1", "url": f"https://example.invalid/{name}",
        "file": name, "sha256": sha256}]}))
    return path


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "source"
    folder.mkdir()
    return folder


def fetch(tmp_path, listing, source, *extra):
    out = tmp_path / "out"
    code = fetch_weights.main(["--list", str(listing), "--source", str(source), "--out",
                               str(out), *extra])
    return code, out


def test_the_pinned_list_is_the_registered_models_imagenet_weights():
    from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights

    from isegui.ml.model.registry import model_info
    entries = {e["model"]: e for e in fetch_weights.load_pinned(fetch_weights.PINNED)}
    expected = {"fast": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
                "accurate": ResNet50_Weights.IMAGENET1K_V2}
    assert set(entries) == set(expected)
    for model, weights in expected.items():
        assert weights in model_info(model).pretrained
        entry = entries[model]
        assert (entry["url"], entry["file"], entry["weights"]) == (
            weights.url, Path(weights.url).name, str(weights))


def test_a_file_is_kept_when_its_hash_matches_its_name_and_the_full_hash_is_printed(
        tmp_path, source, capsys):
    name = f"tiny-{DIGEST[:8]}.pth"
    (source / name).write_bytes(CONTENT)
    code, out = fetch(tmp_path, pinned_list(tmp_path, name), source)
    assert code == 0 and (out / name).read_bytes() == CONTENT
    assert f"sha256 {DIGEST} (not pinned" in capsys.readouterr().out
    assert [p.name for p in out.iterdir()] == [name]  # no partial file left
    code, _ = fetch(tmp_path, pinned_list(tmp_path, name), source, "--require-full-hash")
    assert code == 1 and "no full SHA-256 pinned" in capsys.readouterr().err
    code, _ = fetch(tmp_path, pinned_list(tmp_path, name, DIGEST), source,
                    "--require-full-hash")
    assert code == 0


def test_a_file_with_the_wrong_hash_is_refused(tmp_path, source, capsys):
    name = "tiny-0123abcd.pth"  # not the file's hash
    (source / name).write_bytes(CONTENT)
    code, out = fetch(tmp_path, pinned_list(tmp_path, name), source)
    assert code == 1 and not (out / name).exists()
    assert "does not begin with 0123abcd" in capsys.readouterr().err
    good_name = f"tiny-{DIGEST[:8]}.pth"
    (source / good_name).write_bytes(CONTENT)
    code, out = fetch(tmp_path, pinned_list(tmp_path, good_name, "f" * 64), source)
    assert code == 1 and not (out / good_name).exists()
    assert f"is not the pinned {'f' * 64}" in capsys.readouterr().err


def test_a_damaged_earlier_download_is_replaced(tmp_path, source):
    name = f"tiny-{DIGEST[:8]}.pth"
    (source / name).write_bytes(CONTENT)
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(CONTENT[:5])
    code, out = fetch(tmp_path, pinned_list(tmp_path, name), source)
    assert code == 0 and (out / name).read_bytes() == CONTENT
