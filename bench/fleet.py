"""A fleet on one machine: N virtual devices (each a real unix-build process with its own
MCP-over-MQTT link) on mosquitto, two bridges, for N = 50, 100, 200 (BENCH_FLEET="50 100 200").

Per N: seconds until every device is joined after a bridge starts (both bridges), tools/list on
the fleet endpoint against the aggregated one (time, tools, bytes), one tool (`echo`) called on
every device by a fan-out on /mcp/fleet (seconds for the whole fan-out, p50/p99 over rounds) and
one device at a time (per-call p50/p99), against a direct paho MCP-over-MQTT client calling the
same devices in the same run (the same concurrency, then one at a time); bridge RSS, memory per
device process, and the broker's packets/s (every MQTT packet, PUBACKs too: its $SYS
"messages" counters) while fan-outs repeat for 4 s.
Prints a table and writes build/bench/fleet.json."""
import concurrent.futures
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests/e2e")]

import anyio  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

from mqtt_broker import Broker  # noqa: E402
from _support.bridge import BridgeProc, http_client  # noqa: E402
from _support.mqtt_mcp_client import _nodelay, props  # noqa: E402
from test_bridge_mqtt_devices import MqttDevice  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_FLEET", "50 100 200").split()]
CONCURRENCY = 16  # the bridge's default fan-out width; the direct client uses the same
ROUNDS = 5
LOAD_S = 4.0  # fan-outs repeated this long for the broker's message rate
# Nagle off (the mosquitto.conf line bench/mqtt.py measures), $SYS counters every second, and room
# for a fan-out's bursts.
BROKER_CONF = "set_tcp_nodelay true\nsys_interval 1\nmax_queued_messages 100000\nmax_connections -1"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Watch:
    """One paho client for the broker's side of things: presences and $SYS message counters."""

    def __init__(self, broker):
        self.servers = {}  # server-id -> server-name, from retained presence
        self.sys = []  # (monotonic time, received, sent)
        self._cur = {}
        self.lock = threading.Lock()
        c = self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-watch-" + uuid.uuid4().hex[:6],
                                 protocol=paho.MQTTv5)
        c.on_message = self._msg
        c.connect(broker.host, broker.port)
        c.subscribe([("$mcp-server/presence/+/edgemcp/#", SubscribeOptions(qos=1)),
                     ("$SYS/broker/messages/received", SubscribeOptions(qos=0)),
                     ("$SYS/broker/messages/sent", SubscribeOptions(qos=0))])
        c.loop_start()

    def _msg(self, c, u, m):
        with self.lock:
            if m.topic.startswith("$SYS/"):
                self._cur[m.topic.rsplit("/", 1)[1]] = int(m.payload)
                if len(self._cur) == 2:
                    self.sys.append((time.monotonic(), self._cur["received"], self._cur["sent"]))
                return
            sid, name = m.topic.split("/", 3)[2:]
            if m.payload:
                self.servers[sid] = name
            else:
                self.servers.pop(sid, None)

    def rate(self, t0, t1):
        """Broker messages/s (received + sent) between two times, from the counters published
        within them (every second)."""
        with self.lock:
            pts = [p for p in self.sys if t0 <= p[0] <= t1]
        if len(pts) < 2:
            return None
        a, b = pts[0], pts[-1]
        return ((b[1] - a[1]) + (b[2] - a[2])) / (b[0] - a[0])

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class Direct:
    """A plain paho MCP-over-MQTT client holding one session per device on one connection (what
    a user without the bridge would write), requests answered on each session's RPC topic."""

    def __init__(self, broker, servers):
        self.cid = uuid.uuid4().hex
        self.waiting = {}  # (rpc topic, id) -> [Event, response]
        self.lock = threading.Lock()
        self.ids = 0
        c = self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.cid, protocol=paho.MQTTv5)
        c.on_socket_open = _nodelay  # as the bridge's clients: no Nagle delay on each request
        c.on_message = self._msg
        ok = threading.Event()
        c.on_connect = lambda *a: ok.set()
        c.connect(broker.host, broker.port, clean_start=True,
                  properties=props(PacketTypes.CONNECT, **{"MCP-COMPONENT-TYPE": "mcp-client"}))
        c.loop_start()
        assert ok.wait(10)
        self.rpc = {}
        for sid, name in servers.items():
            self.rpc[sid] = topic = f"$mcp-rpc/{self.cid}/{sid}/{name}"
            c.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
        time.sleep(1)  # the subscriptions are in before the first initialize
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda s: self._initialize(s, servers[s]), servers))

    def _publish(self, topic, msg):
        p = props(PacketTypes.PUBLISH, **{"MCP-COMPONENT-TYPE": "mcp-client", "MCP-MQTT-CLIENT-ID": self.cid})
        self.c.publish(topic, json.dumps(msg), qos=1, properties=p)

    def _msg(self, c, u, m):
        try:
            msg = json.loads(m.payload)
        except ValueError:
            return
        with self.lock:
            w = self.waiting.get((m.topic, msg.get("id")))
        if w is not None and "method" not in msg:
            w[1] = msg
            w[0].set()

    def _request(self, sid, topic, method, params, timeout=30):
        with self.lock:
            self.ids += 1
            rid = self.ids
            w = self.waiting[(self.rpc[sid], rid)] = [threading.Event(), None]
        self._publish(topic, {"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        if not w[0].wait(timeout):
            raise TimeoutError(f"{method} to {sid}")
        with self.lock:
            del self.waiting[(self.rpc[sid], rid)]
        return w[1]

    def _initialize(self, sid, name):
        self._request(sid, f"$mcp-server/{sid}/{name}", "initialize", {
            "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "bench-direct", "version": "1"}})
        self._publish(self.rpc[sid], {"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call(self, sid, text):
        r = self._request(sid, self.rpc[sid], "tools/call", {"name": "echo", "arguments": {"text": text}})
        assert r.get("result", {}).get("content", [{}])[0].get("text") == text, r
        return r

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def wait_joined(bridge, n, timeout):
    t0 = time.monotonic()
    while True:
        up = sum(1 for d in bridge.devices_info().values() if d["state"] == "up" and d["kind"] == "mqtt")
        if up >= n:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"only {up} of {n} devices joined within {timeout} s")
        time.sleep(0.1)


async def through_bridge(url, names):
    out = {}
    for path in ("/fleet", ""):
        http, client = http_client(url + path, mode="legacy")
        async with http, client as c:
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                tools = (await c.list_tools()).tools
                times.append(time.perf_counter() - t0)
            size = len(json.dumps([t.model_dump(mode="json", exclude_none=True) for t in tools]))
            out["list_fleet" if path else "list_aggregated"] = {"ms": statistics.median(times) * 1e3,
                                                                 "tools": len(tools), "bytes": size}
            if not path:
                continue
            rounds = []
            for i in range(ROUNDS):
                t0 = time.perf_counter()
                r = await c.call_tool("echo", {"device": "*", "text": f"r{i}"})
                rounds.append(time.perf_counter() - t0)
                res = r.structured_content["results"]
                assert len(res) == len(names) and not r.structured_content["failed"], r.structured_content
            out["fanout_s"] = rounds
            t0, calls = time.monotonic(), 0
            while time.monotonic() - t0 < LOAD_S:
                await c.call_tool("echo", {"device": "*", "text": "load"})
                calls += len(names)
            out["load"] = (t0, time.monotonic(), calls)
            singles = []
            for n in names:
                t0 = time.perf_counter()
                r = await c.call_tool("echo", {"device": n, "text": "one"})
                singles.append(time.perf_counter() - t0)
                assert not r.is_error
            out["single_ms"] = [s * 1e3 for s in singles]
    return out


def direct_run(direct, sids):
    rounds = []
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            list(pool.map(lambda s: direct.call(s, f"r{i}"), sids))
            rounds.append(time.perf_counter() - t0)
        t0, calls = time.monotonic(), 0
        while time.monotonic() - t0 < LOAD_S:
            list(pool.map(lambda s: direct.call(s, "load"), sids))
            calls += len(sids)
        load = (t0, time.monotonic(), calls)
    singles = []
    for s in sids:
        t0 = time.perf_counter()
        direct.call(s, "one")
        singles.append((time.perf_counter() - t0) * 1e3)
    return {"fanout_s": rounds, "single_ms": singles, "load": load}


def run_size(n, tmp):
    broker = Broker(tmp / "mosquitto", extra_conf=BROKER_CONF).start()
    watch = Watch(broker)
    devices, bridges = [], []
    try:
        names = [f"d{i:03}" for i in range(n)]
        for name in names:
            devices.append(MqttDevice(tmp, broker, name, name))
        deadline = time.monotonic() + 60 + n
        while len(watch.servers) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(watch.servers)} of {n} devices online")
            time.sleep(0.2)
        time.sleep(1)
        device_rss = [rss_kb(d.proc.pid) for d in devices]
        joined = []
        for side in ("a", "b"):
            (tmp / side).mkdir()
            t0 = time.monotonic()
            br = BridgeProc(tmp / side, (), "--mqtt", broker.url)
            bridges.append(br)
            wait_joined(br, n, 60 + n)
            joined.append(time.monotonic() - t0)
        b = anyio.run(through_bridge, bridges[0].url, names)
        b["rss_kb"] = rss_kb(bridges[0].proc.pid)
        sids = list(watch.servers)
        direct = Direct(broker, dict(watch.servers))
        d = direct_run(direct, sids)
        direct.close()
        for x in (b, d):
            t0, t1, calls = x.pop("load")
            x["load_calls_s"] = calls / (t1 - t0)
            x["broker_msgs_s"] = watch.rate(t0, t1)
        return {"n": n, "joined_s": joined, "bridge": b, "direct": d,
                "device_rss_kb": statistics.mean(device_rss), "bridge_b_rss_kb": rss_kb(bridges[1].proc.pid)}
    finally:
        for br in bridges:
            br.stop()
        for dv in devices:
            dv.stop()
        watch.close()
        broker.stop()


def main():
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
               f"CPython {platform.python_version()}")
    rows = []
    for n in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"fleet of {n} ...", flush=True)
            rows.append(run_size(n, pathlib.Path(tmp)))
    print(f"\nfleet bench on {machine}; mosquitto with set_tcp_nodelay; fan-out width {CONCURRENCY}")
    head = ("N", "joined A/B s", "list fleet ms (tools)", "list aggr ms (tools)", "fan-out s p50/p99",
            "direct fan-out s", "ratio", "1 call ms p50/p99", "direct 1 call ms", "bridge MB", "device MB",
            "calls/s bridge/direct", "broker packets/s bridge/direct")
    print(" | ".join(head))
    for r in rows:
        b, d = r["bridge"], r["direct"]
        fo, dfo = statistics.median(b["fanout_s"]), statistics.median(d["fanout_s"])
        print(" | ".join([
            str(r["n"]), "/".join(f"{x:.1f}" for x in r["joined_s"]),
            f"{b['list_fleet']['ms']:.1f} ({b['list_fleet']['tools']}, {b['list_fleet']['bytes']} B)",
            f"{b['list_aggregated']['ms']:.1f} ({b['list_aggregated']['tools']}, {b['list_aggregated']['bytes']} B)",
            f"{fo:.2f}/{pct(b['fanout_s'], 99):.2f}", f"{dfo:.2f}/{pct(d['fanout_s'], 99):.2f}",
            f"{dfo / fo:.2f}x", f"{statistics.median(b['single_ms']):.1f}/{pct(b['single_ms'], 99):.1f}",
            f"{statistics.median(d['single_ms']):.1f}/{pct(d['single_ms'], 99):.1f}",
            f"{b['rss_kb'] / 1024:.0f}", f"{r['device_rss_kb'] / 1024:.1f}",
            f"{b['load_calls_s']:.0f}/{d['load_calls_s']:.0f}",
            "/".join("n/a" if x["broker_msgs_s"] is None else f"{x['broker_msgs_s']:.0f}" for x in (b, d))]))
    print("ratio: the direct client's fan-out time over the bridge's (above 1: the bridge is faster)")
    out = ROOT / "build/bench/fleet.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
