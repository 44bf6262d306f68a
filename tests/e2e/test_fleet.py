"""A fleet through the broker: 20 virtual devices, each a unix-build process with its own
MCP-over-MQTT link to mosquitto, and two bridges that know each other only through the broker.
Bridge A also holds a device on its serial line ("usb"), which it presents on the broker, so
bridge B reaches it too. A client on each bridge's /mcp/fleet calls a tool on every device;
bridge A is killed (SIGKILL) mid-run and restarted: calls through B keep working, the restarted
A serves the fleet again, and two `edgemcp mqtt sub --share` consumers receive every event the
devices emitted (the serial device's from its flash queue, relayed by A once it is back)."""
import json
import signal
import subprocess
import time

import anyio
import pytest

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from _support.bridge import CLI, BridgeProc, bridge_cmd, env, http_client, write_configs
from test_bridge_mqtt_devices import MqttDevice

pytestmark = pytest.mark.timeout(400)

N = 20
EVENTS = "edgemcp/+/events"


def structured(r):
    assert not r.is_error, r
    return r.structured_content


async def fleet_rows(c):
    return structured(await c.call_tool("fleet_devices", {}))["devices"]


async def wait_fleet(c, want, timeout=90):
    """Until the fleet endpoint lists `want` devices up with the echo tool; -> the rows."""
    with anyio.fail_after(timeout):
        while True:
            rows = [r for r in await fleet_rows(c) if r["state"] == "up"]
            tools = {t.name: t for t in (await c.list_tools()).tools}
            if len(rows) >= want and "echo" in tools and len(tools["echo"].input_schema["properties"]["device"]
                                                            .get("enum", ())) >= want + 1:
                return rows
            await anyio.sleep(0.3)


async def fan_out(c, tool, args, devices=None):
    a = {"device": "*", **args}
    if devices is not None:
        a["devices"] = devices
    return structured(await c.call_tool(tool, a))["results"]


def ok(results):
    bad = [r for r in results if "error" in r or r.get("isError")]
    assert not bad, bad
    return {r["device"]: r for r in results}


def test_fleet_two_bridges_one_killed_and_restarted(tmp_path, mqtt_broker):
    consumer_logs = [tmp_path / f"consumer{i}.jsonl" for i in range(2)]
    consumers = [subprocess.Popen([*CLI, "mqtt", "sub", "--broker", mqtt_broker.url, "--share", "fleet", "--json",
                                   "--qos", "1", "--timeout", "380", EVENTS], stdout=open(p, "w"),
                                  stderr=subprocess.DEVNULL) for p in consumer_logs]
    devices, bridges = [], {}
    try:
        deadline = time.monotonic() + 20
        while mqtt_broker.log().count(f"$share/fleet/{EVENTS}") < 2:
            assert time.monotonic() < deadline, mqtt_broker.log()[-2000:]
            time.sleep(0.1)
        names = [f"f{i:02}" for i in range(N)]
        devices = [MqttDevice(tmp_path, mqtt_broker, n, n) for n in names]
        for side in "ab":
            (tmp_path / side).mkdir()
        bridges["a"] = BridgeProc(tmp_path / "a", ("usb",), "--mqtt", mqtt_broker.url)
        bridges["b"] = BridgeProc(tmp_path / "b", (), "--mqtt", mqtt_broker.url)
        expected = {}  # device_id -> seqs its emit calls reported

        def note_emits(results, ids):
            for dev, r in results.items():
                seqs = r["structuredContent"]
                expected.setdefault(ids[dev], set()).update(range(seqs["first_seq"], seqs["last_seq"] + 1))

        async def main():
            ha, ca = http_client(bridges["a"].url + "/fleet")  # the 2026-07-28 era (auto)
            hb, cb = http_client(bridges["b"].url + "/fleet", mode="legacy")  # the 2025-11-25 handshake
            async with ha, ca as a, hb, cb as b:
                rows_a = await wait_fleet(a, N + 1)
                rows_b = await wait_fleet(b, N + 1)
                by_name = {r["device"]: r for r in rows_b}
                usb_on_b = next(n for n, r in by_name.items() if n not in names)  # A's serial device, via the broker
                assert by_name[usb_on_b]["kind"] == "mqtt" and {r["device"]: r for r in rows_a}["usb"]["kind"] == "virtual"
                for r in rows_b:
                    assert r["heap_free"] > 0 and r["uptime_ms"] >= 0 and r["board"] and r["firmware"]
                    assert r["queue_depth"] is not None and r["last_seen"]
                ids = {r["device"]: r["device_id"] for r in rows_a}
                ids_b = {r["device"]: r["device_id"] for r in rows_b}
                assert ids_b[usb_on_b] == ids["usb"]

                # Every device through both bridges, one fan-out each; one device by name.
                for c, want in ((a, set(names) | {"usb"}), (b, set(names) | {usb_on_b})):
                    got = ok(await fan_out(c, "echo", {"text": "hello"}))
                    assert set(got) == want
                    assert all(r["content"][0]["text"] == "hello" for r in got.values())
                    assert structured(await c.call_tool("add", {"device": "f07", "a": 2, "b": 3})) == {"sum": 5}
                note_emits(ok(await fan_out(a, "emit", {"stream": "before", "count": 3})), ids)

                # Bridge A dies mid-run; calls through B go on without a failure on the MQTT devices.
                rounds, killed = 0, False
                with anyio.fail_after(60):
                    while rounds < 6:
                        if rounds == 2 and not killed:
                            bridges["a"].proc.send_signal(signal.SIGKILL)
                            bridges["a"].proc.wait(10)
                            killed = True
                        got = ok(await fan_out(b, "echo", {"text": f"r{rounds}"}, names))
                        assert [got[n]["content"][0]["text"] for n in names] == [f"r{rounds}"] * N
                        rounds += 1
                note_emits(ok(await fan_out(b, "emit", {"stream": "during", "count": 2}, names)), ids)
                with anyio.fail_after(30):  # the broker's will for A's presenter: usb leaves B's fleet
                    while usb_on_b in {r["device"] for r in await fleet_rows(b)}:
                        await anyio.sleep(0.2)

            # A restarts on the same folder (the serial device keeps its flash queue) and serves again.
            t0 = time.monotonic()
            bridges["a"] = BridgeProc(tmp_path / "a", ("usb",), "--mqtt", mqtt_broker.url)
            ha, ca = http_client(bridges["a"].url + "/fleet")
            async with ha, ca as a:
                await wait_fleet(a, N + 1)
                rejoined = time.monotonic() - t0
                note_emits(ok(await fan_out(a, "emit", {"stream": "after", "count": 2})), ids)
                got = ok(await fan_out(a, "echo", {"text": "back"}))
                assert len(got) == N + 1
            return ids, rejoined

        ids, rejoined = anyio.run(main)
        print(f"bridge A rejoined the fleet of {N + 1} devices {rejoined:.1f} s after it was started again")

        # Every event reached one of the two consumers (the shared subscription splits them).
        deadline = time.monotonic() + 60
        while True:
            per_consumer = [[json.loads(line) for line in p.read_text().splitlines()] for p in consumer_logs]
            got = {}
            for msgs in per_consumer:
                for m in msgs:
                    rec = json.loads(m["payload"])
                    got.setdefault(m["topic"].split("/")[1], set()).add(rec["seq"])
            missing = {d: sorted(s - got.get(d, set())) for d, s in expected.items() if s - got.get(d, set())}
            if not missing:
                break
            assert time.monotonic() < deadline, f"events never delivered: {missing}"
            time.sleep(0.3)
        counts = {d: len(s) for d, s in expected.items()}
        assert counts[ids["usb"]] == 3 + 2 and all(counts[ids[n]] == 3 + 2 + 2 for n in names), counts
        assert all(per_consumer), "the shared subscription gave one consumer nothing"
    finally:
        for p in consumers:
            p.terminate()
        for p in consumers:
            p.wait(10)
        for br in bridges.values():
            br.stop()
        for d in devices:
            d.stop()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_stdio_fleet_of_serial_devices(tmp_path, mode):
    """`edgemcp bridge --stdio --fleet` as an MCP client's command, two virtual devices on serial
    lines: one tool per tool with the device selector, a fan-out with progress per device, the
    fleet listing as a tool and a resource, and the errors a model can make."""
    vroot = tmp_path / "vdev"
    write_configs(vroot, ("a", "b"))
    cmd = bridge_cmd(vroot, ("a", "b"), "--stdio", "--fleet")

    async def main():
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env())
        async with Client(params, mode=mode, read_timeout_seconds=30) as c:
            with anyio.fail_after(30):
                while "echo" not in {t.name for t in (await c.list_tools()).tools}:
                    await anyio.sleep(0.2)
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert {"fleet_devices", "echo", "slow", "device_info"} <= set(tools)
            assert not any("." in n for n in tools)  # both devices run the same firmware: no variants
            assert tools["echo"].input_schema["properties"]["device"]["enum"] == ["a", "b", "*"]
            assert tools["echo"].input_schema["required"] == ["device", "text"]
            assert structured(await c.call_tool("device_info", {"device": "b"}))["name"] == "dev-b"
            progress = []

            async def on_progress(done, total, message):
                progress.append((done, total))
            r = await c.call_tool("slow", {"device": "*", "seconds": 0.2, "steps": 2}, progress_callback=on_progress)
            got = ok(structured(r)["results"])
            assert set(got) == {"a", "b"} and got["a"]["structuredContent"] == {"slept": 0.2, "steps": 2}
            assert (2, 2) in progress  # the fan-out counts devices as they answer
            rows = json.loads((await c.read_resource("fleet://devices")).contents[0].text)["devices"]
            assert [(x["device"], x["kind"], x["state"]) for x in rows] == [("a", "virtual", "up"), ("b", "virtual", "up")]
            assert all(x["heap_free"] > 0 and x["board"] for x in rows)
            r = await c.call_tool("fail", {"device": "*", "message": "no"})
            assert r.is_error and r.structured_content["failed"] == 2  # every device failed
            for name, args, want in (("nope", {"device": "a"}, "unknown tool"),
                                     ("echo", {"text": "x"}, "`device` is required"),
                                     ("echo", {"device": "zz", "text": "x"}, "has no tool")):
                with pytest.raises(MCPError) as e:
                    await c.call_tool(name, args)
                assert e.value.error.code == -32602 and want in e.value.error.message
    anyio.run(main)


def test_fleet_flag_refusals(tmp_path):
    for extra, want in ((("--fleet", "--http", "127.0.0.1:0"), "--fleet is for --stdio"),
                        (("--fleet", "--device", "a"), "--fleet is for --stdio"),
                        (("--fleet-concurrency", "0"), "at least 1")):
        r = subprocess.run(bridge_cmd(tmp_path, ("a",), *extra), capture_output=True, text=True, env=env(), timeout=30)
        assert r.returncode == 2 and want in r.stderr, r.stderr
    write_configs(tmp_path / "v2", ("fleet",))
    r = subprocess.run(bridge_cmd(tmp_path / "v2", ("fleet",), "--stdio"), capture_output=True, text=True, env=env(),
                       timeout=30)
    assert r.returncode == 2 and "fleet endpoint" in r.stderr
