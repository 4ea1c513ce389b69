"""bench/team_load.py: its check of the workers' logs against the database, and a short run
of the whole bench (2 inspector processes, one killed mid-transaction, a server restart)."""

import json

import pytest

from tests.bench.conftest import bench_script


@pytest.fixture(scope="module")
def bench():
    with bench_script("team_load") as module:
        yield module


def _create(image, iid, tag, bounds=(0, 0, 5, 5), cls=1):
    return {"ev": "create", "image": image, "id": iid, "tag": tag, "v": 1, "cls": cls,
            "bounds": list(bounds)}


def _row(tag, v=1, bounds=(0, 0, 5, 5), cls=1):
    return {"tag": tag, "v": v, "cls": cls, "bounds": list(bounds)}


def test_a_consistent_history_checks_clean(bench):
    logs = {0: [_create(1, 1, 10), _create(1, 2, 11),
                {"ev": "update", "image": 1, "id": 1, "from": 1, "to": 2, "bounds": [1, 1, 6, 6]},
                {"ev": "delete", "image": 1, "id": 2, "v": 1},
                {"ev": "restore", "image": 1, "id": 2, "v": 1},
                {"ev": "delete", "image": 1, "id": 2, "v": 1}],
            1: [{"ev": "update", "image": 1, "id": 1, "from": 2, "to": 3, "cls": 2}]}
    db = {(1, 1): _row(10, v=3, bounds=(1, 1, 6, 6), cls=2)}
    check = bench._check(logs, db, 0, {1: 3})
    assert {k: v for k, v in check.items() if isinstance(v, int) and v
            and not k.startswith("instances")} == {}
    assert check["instances_expected"] == check["instances_in_db"] == 1


def test_lost_duplicated_half_written_and_wrong_rows_are_found(bench):
    logs = {0: [_create(1, 1, 10), _create(1, 2, 11), _create(2, 1, 12),
                {"ev": "update", "image": 2, "id": 1, "from": 1, "to": 2, "bounds": [2, 2, 9, 9]}],
            1: [_create(1, 2, 21),  # the same (image, id) told to a second client
                {"ev": "update", "image": 2, "id": 1, "from": 1, "to": 2, "cls": 3}]}
    db = {(1, 2): _row(21), (2, 1): _row(12, v=2, bounds=(2, 2, 9, 9)),
          (1, 7): _row(99),  # no committed step made it
          (1, 8): _row(bench.KILL_TAG + 3)}  # the killed worker's uncommitted batch
    check = bench._check(logs, db, 0, {1: 9, 2: 2})
    assert check["lost"] == 1  # (1, 1)
    assert check["duplicated_ids"] == 1 and check["conflicting_updates"] == 1
    assert check["half_written"] == 2 and check["kill_batch_rows_found"] == 1
    assert check["wrong_instance"] == 1  # (1, 2) holds the second client's instance
    assert check["wrong_version"] == 1  # (2, 1): two updates from version 1, one version up


def test_a_step_said_lost_that_is_in_the_database_counts_as_saved(bench):
    lost_drag = {"ev": "update", "image": 1, "id": 1, "from": 1, "to": 2, "bounds": [3, 3, 8, 8]}
    lost_create = {"ev": "create", "image": 1, "tag": 13, "v": 1, "cls": 1,
                   "bounds": [0, 0, 5, 5]}
    lost_delete = {"ev": "delete", "image": 1, "id": 2, "v": 1}
    logs = {0: [_create(1, 1, 10), _create(1, 2, 11),
                {"ev": "lost", "kind": "drag", "step": lost_drag},
                {"ev": "lost", "kind": "create", "step": lost_create},
                {"ev": "lost", "kind": "delete", "step": lost_delete},
                {"ev": "update", "image": 1, "id": 1, "from": 2, "to": 3, "cls": 4}]}
    db = {(1, 1): _row(10, v=3, bounds=(3, 3, 8, 8), cls=4), (1, 2): _row(11), (1, 3): _row(13)}
    check = bench._check(logs, db, 0, {1: 4})
    assert check["said_lost_but_saved"] == 2  # the drag and the create
    assert check["said_lost_and_not_saved"] == 1  # the delete: (1, 2) is still there
    assert check["lost"] == check["half_written"] == check["wrong_state"] == 0


@pytest.mark.slow
def test_a_short_team_run_loses_nothing_through_a_kill_and_a_restart(bench, pg_server, tmp_path,
                                                                    capsys):
    """pg_server only makes sure PostgreSQL is installed: the bench starts its own."""
    out = tmp_path / "team_load.json"
    rc = bench.main(["--workers", "2", "--seconds", "7", "--down-s", "1", "--images", "6",
                     "--fast", "--out", str(out)])
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    assert rc == 0 and result["ok"], result["problems"]
    check = result["check"]
    assert check["lost"] == check["duplicated_ids"] == check["half_written"] == 0
    assert check["wrong_state"] == check["wrong_version"] == check["conflicting_updates"] == 0
    assert check["instances_in_db"] == check["instances_expected"] > 0
    assert result["edits"]["committed"] > 100 and result["save_ms"]["p50"] > 0
    kill = result["kill"]
    assert kill["done"] and kill["batch_rows_at_least"] >= 50 and kill["batch_rows_found"] == 0
    assert kill["others_committed_next_2s"] > 0  # the other inspector went on
    restart = result["restart"]
    assert restart["done"] and restart["workers_alive"] == 1
    assert restart["reconnected_workers"] == restart["workers_alive"]
    assert restart["feeds_reloaded"] == restart["workers_alive"]
    (survivor,) = restart["per_worker"]
    assert any("reconnected" in said for said in survivor["said"])
    assert survivor["first_commit_after_up_s"] is not None
    assert result["seen_by_others_ms"]["n"] > 0 and result["seen_by_others_ms"]["never_seen"] == 0
