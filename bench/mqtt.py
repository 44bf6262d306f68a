"""MQTT side of the bridge, against real mosquitto and the virtual device, in one run:

- events/s device -> bridge -> broker -> subscriber (each event acked to the device after its
  PUBACK, one in flight, as the device sends them) against a paho publisher -> broker ->
  subscriber with the same payloads, one in flight and pipelined;
- drain rate of a backlog after an outage (events emitted while no bridge relayed them);
- a tools/call round trip over MQTT (MCP over MQTT to the device's own link, and to a serial
  device presented by the bridge) against over serial (JSON lines on the device's stdin/stdout).

Prints a table and writes build/bench/mqtt.json."""
import json
import os
import pathlib
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests/e2e")]

import anyio  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

from mqtt_broker import Broker  # noqa: E402
from _support.mqtt_mcp_client import McpMqttClient  # noqa: E402
from test_bridge_mqtt import Presence  # noqa: E402
from _support.bridge import BridgeProc, http_client  # noqa: E402
from vdevice import board_root, device_cmd, device_env  # noqa: E402

N_EVENTS = 2000
QUEUE = "max_queued_messages 100000"
N_CALLS = 300


class Sub:
    def __init__(self, broker, topic):
        self.times = []
        self.seqs = []
        self.cond = threading.Condition()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bsub-" + uuid.uuid4().hex[:8],
                             protocol=paho.MQTTv5)
        ok = threading.Event()
        self.c.on_subscribe = lambda *a: ok.set()
        self.c.on_message = self._msg
        self.c.on_connect = lambda client, *a: client.subscribe(topic, options=SubscribeOptions(qos=1))
        self.c.connect(broker.host, broker.port, 30, clean_start=True)
        self.c.loop_start()
        assert ok.wait(10)

    def _msg(self, client, userdata, m):
        with self.cond:
            self.times.append(time.perf_counter())
            self.seqs.append(json.loads(m.payload)["seq"])
            self.cond.notify_all()

    def wait(self, n, timeout=300):
        with self.cond:
            if not self.cond.wait_for(lambda: len(set(self.seqs)) >= n, timeout):
                raise RuntimeError(f"only {len(set(self.seqs))} of {n} events arrived")

    def reset(self):
        with self.cond:
            self.times.clear()
            self.seqs.clear()

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


async def _call(url, name, args):
    http, client = http_client(url, mode="legacy", read_timeout_seconds=300)
    async with http, client as c:
        r = await c.call_tool(name, args)
        if r.is_error:
            raise RuntimeError(f"{name}: {r.content}")
        return r


def emit(bridge, dev, n):
    anyio.run(_call, bridge.url, f"{dev}.emit", {"stream": "bench", "data": {"v": 1.5, "label": "person"},
                                                  "count": n})


def sample_payload():
    return json.dumps({"seq": 123456, "ts": 1764100000, "stream": "bench", "data": {"v": 1.5, "label": "person"}},
                      separators=(",", ":"))


def paho_baseline(broker, n, inflight):
    sub = Sub(broker, "bench/baseline")
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bpub-" + uuid.uuid4().hex[:8], protocol=paho.MQTTv5)
    c.max_inflight_messages_set(inflight)
    c.connect(broker.host, broker.port, 30, clean_start=True)
    c.loop_start()
    payload = sample_payload()
    t0 = time.perf_counter()
    infos = []
    for i in range(n):
        info = c.publish("bench/baseline", payload.replace("123456", str(i)), 1)
        if inflight == 1:
            info.wait_for_publish(10)
        else:
            infos.append(info)
    for info in infos:
        info.wait_for_publish(30)
    sub.wait(n)
    dt = sub.times[-1] - t0
    c.disconnect()
    c.loop_stop()
    sub.close()
    return {"events": n, "seconds": dt, "per_s": n / dt}


def relay_live(tmp, broker, n):
    sub = Sub(broker, "edgemcp/+/events")
    bridge = BridgeProc(tmp / "live", ("e",), "--mqtt", broker.url, "--no-mqtt-present", "--mqtt-servers", "")
    try:
        t0 = time.perf_counter()
        emit(bridge, "e", n)
        t_emitted = time.perf_counter() - t0
        sub.wait(n)
        dt = sub.times[-1] - t0
        return {"events": n, "seconds": dt, "per_s": n / dt, "emit_call_seconds": t_emitted,
                "duplicates": len(sub.seqs) - len(set(sub.seqs))}
    finally:
        bridge.stop()
        sub.close()


def relay_drain(tmp, broker, n):
    folder = tmp / "drain"
    # The outage: the bridge serves the device but relays nothing while n events are emitted.
    bridge = BridgeProc(folder, ("d",), "--mqtt", broker.url, "--no-mqtt-present", "--no-mqtt-events",
                        "--mqtt-servers", "")
    try:
        emit(bridge, "d", n)
    finally:
        bridge.stop()
    sub = Sub(broker, "edgemcp/+/events")
    t0 = time.perf_counter()
    bridge = BridgeProc(folder, ("d",), "--mqtt", broker.url, "--no-mqtt-present", "--mqtt-servers", "")
    try:
        sub.wait(n)
        dt = sub.times[-1] - sub.times[0]
        return {"events": n, "seconds": dt, "per_s": (n - 1) / dt, "from_bridge_start_s": sub.times[-1] - t0}
    finally:
        bridge.stop()
        sub.close()


def percentiles(lat):
    lat = sorted(lat)
    return {"p50_ms": statistics.median(lat) * 1e3, "p90_ms": lat[int(len(lat) * 0.9)] * 1e3, "n": len(lat)}


def mqtt_round_trips(broker, sid, name, n):
    c = McpMqttClient(broker, name_filter=None)
    c.initialize(sid, name)
    lat = []
    for i in range(n):
        t = time.perf_counter()
        r = c.request("tools/call", {"name": "echo", "arguments": {"text": "x%d" % i}})
        lat.append(time.perf_counter() - t)
        assert r["result"]["content"][0]["text"] == "x%d" % i
    c.close()
    return percentiles(lat)


def serial_round_trips(n):
    root = board_root(pathlib.Path(tempfile.mkdtemp()), {"test_tools": True, "name": "serial"})
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env={**os.environ, **device_env(root)})
    fd, buf = p.stdout.fileno(), b""

    def rt(msg):
        nonlocal buf
        p.stdin.write(json.dumps(msg).encode() + b"\n")
        p.stdin.flush()
        while True:
            while b"\n" not in buf:
                select.select([fd], [], [], 10)
                buf += os.read(fd, 65536)
            line, buf = buf.split(b"\n", 1)
            m = json.loads(line)
            if m.get("id") == msg.get("id"):
                return m

    rt({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}}})
    lat = []
    for i in range(n):
        t = time.perf_counter()
        r = rt({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x%d" % i}}})
        lat.append(time.perf_counter() - t)
        assert r["result"]["content"][0]["text"] == "x%d" % i
    p.stdin.close()
    p.wait(10)
    return percentiles(lat)


def device_mqtt_round_trips(tmp, broker, n):
    sid = "6d717474"  # hex of the device id "mqtt"
    root = board_root(tmp, {"name": "mq", "test_tools": True, "mqtt": {"url": broker.url}}, name="mq")
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         env={**os.environ, **device_env(root, "mqtt")})
    watch = Presence(broker)
    try:
        name = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)[sid][0]
        return mqtt_round_trips(broker, sid, name, n)
    finally:
        watch.close()
        p.stdin.close()
        p.wait(10)


def presented_round_trips(tmp, broker, n):
    sid = "7072"  # hex of the virtual device id "pr"
    watch = Presence(broker)
    bridge = BridgeProc(tmp / "present", ("pr",), "--mqtt", broker.url, "--no-mqtt-events", "--mqtt-servers", "")
    try:
        name = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)[sid][0]
        return mqtt_round_trips(broker, sid, name, n)
    finally:
        bridge.stop()
        watch.close()


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    res = {"machine": machine}
    # a subscriber that falls behind the pipelined publisher must not lose messages to
    # mosquitto's default cap of 1,000 queued per client
    with Broker(tmp / "mosquitto", extra_conf=QUEUE) as broker:
        res["paho_1_inflight"] = paho_baseline(broker, N_EVENTS, 1)
        res["paho_pipelined"] = paho_baseline(broker, N_EVENTS, 20)
        res["relay_live"] = relay_live(tmp, broker, N_EVENTS)
        res["relay_drain"] = relay_drain(tmp, broker, N_EVENTS)
        res["rt_serial"] = serial_round_trips(N_CALLS)
        res["rt_device_mqtt"] = device_mqtt_round_trips(tmp, broker, N_CALLS)
        res["rt_bridge_presented_mqtt"] = presented_round_trips(tmp, broker, N_CALLS)
    # mosquitto leaves Nagle's algorithm on by default; small request/response messages then
    # wait for delayed ACKs. The same round trips with it off:
    with Broker(tmp / "mosquitto-nodelay", extra_conf=QUEUE + "\nset_tcp_nodelay true") as broker:
        res["rt_device_mqtt_nodelay"] = device_mqtt_round_trips(tmp / "nd", broker, N_CALLS)
        res["rt_bridge_presented_mqtt_nodelay"] = presented_round_trips(tmp / "nd", broker, N_CALLS)
    base = res["paho_1_inflight"]["per_s"]
    print(f"bench/mqtt on {machine}; mosquitto on loopback; the virtual device (unix build)")
    rows = [("events/s", "events", "seconds", "per second", "vs paho 1 in flight")]
    for k, label in (("paho_1_inflight", "paho publisher, 1 in flight"),
                     ("paho_pipelined", "paho publisher, 20 in flight"),
                     ("relay_live", "device -> bridge -> broker (live emit)"),
                     ("relay_drain", "device backlog drain after outage")):
        r = res[k]
        rows.append((label, r["events"], f"{r['seconds']:.2f}", f"{r['per_s']:.0f}", f"{r['per_s'] / base:.2f}x"))
    serial = res["rt_serial"]["p50_ms"]
    rows.append(("tools/call echo round trip", "calls", "p50 ms", "p90 ms", "vs serial p50"))
    for k, label in (("rt_serial", "serial (JSON lines on stdio)"),
                     ("rt_device_mqtt", "MCP over MQTT, device's own link"),
                     ("rt_bridge_presented_mqtt", "MCP over MQTT, serial device via bridge"),
                     ("rt_device_mqtt_nodelay", "  same, device's own link, broker TCP_NODELAY"),
                     ("rt_bridge_presented_mqtt_nodelay", "  same, via bridge, broker TCP_NODELAY")):
        r = res[k]
        rows.append((label, r["n"], f"{r['p50_ms']:.2f}", f"{r['p90_ms']:.2f}", f"{r['p50_ms'] / serial:.2f}x"))
    w = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    out = ROOT / "build/bench/mqtt.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
