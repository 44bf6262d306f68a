"""Store-and-forward over MQTT: a virtual device connected to mosquitto emits events while the
broker is down; once it is back, a paho subscriber receives every one, in seq order, with no
gap — also when the device process is SIGKILLed and restarted in the middle of the drain.
(The device reaches the broker through a relay the test opens once the subscriber is back, so
the subscriber's own reconnection is not part of the race.)"""
import json
import threading
import time

import paho.mqtt.client as paho
import pytest
import socket

from mqtt_broker import Broker
from rawdevice import RawDevice
from vdevice import board_root


class Subscriber:
    def __init__(self, broker):
        self.seqs = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        c = self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="sf-sub", protocol=paho.MQTTv5)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("edgemcp/+/events", qos=1)
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_message = self._msg
        c.reconnect_delay_set(0.05, 0.2)
        c.connect(broker.host, broker.port, clean_start=True)
        c.loop_start()
        assert self.ready.wait(10), "subscriber not subscribed"

    def _msg(self, cl, u, m):
        with self.lock:
            self.seqs.append(json.loads(m.payload)["seq"])

    def wait_for(self, wanted, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if wanted <= set(self.seqs):
                    return
            time.sleep(0.1)
        with self.lock:
            missing = sorted(wanted - set(self.seqs))
        pytest.fail(f"{len(missing)} events never arrived, first missing {missing[:5]}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class Gate:
    """The device's way to the broker: a TCP relay the test opens only once the subscriber is
    back after a broker restart, so no event is published before anyone listens."""

    def __init__(self, broker):
        self.broker = broker
        self.open = threading.Event()
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            if not self.open.is_set():
                c.close()  # like a broker that is not there
                continue
            try:
                b = socket.create_connection((self.broker.host, self.broker.port))
            except OSError:
                c.close()
                continue
            for x in (c, b):  # relay at once: the device and the broker wait on each other's acks
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, z in ((c, b), (b, c)):
                threading.Thread(target=self._pipe, args=(a, z), daemon=True).start()

    @staticmethod
    def _pipe(a, z):
        try:
            while data := a.recv(65536):
                z.sendall(data)
        except OSError:
            pass
        for s in (a, z):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.srv.close()


def device(root):
    d = RawDevice(root)
    d.initialize()
    return d


def emit(dev, n):
    r = dev.request("tools/call", {"name": "emit", "arguments": {"stream": "t", "data": "x" * 40, "count": n}},
                    timeout=60)["result"]["structuredContent"]
    return set(range(r["first_seq"], r["last_seq"] + 1))


def in_order_without_gaps(seqs, wanted):
    # duplicates are allowed (receivers drop them by seq); the first time each seq is seen must
    # follow seq order
    first_seen = []
    for s in seqs:
        if s not in first_seen:
            first_seen.append(s)
    assert first_seen == sorted(wanted), "events out of order or with gaps"


def test_outage_then_kill_mid_drain(tmp_path):
    b = Broker(tmp_path / "broker").start()
    gate = Gate(b)
    gate.open.set()
    cfg = {"test_tools": True, "mqtt": {"url": "mqtt://127.0.0.1:%d" % gate.port, "backoff_min_ms": 200,
                                        "backoff_max_ms": 800}}
    root = board_root(tmp_path, cfg)
    dev = device(root)
    sub = None
    try:
        # the broker goes away; the device keeps every event in its flash queue
        gate.open.clear()
        b.stop()
        wanted = emit(dev, 1000)
        assert len(wanted) == 1000
        time.sleep(3)
        b.start()
        sub = Subscriber(b)
        gate.open.set()
        sub.wait_for(wanted, 60)
        with sub.lock:
            in_order_without_gaps(list(sub.seqs), wanted)
        sub.close()

        # again, and SIGKILL the device while it drains
        gate.open.clear()
        b.stop()
        wanted = emit(dev, 1000)
        b.start()
        sub = Subscriber(b)
        gate.open.set()
        end = time.monotonic() + 60
        while len(sub.seqs) < 300 and time.monotonic() < end:
            time.sleep(0.01)
        dev.p.kill()
        dev.p.wait()
        with sub.lock:
            at_kill = len(set(sub.seqs))
        assert 300 <= at_kill < 1000, f"the kill came at {at_kill} of 1000: not in the middle of the drain"
        dev = device(root)  # same folder, same flash file
        sub.wait_for(wanted, 60)
        with sub.lock:
            got = list(sub.seqs)
        in_order_without_gaps(got, wanted)
        assert len(got) - len(set(got)) <= 2, "more duplicates than records in flight at the kill"
    finally:
        dev.close()
        if sub:
            sub.close()
        gate.close()
        b.stop()
