"""Hard negatives: background crops centred on what looks like a defect and is not labeled."""

import numpy as np

from isegui.core.working_scale import TILES, WorkingScale
from isegui.ml.train import tile_data
from isegui.ml.train.data import sample_pixels, snapshot
from isegui.ml.train.hard_negatives import CELL_PX, mistaken_places, salient_places
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
    rng_free = [dataset._background(plan[k][0], 0, np.random.default_rng(k))[1]
                for k in backgrounds]
    seeing = [x <= speck[0] < x + 128 and y <= speck[1] < y + 128 for x, y in rng_free]
    assert 0.3 <= np.mean(seeing) <= 0.75  # HARD_SHARE of them, and a few random ones


def test_mistakes_are_sure_detections_clear_of_labels_one_a_cell():
    centres = np.array([[10, 10], [12, 12], [200, 200], [400, 50], [300, 300]])
    scores = np.array([0.9, 0.95, 0.8, 0.1, 0.7])
    places = mistaken_places(centres, scores, np.array([[290, 290, 310, 310]]))
    # [12, 12] outranks [10, 10] in their cell; 0.1 is not sure; [300, 300] is on a label
    assert places.tolist() == [[12, 12], [200, 200]]
    assert mistaken_places(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 4))).shape == (0, 2)


class Found:
    def __init__(self, x, y, score):
        self.box, self.score = (x - 3, y - 3, x + 3, y + 3), score


def test_background_crops_go_where_the_model_was_wrong_once_mined(tmp_path):
    data = snapshot(make_project(tmp_path / "p", frames=3))
    dataset = TiledDataset(data.train, WorkingScale(TILES, 128, 1.0), None, seed=1)
    wrong = (650, 420)  # every frame's false detection, clear of its labels
    mined = []

    def predict(images):
        sample = next(s for s in data.train if np.array_equal(sample_pixels(s), images[0]))
        mined.append(sample.path)
        label = sample.shapes[0].bounds  # and one on a label: not a mistake
        return [[Found(*wrong, 0.9), Found((label[0] + label[2]) / 2, (label[1] + label[3]) / 2,
                                          0.99)]]

    assert dataset.mine(predict, frames=2) == 2 and len(mined) == 2
    assert dataset.mine(predict, frames=2) == 2 and len(set(mined)) == len(data.train)  # turns
    plan = dataset.plan(1)
    backgrounds = [k for k, (_, instance) in enumerate(plan) if instance < 0]
    # a fresh copy, as a loader process has: it reads the mistakes beside the frames
    fresh = TiledDataset.__new__(TiledDataset)
    fresh.__dict__.update(dataset.__dict__, _mistakes={}, _mistakes_epoch=-1)
    crops = [fresh._background(plan[k][0], 1, np.random.default_rng(k))[1] for k in backgrounds]
    seeing = [x <= wrong[0] < x + 128 and y <= wrong[1] < y + 128 for x, y in crops]
    assert 0.35 <= np.mean(seeing) <= 0.85  # MINED_SHARE, a few hard negatives and random ones
    item = dataset[(1, backgrounds[0])]  # and an item is made from it
    assert item[0].shape[-2:] == (128, 128)
