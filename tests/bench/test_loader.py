"""bench/loader.py: the data pipeline alone, on a tiny demo, whole images and tiles."""

import pytest

from tests.bench.conftest import bench_script


@pytest.mark.parametrize("tile", ["0", "128"])
def test_the_pipeline_is_measured_stage_by_stage(tmp_path, tile):
    from isegui.core.demo import create_demo_project
    create_demo_project(tmp_path / "d", n_images=4, width=256, height=192).close()
    with bench_script("loader") as bench:
        result = bench.main([str(tmp_path / "d"), "--size", "128", "--tile", tile,
                             "--workers", "0", "--seconds", "1", "--batch", "2"])
    assert result["working_scale"]["mode"] == ("whole" if tile == "0" else "tiles")
    assert result["images_per_s"] > 0 and result["epochs"] >= 1
    assert all(result["stages_ms"][k] > 0 for k in ("read_decode", "augment", "copy_per_batch"))
