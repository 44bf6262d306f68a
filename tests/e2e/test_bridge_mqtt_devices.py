"""A virtual device connected only by MQTT (its own MCP-over-MQTT link to mosquitto) joins the
bridge when its presence appears: the mcp SDK client on the bridge's HTTP endpoint lists and
calls its tools; when the device leaves (presence cleared), its tools leave the bridge."""
import binascii
import os
import subprocess
import time

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from _support.mqtt_mcp_client import McpMqttClient
from test_bridge_mqtt import Presence
from _support.bridge import BridgeProc, http_client
from vdevice import board_root, device_cmd, device_env

pytestmark = pytest.mark.timeout(120)


class MqttDevice:
    """The device app with MQTT configured; its serial link (stdin) stays open and unused."""

    def __init__(self, tmp_path, broker, name, device_id):
        root = board_root(tmp_path, {"name": name, "test_tools": True, "mqtt": {"url": broker.url}}, name=name)
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
