"""The model-free labeling helpers: GrabCut in a box, the magic wand, edge-following paths,
the click session and the simulated annotator's next click."""

import cv2
import numpy as np

from isegui.core.labeling_aids import (ClickSession, EdgeTracer, grabcut, magic_wand, mask_iou,
                                     next_click)
from isegui.core.mask_window import MaskWindow

H, W = 120, 160


def _scene():
    rng = np.random.default_rng(3)
    image = rng.integers(20, 45, (H, W, 3), np.uint8)
    disc = np.zeros((H, W), np.uint8)
    cv2.circle(disc, (50, 60), 25, 1, -1)
    image[disc > 0] = (210, 170, 50)
    return image, disc > 0


def _full(window):
    return window.on((0, 0, W, H))


def test_grabcut_finds_the_object_in_its_box_and_obeys_seeds():
    image, disc = _scene()
    found = grabcut(image, (22, 32, 78, 88))
    assert mask_iou(_full(found), disc) > 0.95
    cut = grabcut(image, (22, 32, 78, 88), positives=[(50, 60)], negatives=[(50, 40)])
    assert not cut.covers((50, 40)) and cut.covers((50, 60))


def test_grabcut_with_a_box_over_the_whole_image_still_answers():
    image, disc = _scene()
    found = grabcut(image, (0, 0, W, H))
    assert found is not None and mask_iou(_full(found), disc) > 0.8


def test_magic_wand_grows_with_its_tolerance():
    image = np.zeros((H, W, 3), np.uint8)
    image[:, :80] = 100
    image[:, 80:] = 130
    assert _full(magic_wand(image, (10, 10), 20)).sum() == H * 80
    assert _full(magic_wand(image, (10, 10), 40)).sum() == H * W
    assert magic_wand(image, (-5, 10), 40) is None


def test_an_edge_path_runs_from_the_anchor_to_the_point_pixel_by_pixel_along_the_edge():
    image = np.zeros((100, 100, 3), np.uint8)
    image[30:70, 30:70] = 200
    tracer = EdgeTracer(image)
    tracer.start((30, 30))
    path = tracer.path_to((69, 69))
    assert path[0] == (30, 30) and path[-1] == (69, 69)
    steps = [max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(path, path[1:])]
    assert max(steps) == 1
    # along the square's border, not across it: every pixel next to the edge
    assert all(min(abs(x - 30), abs(x - 69), abs(y - 30), abs(y - 69)) <= 1 for x, y in path)


def test_next_click_goes_deep_into_the_largest_error():
    truth = np.zeros((H, W), bool)
    truth[20:80, 20:80] = True
    (x, y), positive = next_click(np.zeros_like(truth), truth)
    assert positive and abs(x - 50) <= 1 and abs(y - 50) <= 1
    over = truth.copy()
    over[20:80, 80:140] = True  # 60 x 60 too much on the right
    (x, y), positive = next_click(over, truth)
    assert not positive and x > 80
    assert next_click(truth, truth) is None


def test_clicks_without_a_model_reach_the_object_and_undo_replays():
    image, disc = _scene()
    session = ClickSession(image)
    first = session.click((50, 60))
    assert mask_iou(_full(first), disc) > 0.9 and session.class_index is None
    session.click((50, 40), positive=False)
    assert not session.current.covers((50, 40))
    again = session.undo()
    assert len(session.clicks) == 1 and np.array_equal(_full(again), _full(first))


def test_clicks_take_the_models_best_detection_covering_the_point():
    image, disc = _scene()

    class Found:
        def __init__(self, mask, score, class_index):
            self.mask, self.origin, self.score, self.class_index = mask, (0, 0), score, \
                class_index

    small = np.zeros((H, W), bool)
    small[55:65, 45:55] = True
    session = ClickSession(image, detections=lambda: [Found(disc, 0.4, 2),
                                                      Found(small, 0.3, 1)])
    session.click((50, 60))
    assert session.class_index == 2 and np.array_equal(_full(session.current), disc)


class _RecordingClickModel:
    """A stand-in click model: answers the disc, or nothing, and keeps what it was asked."""

    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def __call__(self, image, clicks, candidate):
        self.asked.append((list(clicks), candidate))
        return self.answer


def test_with_a_click_model_every_click_is_its_answer_from_all_clicks_and_the_candidate():
    image, disc = _scene()
    answer = MaskWindow.trimmed(disc)
    model = _RecordingClickModel(answer)
    detection = np.zeros((H, W), bool)
    detection[40:80, 30:70] = True

    class Found:
        mask, origin, score, class_index = detection, (0, 0), 0.7, 2

    session = ClickSession(image, detections=lambda: [Found()], click_model=model)
    assert session.click((50, 60)) is answer
    clicks, candidate = model.asked[0]
    assert clicks == [((50, 60), True)] and np.array_equal(_full(candidate), detection)
    assert session.class_index == 2  # the detection's class stays with the model's mask
    session.click((10, 10), positive=False)  # outside the answer: agrees, nothing to ask
    session.click((50, 40), positive=False)  # inside it: the model is asked again
    clicks, candidate = model.asked[-1]
    assert len(model.asked) == 2 and candidate is answer
    assert clicks == [((50, 60), True), ((10, 10), False), ((50, 40), False)]


def test_where_the_click_model_finds_nothing_grabcut_answers():
    image, disc = _scene()
    session = ClickSession(image, click_model=_RecordingClickModel(None))
    first = session.click((50, 60))
    assert mask_iou(_full(first), disc) > 0.9


def _noisy_disc(radius=120, h=480, w=640):
    rng = np.random.default_rng(0)
    image = rng.normal(40, 10, (h, w, 3)).clip(0, 255).astype(np.uint8)
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (320, 240), radius, 1, -1)
    image[disc > 0] = rng.normal(190, 10, (int(disc.sum()), 3)).clip(0, 255).astype(np.uint8)
    return image, disc > 0


def test_a_click_on_a_noisy_pixel_still_finds_a_noisy_object():
    image, disc = _noisy_disc()
    image[240, 320] = (205, 191, 165)  # the clicked pixel itself is off the object's colour
    found = ClickSession(image).click((320.5, 240.5))
    assert mask_iou(found.on((0, 0, 640, 480)), disc) > 0.9


def test_refining_clicks_let_a_too_small_candidate_grow():
    image, disc = _noisy_disc()
    session = ClickSession(image)
    small = cv2.erode(disc.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
    session.start_from(MaskWindow(small, (0, 0)))  # a first guess 20 px short of the edge all round
    for _ in range(3):
        step = next_click(session.current.on((0, 0, 640, 480)), disc)
        if step is None:
            break
        session.click(*step)
    assert mask_iou(session.current.on((0, 0, 640, 480)), disc) > 0.9


def test_the_edge_map_is_reused_while_anchors_stay_inside_its_window():
    image, _ = _noisy_disc()
    tracer = EdgeTracer(image, window=400)
    tracer.start((320, 240))
    first = tracer._tool
    tracer.start((330, 250))  # near the middle: the same map, a new path tree
    assert tracer._tool is first and tracer.path_to((320, 240))[0] == (330, 250)
    tracer.start((500, 240))  # near the window's edge: a map around the new anchor
    assert tracer._tool is not first and tracer.rect[0] > 0
