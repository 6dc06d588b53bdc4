"""The MQTT channel on a real mosquitto: orders on heat/orders/<crew>."""

from __future__ import annotations

import json
import queue
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.services import Mosquitto
from tests.test_alerts_support import ManualClock, make_service, ms, raise_incident


@pytest.mark.services
def test_orders_reach_the_crew_topic(tmp_path: Path, mosquitto: Mosquitto) -> None:
    got: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="crew-phone")
    sub.on_message = lambda c, u, m: got.put((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("heat/orders/#", qos=1)
    sub.loop_start()
    try:
        clock = ManualClock(ms("2024-12-02 09:00"))
        svc = make_service(tmp_path, {
            "crew": [{"id": "north", "substations": ["S1"], "channels": ["mq"],
                      "members": ["wang", "li"]}],
            "channel": [{"name": "mq", "kind": "mqtt", "host": "127.0.0.1",
                         "port": mosquitto.port}]}, clock)
        import time

        time.sleep(0.3)  # let the subscription settle before publishing
        raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms,
                       substation_id="S1")
        svc.step(clock.now_ms)
        topic, payload = got.get(timeout=10)
        (order,) = svc.db.orders.find()
        assert topic == "heat/orders/north"
        assert payload["order_id"] == order.order_id
        assert payload["dedup_key"] == f"{order.order_id}:order_new:opened:mq"
        assert "跑冒滴漏" in payload["title"]
        # each member's own link, in the text and by name for a phone app
        assert set(payload["links"]) == {"wang", "li"}
        for link in payload["links"].values():
            assert f"/o/{order.order_id}/" in link and link in payload["body"]
        assert [r["status"] for r in svc.db.outbox.find()] == ["sent"]
        svc.close()
    finally:
        sub.loop_stop()
        sub.disconnect()
