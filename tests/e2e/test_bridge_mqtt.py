"""The bridge's MQTT side against real mosquitto and virtual devices: a USB-only device presented
on the broker as an MCP-over-MQTT server, driven by an MCP-over-MQTT client written here with
paho-mqtt from the EMQX binding (mqtt-ai/mcp-over-mqtt, 2025-03-26 mqtt_transport.md), the same
client that tests the device's own MQTT link (_support/mqtt_mcp_client.py)."""
import binascii
import json
import socket
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from _support.bridge import BridgeProc
from _support.mqtt_mcp_client import McpMqttClient, Sniffer, SuggestingBroker

pytestmark = pytest.mark.timeout(120)

PRESENCE = "$mcp-server/presence/"


def _nodelay(client, userdata, sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small RPC messages: no Nagle wait


def _client(broker, client_id, will=None):
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.on_socket_open = _nodelay
    if will:
        c.will_set(*will)
    return c


def _connect(c, broker):
    done = threading.Event()
    c.on_connect = lambda *a: done.set()
    c.connect(broker.host, broker.port, keepalive=30, clean_start=True)
    c.loop_start()
    assert done.wait(10), "no CONNACK"


def _subscribe(c, topic, no_local=False):
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=no_local))
    assert done.wait(10), "no SUBACK"


class Presence:
    """Watches `$mcp-server/presence/+/edgemcp/#`: server-id -> (server-name, message or None)."""

    def __init__(self, broker):
        self.servers = {}
        self.cond = threading.Condition()
        self.c = _client(broker, "watch-" + uuid.uuid4().hex[:8])
        self.c.on_message = self._msg
        _connect(self.c, broker)
        _subscribe(self.c, PRESENCE + "+/edgemcp/#")

    def _msg(self, client, userdata, m):
        sid, _, name = m.topic[len(PRESENCE):].partition("/")
        with self.cond:
            self.servers[sid] = (name, json.loads(m.payload) if m.payload else None)
            self.cond.notify_all()

    def wait(self, pred, timeout=30):
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.servers), timeout), self.servers
            return dict(self.servers)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_serial_device_presented_as_mcp_over_mqtt_server(tmp_path, mqtt_broker):
    watch = Presence(mqtt_broker)
    bridge = BridgeProc(tmp_path, ("d",), "--mqtt", mqtt_broker.url, "--no-mqtt-events")
    sid = binascii.hexlify(b"d").decode()
    try:
        servers = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)
        name, online = servers[sid]
        assert name.startswith("edgemcp/") and name.endswith("/dev-d")
        assert online["method"] == "notifications/server/online"
        assert online["params"]["server_name"] == name and "echo" in online["params"]["description"]

        c = McpMqttClient(mqtt_broker, name_filter=None)
        r = c.initialize(sid, name)
        assert r["result"]["protocolVersion"] == "2025-03-26"
        assert "tools" in r["result"]["capabilities"]
        assert r["result"]["serverInfo"]["name"] == "dev-d"

        tools = {t["name"] for t in c.call("tools/list")["result"]["tools"]}
        assert {"device_info", "echo", "slow", "add"} <= tools
        r = c.call("tools/call", {"name": "echo", "arguments": {"text": "over mqtt"}})
        assert r["result"]["content"][0]["text"] == "over mqtt"
        r = c.call("tools/call", {"name": "device_info", "arguments": {}})
        assert r["result"]["structuredContent"]["device_id"] == sid
        r = c.call("tools/call", {"name": "slow", "arguments": {"seconds": 0.3, "steps": 3},
                                     "_meta": {"progressToken": "p1"}})
        assert r["result"]["structuredContent"] == {"slept": 0.3, "steps": 3}
        progress = [n["params"] for n in c.notifications("notifications/progress")]
        assert [(p["progressToken"], p["progress"]) for p in progress] == [("p1", 1), ("p1", 2), ("p1", 3)]
        r = c.call("tools/call", {"name": "nosuchtool", "arguments": {}})
        assert "error" in r or r["result"].get("isError")
        r = c.call("tools/call", {"name": "add", "arguments": {"a": "x"}})
        assert "error" in r or r["result"].get("isError")  # bad input: a clear error, the device goes on
        assert c.call("ping")["result"] == {}
        # What a client sends on its capability topic reaches its session, as on the device.
        assert c.call("ping", topic=f"$mcp-client/capability/{c.cid}")["result"] == {}
        r = c.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 40}})
        assert r["result"]["structuredContent"] == {"sum": 42}

        # A second client at the same time; the first one leaves by its will (no clean goodbye).
        c2 = McpMqttClient(mqtt_broker, name_filter=None)
        c2.initialize(sid, name)
        c.c.socket().close()  # an abrupt end: the broker sends its will
        c.c.loop_stop()
        r = c2.call("tools/call", {"name": "echo", "arguments": {"text": "second"}})
        assert r["result"]["content"][0]["text"] == "second"
        c2.close()
    finally:
        bridge.stop()
    # The device's presence is gone with the bridge.
    watch.wait(lambda s: s.get(sid, (None, None))[1] is None)
    watch.close()


def test_presence_cleared_by_will_when_bridge_killed(tmp_path, mqtt_broker):
    watch = Presence(mqtt_broker)
    bridge = BridgeProc(tmp_path, ("k",), "--mqtt", mqtt_broker.url, "--no-mqtt-events")
    sid = binascii.hexlify(b"k").decode()
    try:
        watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)
        bridge.proc.kill()
        bridge.proc.wait(10)
        # mosquitto notices the dead connection at once (the socket closed): the will fires.
        watch.wait(lambda s: s.get(sid, (None, None))[1] is None, timeout=20)
    finally:
        bridge.stop()
        watch.close()


def test_serial_device_with_its_own_broker_link_not_presented_twice(tmp_path, mqtt_broker):
    """A device on USB that also speaks MQTT itself keeps its own presence: the bridge neither
    presents it (same client id: the two connections would throw each other off) nor joins
    it a second time from the broker."""
    watch = Presence(mqtt_broker)
    config = {"test_tools": True, "mqtt": {"url": mqtt_broker.url}}
    bridge = BridgeProc(tmp_path, ("w",), "--mqtt", mqtt_broker.url, config=config)
    sid = binascii.hexlify(b"w").decode()
    try:
        name, online = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)[sid]
        assert "via the edgemcp bridge" not in online["params"]["description"]
        c = McpMqttClient(mqtt_broker, name_filter=None)
        c.initialize(sid, name)
        for i in range(10):  # the device's own connection stays (a take-over would end its sessions)
            r = c.call("tools/call", {"name": "echo", "arguments": {"text": str(i)}})
            assert r["result"]["content"][0]["text"] == str(i)
            time.sleep(0.1)
        c.close()
        assert set(bridge.devices_info()) == {"w"}
        assert "presented on the broker" not in bridge.log.read_text()
    finally:
        bridge.stop()
        watch.close()


def test_broker_credentials(tmp_path):
    """A broker with a password file: the bridge's --mqtt-username/--mqtt-password reach every
    connection it makes; a wrong password stops it at once with a clear message."""
    from mqtt_broker import Broker
    from _support.bridge import bridge_cmd, env, write_configs

    with Broker(tmp_path / "mosquitto", users={"bridge": "s3cret", "watch": "w"}) as broker:
        watch_c = _client(broker, "watch-auth")
        watch_c.username_pw_set("watch", "w")
        got = threading.Event()
        watch_c.on_message = lambda c, u, m: m.payload and got.set()
        _connect(watch_c, broker)
        _subscribe(watch_c, PRESENCE + "+/edgemcp/#")
        bridge = BridgeProc(tmp_path / "ok", ("p",), "--mqtt", broker.url, "--mqtt-username", "bridge",
                            "--mqtt-password", "s3cret")
        try:
            assert got.wait(30), "no presence published with the credentials"
        finally:
            bridge.stop()
            watch_c.disconnect()
            watch_c.loop_stop()

        vroot = tmp_path / "bad" / "vdev"
        write_configs(vroot, ["p"])
        r = subprocess.run(bridge_cmd(vroot, ["p"], "--http", "127.0.0.1:0", "--mqtt", broker.url,
                                      "--mqtt-username", "bridge", "--mqtt-password", "wrong"),
                           capture_output=True, text=True, timeout=60, env=env())
        assert r.returncode != 0
        assert "refused the connection" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_presented_device_away_and_back(tmp_path, mqtt_broker):
    """The serial device dies (SIGKILL): its presence is cleared while the bridge respawns it,
    announced again once it is back, and a new MQTT client session works."""
    import os
    import signal

    watch = Presence(mqtt_broker)
    bridge = BridgeProc(tmp_path, ("r",), "--mqtt", mqtt_broker.url, "--no-mqtt-events")
    sid = binascii.hexlify(b"r").decode()
    try:
        name = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)[sid][0]
        seen = []
        watch.c.on_message = lambda c, u, m: (seen.append(bool(m.payload)), Presence._msg(watch, c, u, m))
        os.kill(bridge.devices_info()["r"]["pid"], signal.SIGKILL)
        bridge.wait_state("r", "up", connects=2)
        watch.wait(lambda s: s[sid][1] is not None and seen[:1] == [False] and seen[-1:] == [True])
        c = McpMqttClient(mqtt_broker, name_filter=None)
        c.initialize(sid, name)
        r = c.call("tools/call", {"name": "echo", "arguments": {"text": "back"}})
        assert r["result"]["content"][0]["text"] == "back"
        c.close()
    finally:
        bridge.stop()
        watch.close()


def test_presenter_names_a_default_named_device_by_its_id(tmp_path, mqtt_broker):
    """A serial device left with the default name is presented as `edgemcp/{platform}/{device-id}`,
    the name it gives itself on a broker (firmware mqtt_link.py): server-names stay unique."""
    import os
    from _support.bridge import bridge_cmd, env, write_configs

    watch = Presence(mqtt_broker)
    vroot = tmp_path / "vdev"
    write_configs(vroot, ["z"])
    (vroot / "z" / "edgemcp.json").write_text(json.dumps({"test_tools": True}))  # no name: "edgemcp"
    log = open(tmp_path / "bridge.log", "wb")
    proc = subprocess.Popen(bridge_cmd(vroot, ["z"], "--http", "127.0.0.1:0", "--mqtt", mqtt_broker.url,
                                       "--no-mqtt-events"), stdout=subprocess.DEVNULL, stderr=log, env=env())
    sid = binascii.hexlify(b"z").decode()
    try:
        name = watch.wait(lambda s: s.get(sid, (None, None))[1] is not None)[sid][0]
        assert name == f"edgemcp/{os.uname().sysname.lower()}/{sid}"
        c = McpMqttClient(mqtt_broker, name_filter=None)
        c.initialize(sid, name)
        assert c.call("tools/call", {"name": "device_info", "arguments": {}})["result"]["structuredContent"]["name"] == "edgemcp"
        c.close()
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
        watch.close()


def test_presenter_takes_the_server_name_the_broker_suggests(tmp_path, mqtt_broker):
    """"Terminology": a server MUST use the MCP-SERVER-NAME its broker suggests in CONNACK.
    mosquitto sends no CONNACK user properties: a proxy in front of it adds them (EMQX may)."""
    proxy = SuggestingBroker(mqtt_broker, server_name=lambda cid: f"edgemcp/site-a/{cid}")
    sniff = Sniffer(mqtt_broker, PRESENCE + "#")
    sid = binascii.hexlify(b"s").decode()
    bridge = BridgeProc(tmp_path, ("s",), "--mqtt", proxy.url, "--no-mqtt-events", "--mqtt-servers", "")
    try:
        topic = f"{PRESENCE}{sid}/edgemcp/site-a/{sid}"
        online = sniff.wait(lambda m: m[0] == topic and m[1])
        assert json.loads(online[1])["params"]["server_name"] == f"edgemcp/site-a/{sid}"
        assert not [m for m in sniff.heard if m[0] != topic], "announced under another name first"
        cp = [u for cid, u in proxy.connects if cid == sid]
        assert cp and cp[0]["MCP-COMPONENT-TYPE"] == "mcp-server" and json.loads(cp[0]["MCP-META"])
        c = McpMqttClient(mqtt_broker, name_filter=None)
        c.initialize(sid, f"edgemcp/site-a/{sid}")
        r = c.call("tools/call", {"name": "echo", "arguments": {"text": "named by the broker"}})
        assert r["result"]["content"][0]["text"] == "named by the broker"
        c.close()
        bridge.proc.kill()  # the will names the suggested presence topic too
        bridge.proc.wait(10)
        sniff.wait(lambda m: m[0] == topic and not m[1])
    finally:
        bridge.stop()
        sniff.close()
        proxy.close()


def test_presenter_presence_clears_and_will_carry_the_user_properties(tmp_path, mqtt_broker):
    """"User Property": MCP-COMPONENT-TYPE and MCP-MQTT-CLIENT-ID on every PUBLISH of the
    presenter: the presence cleared while the USB device is away, cleared when the bridge stops,
    and the will the broker publishes when the bridge dies."""
    import os
    import signal

    sniff = Sniffer(mqtt_broker, PRESENCE + "#")
    sid = binascii.hexlify(b"u").decode()
    want = {"MCP-COMPONENT-TYPE": "mcp-server", "MCP-MQTT-CLIENT-ID": sid}
    mine = f"{PRESENCE}{sid}/"
    bridge = BridgeProc(tmp_path, ("u",), "--mqtt", mqtt_broker.url, "--no-mqtt-events")
    try:
        assert sniff.wait(lambda m: m[0].startswith(mine) and m[1])[3] == want
        n = len(sniff.heard)
        os.kill(bridge.devices_info()["u"]["pid"], signal.SIGKILL)  # away: presence cleared
        assert sniff.wait(lambda m: m[0].startswith(mine) and not m[1], since=n)[3] == want
        bridge.wait_state("u", "up", connects=2)
        assert sniff.wait(lambda m: m[0].startswith(mine) and m[1], since=n)[3] == want
        n = len(sniff.heard)
    finally:
        bridge.stop()  # an orderly end: cleared before leaving
    assert sniff.wait(lambda m: m[0].startswith(mine) and not m[1], since=n)[3] == want
    sniff.heard.clear()
    bridge = BridgeProc(tmp_path / "again", ("u",), "--mqtt", mqtt_broker.url, "--no-mqtt-events")
    try:
        sniff.wait(lambda m: m[0].startswith(mine) and m[1])
        bridge.proc.kill()
        bridge.proc.wait(10)
        assert sniff.wait(lambda m: m[0].startswith(mine) and not m[1])[3] == want  # the will
    finally:
        bridge.stop()
        sniff.close()
