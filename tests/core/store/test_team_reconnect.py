"""A team's PostgreSQL restarts: clients connect again by themselves and say so; a step that
was in flight when it went away is lost whole (never half written) and said to be."""

import threading
import time

import pytest
from shapely.geometry import box

from isegui.core.store.engine import PostgresConnectionLost
from isegui.core.store.team import EVERYTHING, ChangeFeed, open_team_store


def test_a_server_restart_is_survived_and_in_flight_steps_are_lost_whole(own_server):
    url = own_server.url("line")
    store = open_team_store(url, "line3", create=True)
    other = open_team_store(url, "line3")
    feed = ChangeFeed(store)
    try:
        img = store.add_image("a.png", 10, 10)
        store.add_instance(img.id, None, box(0, 0, 2, 2))
        with pytest.raises(PostgresConnectionLost, match="not saved"):
            with store.transaction():
                store.add_instance(img.id, None, box(3, 3, 5, 5))
                own_server.halt()  # the server restarts in the middle of the step
                store.add_instance(img.id, None, box(6, 6, 8, 8))
        assert feed.poll(0.2) == [] and feed.lost  # the feed noticed too
        threading.Timer(1.5, own_server.resume, kwargs={"fast": True}).start()
        start = time.monotonic()
        assert len(store.instances(img.id)) == 1  # waits for the server, then reads
        assert store.engine.reconnects == 1 and time.monotonic() - start >= 1.0
        assert store.add_instance(img.id, None, box(3, 3, 5, 5)).id == 2  # nothing half done
        deadline = time.monotonic() + 5
        back = []
        while not back and time.monotonic() < deadline:
            back = feed.poll(0.1)
        assert [c.table for c in back] == [EVERYTHING] and feed.lost is None
        other.add_instance(img.id, None, box(1, 1, 2, 2))  # the other client reconnects too
        seen = []
        while not seen and time.monotonic() < deadline + 2:
            seen = [c for c in feed.poll(0.1) if c.table == "instances"]
        assert seen and seen[0].image_id == img.id
        store.add_instance(img.id, None, box(4, 4, 5, 5))
        assert [c for c in feed.poll(0.3) if c.table == "instances"] == []  # still not mine
    finally:
        feed.close()
        store.close()
        other.close()
