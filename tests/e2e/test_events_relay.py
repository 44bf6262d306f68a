"""A USB-only virtual device's events reach MQTT subscribers through the bridge (`edgemcp bridge
--mqtt`): all of them, in seq order, each acknowledged in the device's flash queue only after the
broker's PUBACK; and nothing lost when the bridge is killed (SIGKILL) mid-stream and started
again — duplicates only for the events in flight at the kill."""
import binascii
import json
import os
import signal
import threading
import time
import uuid

import anyio
import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_broker import Broker
from _support.bridge import BridgeProc, http_client

pytestmark = pytest.mark.timeout(180)


class Subscriber:
    """A paho subscriber on edgemcp/+/events: (topic, event) in arrival order. persistent: its
    session (and what the broker queued for it) outlives a disconnect."""

    def __init__(self, broker, persistent=False):
        self.got = []
        self.cond = threading.Condition()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="sub-" + uuid.uuid4().hex[:8],
                             protocol=paho.MQTTv5)
        self.c.on_message = self._msg
        ready = threading.Event()
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_connect = lambda client, *a: client.subscribe("edgemcp/+/events", options=SubscribeOptions(qos=1))
        props = None
        if persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 600
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect(broker.host, broker.port, keepalive=30, clean_start=not persistent, properties=props)
        self.c.loop_start()
        assert ready.wait(10), "no SUBACK"

    def _msg(self, client, userdata, m):
        with self.cond:
            self.got.append((m.topic, json.loads(m.payload)))
            self.cond.notify_all()

    def seqs(self):
        with self.cond:
            return [e["seq"] for _, e in self.got]

    def wait_for(self, pred, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self), timeout), f"{len(self.got)} events so far"

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


async def _queue_stats(bridge, dev):
    http, client = http_client(bridge.url, mode="legacy")
    async with http, client as c:
        r = await c.read_resource(f"edgemcp://{dev}/device://queue")
        return json.loads(r.contents[0].text)


async def _emit(bridge, dev, count, stream="test"):
    http, client = http_client(bridge.url, mode="legacy", read_timeout_seconds=60)
    async with http, client as c:
        r = await c.call_tool(f"{dev}.emit", {"stream": stream, "data": {"n": count}, "count": count})
        assert not r.is_error, r


def queue_stats(bridge, dev):
    return anyio.run(_queue_stats, bridge, dev)


def emit(bridge, dev, count):
    anyio.run(_emit, bridge, dev, count)


def check_events(sub, device, first, count):
    """Every seq first..first+count-1 arrived on the device's topic, first arrivals in order."""
    topic = f"edgemcp/{binascii.hexlify(device.encode()).decode()}/events"
    with sub.cond:
        got = list(sub.got)
    assert {t for t, _ in got} == {topic}
    seen, order = set(), []
    for _, e in got:
        assert set(e) == {"seq", "ts", "stream", "data"} and e["stream"] == "test"
        if e["seq"] not in seen:
            seen.add(e["seq"])
            order.append(e["seq"])
    assert order == list(range(first, first + count)), (order[:5], order[-5:], len(order))
    return len(got) - len(order)


def test_usb_device_events_reach_mqtt_in_order(tmp_path, mqtt_broker):
    sub = Subscriber(mqtt_broker)
    bridge = BridgeProc(tmp_path, ("e",), "--mqtt", mqtt_broker.url, "--no-mqtt-present")
    try:
        first = queue_stats(bridge, "e")["next_seq"]
        emit(bridge, "e", 300)
        sub.wait_for(lambda s: len(set(s.seqs())) >= 300)
        assert check_events(sub, "e", first, 300) == 0  # no outage: no duplicates
        deadline = time.monotonic() + 20  # acked in the flash queue once the broker has them
        while queue_stats(bridge, "e")["records"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert queue_stats(bridge, "e")["records"] == 0
    finally:
        bridge.stop()
        sub.close()


def test_bridge_killed_mid_stream_loses_nothing(tmp_path, mqtt_broker):
    sub = Subscriber(mqtt_broker)
    bridge = BridgeProc(tmp_path, ("k",), "--mqtt", mqtt_broker.url, "--no-mqtt-present")
    n = 1000
    try:
        first = queue_stats(bridge, "k")["next_seq"]
        pid = bridge.devices_info()["k"]["pid"]
        emit(bridge, "k", n)
        sub.wait_for(lambda s: len(s.seqs()) >= 150)
        bridge.proc.send_signal(signal.SIGKILL)
        bridge.proc.wait(10)
        before = set(sub.seqs())
        assert len(before) < n, "the stream ended before the kill: nothing tested"
        deadline = time.monotonic() + 10  # the device saw its console close; it must not linger
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the virtual device outlived its bridge")

        bridge = BridgeProc(tmp_path, ("k",), "--mqtt", mqtt_broker.url, "--no-mqtt-present")
        sub.wait_for(lambda s: len(set(s.seqs())) >= n)
        dups = check_events(sub, "k", first, n)
        seqs = sub.seqs()
        dup_seqs = {s for s in seqs if seqs.count(s) > 1}
        # Only events in flight at the kill come twice: the device has one on the line, the
        # relay at most that one between its PUBACK and the device's ack.
        print(f"kill after {len(before)} of {n}; duplicates {dups}: {sorted(dup_seqs)}")
        assert dups <= 2 and dup_seqs <= before, (dups, sorted(dup_seqs))
    finally:
        bridge.stop()
        sub.close()


def test_broker_outage_events_wait_in_the_device_queue(tmp_path):
    """While the broker is down nothing is acknowledged to the device: the events wait in its
    flash queue (the relay holds at most the one in flight) and all arrive once it is back."""
    store = tmp_path / "store"
    store.mkdir()
    # A persistent subscriber session across the broker's restart, so that what the bridge
    # publishes before the subscriber is back is kept for it.
    broker = Broker(tmp_path / "mosquitto", extra_conf=f"persistence true\npersistence_location {store}/")
    broker.start()
    sub = Subscriber(broker, persistent=True)
    bridge = BridgeProc(tmp_path, ("o",), "--mqtt", broker.url, "--no-mqtt-present", "--mqtt-servers", "")
    try:
        first = queue_stats(bridge, "o")["next_seq"]
        emit(bridge, "o", 100)
        sub.wait_for(lambda s: len(set(s.seqs())) >= 100)
        broker.stop()
        emit(bridge, "o", 300)
        time.sleep(3)
        assert queue_stats(bridge, "o")["records"] == 300
        broker.start()
        sub.wait_for(lambda s: len(set(s.seqs())) >= 400)
        check_events(sub, "o", first, 400)
        deadline = time.monotonic() + 20
        while queue_stats(bridge, "o")["records"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert queue_stats(bridge, "o")["records"] == 0
    finally:
        bridge.stop()
        sub.close()
        broker.stop()
