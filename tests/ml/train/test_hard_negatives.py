"""Hard negatives: background crops centred on what looks like a defect and is not labeled."""

import numpy as np

from isegui.core.working_scale import TILES, WorkingScale
from isegui.ml.train import tile_data
from isegui.ml.train.data import snapshot
from isegui.ml.train.hard_negatives import CELL_PX, salient_places
from isegui.ml.train.tile_data import TiledDataset
from tests.ml.train.test_tile_data import make_project


def textured_frame(seed=0):
    rng = np.random.default_rng(seed)
    return (120 + rng.normal(0, 4, (400, 600, 1))).clip(0, 255).astype(np.uint8).repeat(3, 2)


def test_unlabeled_specks_and_streaks_rank_first_and_labels_are_left_out():
    frame = textured_frame()
    frame[100:104, 300:304] = 250  # bright dust
    frame[300:302, 50:150] = 60  # a dark fibre
    frame[200:210, 450:460] = 250  # a labeled pit: not a negative
    places = salient_places(frame, np.array([[450, 200, 460, 210]]))
    assert len(places) <= 64 and len({(x // CELL_PX, y // CELL_PX) for x, y in places}) \
        == len(places)  # one a cell
    first = {(int(x) // 10, int(y) // 10) for x, y in places[:5]}
    assert (30, 10) in first  # the dust, found at its pixels
    assert any(250 <= y < 304 and 50 <= x < 150 for x, y in places[:5])  # the fibre
    assert not any(440 <= x < 470 and 190 <= y < 220 for x, y in places)
    # a frame of nothing but labels has none
    assert len(salient_places(frame[:50, :50], np.array([[0, 0, 50, 50]]))) == 0


def test_half_the_background_crops_are_centred_on_hard_negatives(tmp_path, monkeypatch):
    data = snapshot(make_project(tmp_path / "p", frames=3))
    dataset = TiledDataset(data.train, WorkingScale(TILES, 128, 1.0), None, seed=1)
    speck = (700, 100)  # where every frame's only place is
    monkeypatch.setattr(tile_data, "salient_places", lambda pixels, boxes: np.array([speck]))
    plan = dataset.plan(0)
    backgrounds = [k for k, (_, instance) in enumerate(plan) if instance < 0]
    rng_free = [dataset._place(plan[k][0], -1, np.random.default_rng(k)) for k in backgrounds]
    seeing = [x <= speck[0] < x + 128 and y <= speck[1] < y + 128 for x, y in rng_free]
    assert 0.3 <= np.mean(seeing) <= 0.75  # HARD_SHARE of them, and a few random ones
