"""A virtual device connected only by MQTT (its own MCP-over-MQTT link to mosquitto) joins the
bridge when its presence appears: the mcp SDK client on the bridge's HTTP endpoint lists and
calls its tools; when the device leaves (presence cleared), its tools leave the bridge."""
import binascii
import json
import os
import subprocess
import time

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from _support.mqtt_mcp_client import McpMqttClient, Sniffer, SuggestingBroker
from test_bridge_mqtt import Presence
from _support.bridge import BridgeProc, http_client
from vdevice import board_root, device_cmd, device_env

pytestmark = pytest.mark.timeout(120)


class MqttDevice:
    """The device app with MQTT configured; its serial link (stdin) stays open and unused."""

    def __init__(self, tmp_path, broker, name, device_id, **mqtt):
        root = board_root(tmp_path, {"name": name, "test_tools": True, "mqtt": {"url": broker.url, **mqtt}}, name=name)
        self.log = open(tmp_path / f"{name}.stderr", "wb")
        self.proc = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=self.log, env={**os.environ, **device_env(root, device_id)})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # the host closed the console: the app ends, clearing its presence
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def text(result):
    return "".join(c.text for c in result.content if c.type == "text")


def test_mqtt_device_joins_and_leaves_the_bridge(tmp_path, mqtt_broker):
    sid = binascii.hexlify(b"m1").decode()
    watch = Presence(mqtt_broker)
    dev = MqttDevice(tmp_path, mqtt_broker, "dev-m", "m1")
    bridge = None
    try:
        servers = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)
        name = servers[sid][0]
        (tmp_path / "bridge").mkdir()
        bridge = BridgeProc(tmp_path / "bridge", (), "--mqtt", mqtt_broker.url)

        async def main():
            changed = []

            async def on_note(msg):
                changed.append(getattr(msg, "method", None) or type(msg).__name__)

            http, client = http_client(bridge.url, mode="legacy", message_handler=on_note)
            async with http, client as c:
                with anyio.fail_after(30):
                    while "dev-m.echo" not in {t.name for t in (await c.list_tools()).tools}:
                        await anyio.sleep(0.1)
                assert text(await c.call_tool("dev-m.echo", {"text": "via mqtt"})) == "via mqtt"
                info = (await c.call_tool("dev-m.device_info", {})).structured_content
                assert info["device_id"] == sid and info["name"] == "dev-m"
                progress = []

                async def on_progress(done, total, message):
                    progress.append((done, total))
                r = await c.call_tool("dev-m.slow", {"seconds": 0.3, "steps": 3}, progress_callback=on_progress)
                assert r.structured_content == {"slept": 0.3, "steps": 3}
                assert progress == [(1, 3), (2, 3), (3, 3)]
                r = await c.call_tool("dev-m.fail", {"message": "on purpose"})
                assert r.is_error and text(r) == "on purpose"

                # An independent MCP-over-MQTT client on the broker at the same time.
                direct = McpMqttClient(mqtt_broker, name_filter=None)
                direct.initialize(sid, name)
                r = direct.call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
                assert r["result"]["structuredContent"] == {"sum": 3}
                direct.close()

                dev.stop()
                with anyio.fail_after(30):
                    while any(t.name.startswith("dev-m.") for t in (await c.list_tools()).tools):
                        await anyio.sleep(0.1)
                devices = bridge.devices_info()
                assert "dev-m" not in devices
                with anyio.move_on_after(10):  # the notification comes on the client's own stream
                    while not any("list_changed" in str(m) for m in changed):
                        await anyio.sleep(0.05)
                return changed

        changed = anyio.run(main)
        assert any("list_changed" in str(m) for m in changed), changed
    finally:
        dev.stop()
        if bridge:
            bridge.stop()
        watch.close()


def test_mqtt_device_info_in_devices_list(tmp_path, mqtt_broker):
    dev = MqttDevice(tmp_path, mqtt_broker, "dev-n", "n1")
    (tmp_path / "bridge").mkdir()
    bridge = BridgeProc(tmp_path / "bridge", (), "--mqtt", mqtt_broker.url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            d = bridge.devices_info().get("dev-n")
            if d and d["state"] == "up":
                break
            time.sleep(0.1)
        else:
            raise AssertionError(bridge.devices_info())
        assert d["kind"] == "mqtt" and "echo" in d["tools"]
    finally:
        dev.stop()
        bridge.stop()


def test_mqtt_device_killed_and_restarted_rejoins(tmp_path, mqtt_broker):
    dev = MqttDevice(tmp_path, mqtt_broker, "dev-r", "r1")
    (tmp_path / "bridge").mkdir()
    bridge = BridgeProc(tmp_path / "bridge", (), "--mqtt", mqtt_broker.url)

    async def echo(text_in):
        http, client = http_client(bridge.url, mode="legacy")
        async with http, client as c:
            with anyio.fail_after(30):
                while "dev-r.echo" not in {t.name for t in (await c.list_tools()).tools}:
                    await anyio.sleep(0.1)
            return text(await c.call_tool("dev-r.echo", {"text": text_in}))

    try:
        assert anyio.run(echo, "first") == "first"
        dev.proc.kill()  # no goodbye: the broker's will clears its presence
        dev.proc.wait(10)
        deadline = time.monotonic() + 30
        while "dev-r" in bridge.devices_info():
            assert time.monotonic() < deadline, bridge.devices_info()
            time.sleep(0.1)
        dev = MqttDevice(tmp_path, mqtt_broker, "dev-r", "r1")
        assert anyio.run(echo, "again") == "again"
    finally:
        dev.stop()
        bridge.stop()


def test_mqtt_device_back_after_broker_restart(tmp_path, mqtt_broker):
    dev = MqttDevice(tmp_path, mqtt_broker, "dev-b", "b1")
    (tmp_path / "bridge").mkdir()
    bridge = BridgeProc(tmp_path / "bridge", (), "--mqtt", mqtt_broker.url)

    async def echo(text_in, timeout=30):
        http, client = http_client(bridge.url, mode="legacy")
        async with http, client as c:
            with anyio.fail_after(timeout):
                while True:
                    if "dev-b.echo" in {t.name for t in (await c.list_tools()).tools}:
                        try:
                            r = await c.call_tool("dev-b.echo", {"text": text_in})
                        except MCPError:  # not connected again yet
                            r = None
                        if r is not None and not r.is_error:
                            return text(r)
                    await anyio.sleep(0.2)

    try:
        assert anyio.run(echo, "before") == "before"
        mqtt_broker.stop()  # retained presence and every session are gone with it
        time.sleep(2)
        mqtt_broker.start()
        assert anyio.run(echo, "after", 60) == "after"
    finally:
        dev.stop()
        bridge.stop()


def wait_devices(bridge, pred, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        d = bridge.devices_info()
        if pred(d):
            return d
        assert time.monotonic() < deadline, d
        time.sleep(0.1)


def test_bridge_client_connect_properties_and_broker_filters(tmp_path, mqtt_broker):
    """The bridge's MCP-client connections (discovery, and each session) CONNECT with
    MCP-COMPONENT-TYPE and MCP-META ("User Property"), and discovery uses the broker's
    MCP-SERVER-NAME-FILTERS from CONNACK instead of its own `edgemcp/#` ("Terminology": MUST).
    mosquitto sends no CONNACK user properties: a proxy in front of it adds them (EMQX may)."""
    keep = MqttDevice(tmp_path, mqtt_broker, "keep", "k1")
    other = MqttDevice(tmp_path, mqtt_broker, "other", "o1")
    watch = Presence(mqtt_broker)
    proxy = SuggestingBroker(mqtt_broker, filters=["edgemcp/+/keep", "edgemcp/nowhere/#"])
    bridge = None
    try:
        ids = {binascii.hexlify(b"k1").decode(), binascii.hexlify(b"o1").decode()}
        watch.wait(lambda s: all(s.get(i, (None, None))[1] for i in ids))  # both announced
        (tmp_path / "bridge").mkdir()
        bridge = BridgeProc(tmp_path / "bridge", (), "--mqtt", proxy.url)
        wait_devices(bridge, lambda d: d.get("keep", {}).get("state") == "up")
        time.sleep(1.5)  # the other one's presence was there all along
        assert "other" not in bridge.devices_info()
        clients = [(cid, u) for cid, u in proxy.connects if u.get("MCP-COMPONENT-TYPE") == "mcp-client"]
        watcher = [u for cid, u in clients if cid.startswith("edgemcp-bridge-watch-")]
        sessions = [u for cid, u in clients if not cid.startswith("edgemcp-bridge-watch-")]
        assert watcher and sessions, proxy.connects
        for u in watcher + sessions:
            meta = json.loads(u["MCP-META"])
            assert meta["implementation"] == "edgemcp-bridge" and meta["version"]
    finally:
        if bridge:
            bridge.stop()
        keep.stop()
        other.stop()
        watch.close()
        proxy.close()


def test_bridge_client_goodbye_and_will_carry_the_user_properties(tmp_path, mqtt_broker):
    """"User Property": the bridge client's "disconnected" on `$mcp-client/presence/{id}`, sent
    when it leaves and left as its will, carries MCP-COMPONENT-TYPE and MCP-MQTT-CLIENT-ID."""
    dev = MqttDevice(tmp_path, mqtt_broker, "dev-g", "g1")
    sniff = Sniffer(mqtt_broker, "$mcp-client/presence/#")
    bridge = None
    try:
        for run, end in (("stop", "goodbye"), ("kill", "will")):
            (tmp_path / run).mkdir()
            bridge = BridgeProc(tmp_path / run, (), "--mqtt", mqtt_broker.url)
            wait_devices(bridge, lambda d: d.get("dev-g", {}).get("state") == "up")
            n = len(sniff.heard)
            if run == "stop":
                bridge.stop()
            else:
                bridge.proc.kill()
                bridge.proc.wait(10)
            topic, payload, _, user = sniff.wait(lambda m: True, since=n)
            cid = topic.rsplit("/", 1)[1]
            assert json.loads(payload) == {"jsonrpc": "2.0", "method": "notifications/disconnected"}, end
            assert user == {"MCP-COMPONENT-TYPE": "mcp-client", "MCP-MQTT-CLIENT-ID": cid}, end
            bridge.stop()
            bridge = None
    finally:
        if bridge:
            bridge.stop()
        dev.stop()
        sniff.close()


def test_bridge_client_takes_a_servers_disconnected_as_offline(tmp_path, mqtt_broker):
    """"Server Disconnect": a device serving one session at most (max_clients 1) ends the
    bridge's when another client initializes, with "disconnected" on the RPC topic. The bridge
    takes the server as offline at once (its calls fail now, not at their timeout) and
    unsubscribes its two topics of it; it looks at the server's presence again later and
    rejoins (ending the other client's session in turn)."""
    sid = binascii.hexlify(b"x1").decode()
    dev = MqttDevice(tmp_path, mqtt_broker, "dev-x", "x1", max_clients=1)
    sniff = Sniffer(mqtt_broker, f"$mcp-rpc/+/{sid}/#")
    (tmp_path / "bridge").mkdir()
    bridge = BridgeProc(tmp_path / "bridge", (), "--mqtt", mqtt_broker.url)
    direct = None
    try:
        wait_devices(bridge, lambda d: d.get("dev-x", {}).get("state") == "up")
        direct = McpMqttClient(mqtt_broker, name_filter="edgemcp/#")
        direct.initialize(*direct.discover())
        t0 = time.monotonic()
        bye = sniff.wait(lambda m: b"notifications/disconnected" in m[1])
        cid = bye[0].split("/")[1]
        assert cid != direct.cid
        wait_devices(bridge, lambda d: "dev-x" not in d, timeout=5)
        print("the bridge let the server go %.2f s after its disconnected" % (time.monotonic() - t0))
        log = mqtt_broker.log()
        at = log.find("Received UNSUBSCRIBE from " + cid)
        assert at >= 0 and f"$mcp-rpc/{cid}/{sid}/" in log[at:at + 600], log[-2000:]
        assert direct.request("ping") == {}
        # later the bridge reads the retained presence again and joins: the device now ends the
        # direct client's session, and says so
        wait_devices(bridge, lambda d: d.get("dev-x", {}).get("state") == "up", timeout=20)
        direct.wait(lambda m: m[0] == direct.rpc and m[1] and m[1].get("method") == "notifications/disconnected")
    finally:
        bridge.stop()
        if direct:
            direct.close()
        dev.stop()
        sniff.close()
