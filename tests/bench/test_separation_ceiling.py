"""bench/separation_ceiling.py: the separation's best on perfect maps, one tiny run."""

import pytest

from tests.bench.conftest import bench_script


@pytest.mark.slow
def test_a_tiny_run_scores_both_ways_and_shape_kinds_lose_nothing(capsys):
    with bench_script("separation_ceiling") as bench:
        result = bench.main(["--surfaces", "brushed", "--frames", "2", "--size", "640x512"])
    entry = result["surfaces"]["brushed"]
    assert set(entry["kinds"]) == {"scratch", "dent", "smudge"}
    assert entry["kinds"]["scratch"][0] == "line"
    both = entry["shape_kinds"], entry["regions_only"]
    assert all(0 <= r["mask_map"] <= 1 and r["labels"] == entry["labels"] for r in both)
    assert entry["shape_kinds"]["matched"] >= entry["regions_only"]["matched"]
    assert '"benchmark": "separation_ceiling"' in capsys.readouterr().out
