"""bench/labeling_effort.py: the simulated annotator and the tools that need no model, on a
small synthetic image with a bright disc and a bright washer on a dark noisy background."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from isegui.core.entities import ImageStatus, Source, Split
from isegui.core.images import save_image
from isegui.core.mask_window import MaskWindow
from isegui.core.project import Project
from tests.bench.conftest import bench_script
from tests.core.helpers import ring_shape

HEIGHT, WIDTH = 80, 128
DISC = Point(34, 40).buffer(15, 16)
RING = ring_shape(90, 40, 18, 8)


@pytest.fixture(scope="module")
def bench():
    with bench_script("labeling_effort") as module:
        yield module


@pytest.fixture(scope="module")
def scene(bench):
    """The RGB image and each object's label window."""
    rng = np.random.default_rng(5)
    image = rng.normal(40, 4, (HEIGHT, WIDTH, 3))
    truths = [bench.truth_window(shape, HEIGHT, WIDTH) for shape in (DISC, RING)]
    for truth in truths:
        inside = truth.on((0, 0, WIDTH, HEIGHT))
        image[inside] = rng.normal(200, 4, (int(inside.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), truths


def test_the_first_click_lands_inside_the_object_not_in_its_hole(bench, scene):
    _, truths = scene
    for truth in truths:
        (x, y), positive = bench.annotator_click(None, truth)
        assert positive
        assert truth.covers((x, y))
    (x, y), _ = bench.annotator_click(None, truths[1])
    assert Point(x, y).distance(Point(90, 40)) > 8  # in the washer's body, off its hole


def test_a_click_on_extra_pixels_is_negative(bench, scene):
    _, (disc, _) = scene
    ox, oy = disc.origin
    grown = MaskWindow(np.pad(disc.mask, 6, constant_values=True), (ox - 6, oy - 6))  # extra
    (x, y), positive = bench.annotator_click(grown, disc)
    assert not positive
    assert grown.covers((x, y)) and not disc.covers((x, y))
    assert bench.annotator_click(disc, disc) is None  # nothing left to correct


def test_polygon_reaches_0_9_with_few_vertices_and_keeps_a_needed_hole(bench, scene):
    _, (disc, ring) = scene
    assert bench._vertex_count(DISC) > 20
    effort = bench.polygon_effort(DISC, disc, HEIGHT, WIDTH)
    assert effort.reached and effort.clicks == effort.extra["vertices"] <= 10
    washer = bench.polygon_effort(RING, ring, HEIGHT, WIDTH)
    assert washer.reached and effort.extra["vertices"] < washer.extra["vertices"] <= 20
    # the hole is a fifth of the washer's disc: no outline without it reaches 0.9
    shell = bench.polygon_effort(Polygon(RING.exterior), ring, HEIGHT, WIDTH)
    assert not shell.reached and shell.clicks == bench.MAX_CLICKS


def test_grabcut_from_the_box_reaches_0_9_within_a_few_clicks(bench, scene):
    image, truths = scene
    for truth in truths:
        effort = bench.grabcut_effort(image, truth)
        assert effort.reached
        assert effort.clicks <= 4  # the box's two corners and at most two more
        assert effort.first_iou > 0.5
        assert len(effort.times) == effort.clicks - 1  # the box once, then one per click


def test_clicks_without_a_model_reach_0_9_on_the_disc(bench, scene):
    image, (disc, _) = scene
    effort = bench.click_effort(image, disc)
    assert effort.reached and effort.clicks <= 3
    assert effort.extra["final_iou"] >= 0.9


def test_scissors_reach_0_9_with_few_anchors_on_a_clear_edge(bench, scene):
    image, (disc, _) = scene
    effort = bench.scissors_effort(image, DISC, disc, bench.EdgeTracer(image))
    assert effort.reached and effort.clicks <= 6
    assert len(effort.extra["anchor_times"]) == 1  # one start() on the whole image, timed


def test_the_summary_counts_20_clicks_for_never_and_times_each_interaction(bench):
    efforts = [bench.Effort(bench.MAX_CLICKS, False, [0.010, 0.020, 0.030]),
               bench.Effort(3, True, [0.040, 0.020], first_iou=0.8)]
    summary = bench.summarize(efforts, "grabcut")
    assert summary["noc90"] == 11.5 and summary["never"] == 0.5
    assert summary["ms"] == 24.0  # the mean of the five interactions
    assert summary["box_ms"] == 25.0 and summary["click_ms"] == 23.3
    assert summary["first_iou"] == 0.8 and summary["instances"] == 2
    assert bench.summarize([], "click")["noc90"] is None


def _tiny_project(folder: Path, scene) -> Path:
    image, _ = scene
    with Project.create(folder) as project:
        save_image(folder / "images" / "a.png", image)
        ids = project.store.ensure_classes(["disc", "washer"])
        record = project.store.add_image("images/a.png", WIDTH, HEIGHT, split=Split.VAL,
                                         status=ImageStatus.LABELED)
        project.store.add_instances(record.id, [
            (ids["disc"], DISC, None, None, Source.MANUAL, False),
            (ids["washer"], RING, None, None, Source.MANUAL, False),
            (ids["disc"], Point(10, 10).buffer(5), None, None, Source.MANUAL, True)])  # crowd
        project.store.add_image("images/b.png", WIDTH, HEIGHT, split=Split.TRAIN)
    return folder


def test_measure_tools_gives_the_documented_json_without_a_run(bench, scene, tmp_path):
    folder = _tiny_project(tmp_path / "p", scene)
    result = bench.measure_tools(folder, "val", large_frame=False)
    assert result["split"] == "val" and result["run"] is None
    assert result["images"] == 1 and result["instances"] == 2  # the crowd region is left out
    assert set(result["tools"]) == set(bench.TOOLS)
    for tool in ("box_mask", "click"):
        assert result["tools"][tool] is None
        assert "no --run" in result["skipped"][tool]
    for tool in ("polygon", "grabcut", "scissors", "click_no_model"):
        summary = result["tools"][tool]
        assert {"noc90", "never", "ms"} <= set(summary)
        assert 1 <= summary["noc90"] <= bench.MAX_CLICKS
        assert 0 <= summary["never"] <= 1
        assert summary["ms"] >= 0
    assert result["tools"]["polygon"]["ms"] == 0 and "note" in result["tools"]["polygon"]
    scissors = result["tools"]["scissors"]
    assert "anchor_ms" in scissors
    # one outline cannot leave the washer's hole out: the disc alone is reported apart
    assert scissors["never_without_holes"] == 0 and scissors["noc90_without_holes"] <= 6
    json.dumps(result)


def test_main_prints_the_json_and_writes_it_with_out(bench, scene, tmp_path, monkeypatch,
                                                     capsys):
    folder = _tiny_project(tmp_path / "p", scene)
    monkeypatch.setattr(bench, "LARGE_FRAME", (300, 200))  # the frame timing, made small
    monkeypatch.setattr(bench, "TOOLS", ("polygon", "grabcut"))
    out = tmp_path / "results" / "effort.json"
    monkeypatch.setattr(sys, "argv", ["labeling_effort.py", str(folder), "--out", str(out)])
    bench.main()
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == printed
    assert printed["project"] and printed["split"] == "val"
    assert printed["box_ms_large"] is None  # no model
    assert printed["scissors_ms"] >= 0 and printed["large_frame"]["frame"] == [300, 200]
    assert set(printed["targets_ms"]) == {"box_ms_large", "scissors_ms", "click_model_next_ms"}
