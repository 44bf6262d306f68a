"""MCP over MQTT on the virtual device, checked by the tests' independent MCP-over-MQTT client
(_support/mqtt_mcp_client.py, paho-mqtt from the EMQX binding, mqtt-ai/mcp-over-mqtt,
2025-03-26 mqtt_transport): discovery by the retained presence, initialize on the control topic,
RPC on the per-client topic, capability notifications, the client's capability topic, two
clients at once, a client's will ending its session, the device's will clearing its presence,
and the serial link still serving meanwhile."""
import json
import os
import signal
import subprocess
import time

import pytest

from support import ROOT
from vdevice import board_root, device_cmd, device_env

from _support.mqtt_mcp_client import McpMqttClient, Sniffer

DEVICE_ID = "mqttdev01"


def start_device(tmp_path, broker, device_id=DEVICE_ID, name="mqtt-board", **mqtt):
    config = {"test_tools": True, "mqtt": {"url": broker.url, "keepalive": 10, **mqtt}}
    if name is not None:  # None: the device's default name
        config["name"] = name
    root = board_root(tmp_path, config, name=f"root-{device_id}")
    env = {**os.environ, **device_env(root, device_id)}
    return subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)


def stop_device(p):
    if p.poll() is None:
        p.kill()
    p.wait(10)
    for f in (p.stdin, p.stdout, p.stderr):
        f.close()


@pytest.fixture
def device(tmp_path, mqtt_broker, device_bin):
    p = start_device(tmp_path, mqtt_broker)
    yield p
    stop_device(p)


def test_mcp_over_mqtt_two_clients(mqtt_broker, device):
    a = McpMqttClient(mqtt_broker)
    b = McpMqttClient(mqtt_broker)
    try:
        sid, name = a.discover()
        assert b.discover() == (sid, name)
        assert sid == DEVICE_ID.encode().hex()  # hex of machine.unique_id()
        assert name == "edgemcp/linux/mqtt-board"

        ra = a.initialize(sid, name)["result"]
        assert ra["serverInfo"]["name"] == "mqtt-board" and ra["protocolVersion"] == "2025-03-26"
        b.initialize(sid, name)
        # what a client sends on its capability topic goes to its session (answered on its RPC topic)
        assert b.call("ping", topic="$mcp-client/capability/" + b.cid) == {"jsonrpc": "2.0", "id": b.next_id, "result": {}}
        tools = a.request("tools/list")["tools"]
        assert {"echo", "add", "slow", "device_info"} <= {t["name"] for t in tools}

        # both at once: a long call on A while B calls; each gets only its own answers
        a.next_id += 1
        slow_id = a.next_id
        a.pub(a.rpc, {"jsonrpc": "2.0", "id": slow_id, "method": "tools/call",
                      "params": {"name": "slow", "arguments": {"seconds": 1, "steps": 2},
                                 "_meta": {"progressToken": "p1"}}})
        assert b.request("tools/call", {"name": "add", "arguments": {"a": 2, "b": 40}})["structuredContent"] == {"sum": 42}
        assert b.request("tools/call", {"name": "echo", "arguments": {"text": "héllo"}})["content"][0]["text"] == "héllo"
        prog = a.wait(lambda m: m[0] == a.rpc and m[1] and m[1].get("method") == "notifications/progress")
        assert prog[1]["params"]["progressToken"] == "p1"
        assert a.response(slow_id)["result"]["structuredContent"] == {"slept": 1, "steps": 2}
        bad = b.request("tools/call", {"name": "add", "arguments": {"a": "x", "b": 1}})
        assert bad["isError"]
        info = a.request("tools/call", {"name": "device_info", "arguments": {}})["structuredContent"]
        assert info["device_id"] == sid
        print("device heap_alloc with two MQTT clients:", info["heap_alloc"])

        # capability topic: resource-updated notifications go there, once for both clients
        a.request("resources/subscribe", {"uri": "device://log"})
        b.request("resources/subscribe", {"uri": "device://log"})
        cap = "$mcp-server/capability/%s/%s" % (sid, name)
        assert b.request("tools/call", {"name": "fail", "arguments": {"message": "boom"}})["isError"]
        m = a.wait(lambda m: m[0] == cap)
        assert m[1]["method"] == "notifications/resources/updated" and m[1]["params"]["uri"] == "device://log"
        time.sleep(0.5)
        assert not [x for x in list(a.q.queue) if x[0] == cap], "the update reached the capability topic twice"

        # the serial link keeps serving while MQTT clients are connected
        device.stdin.write(b'{"jsonrpc":"2.0","id":7,"method":"ping"}\n')
        device.stdin.flush()
        assert json.loads(device.stdout.readline()) == {"jsonrpc": "2.0", "id": 7, "result": {}}

        # A's will on its presence topic ends its session: the device unsubscribes its topics
        a.drop()
        deadline = time.monotonic() + 10
        while "Received UNSUBSCRIBE from " + sid not in mqtt_broker.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "Received UNSUBSCRIBE from " + sid in mqtt_broker.log()
        assert b.request("ping") == {}
    finally:
        b.close()

    # the device dies: its will clears the retained presence
    watcher = McpMqttClient(mqtt_broker)
    try:
        assert watcher.discover() == (sid, name) and watcher.retained
        device.send_signal(signal.SIGKILL)
        t, msg, _ = watcher.wait(lambda m: m[0].startswith("$mcp-server/presence/") and m[1] is None)
        assert t == "$mcp-server/presence/%s/%s" % (sid, name)
    finally:
        watcher.close()
    late = McpMqttClient(mqtt_broker)
    try:
        with pytest.raises(AssertionError):
            late.wait(lambda m: m[0].startswith("$mcp-server/presence/"), timeout=1)
    finally:
        late.close()


def test_device_clears_presence_when_it_stops(mqtt_broker, device):
    w = McpMqttClient(mqtt_broker)
    try:
        sid, name = w.discover()
        device.stdin.close()  # the host closes the serial link: the app stops
        t, msg, _ = w.wait(lambda m: m[0].startswith("$mcp-server/presence/") and m[1] is None)
        assert device.wait(10) == 0
        wait_log(mqtt_broker, "Received DISCONNECT from " + sid)
    finally:
        w.close()


def test_broker_restart_device_comes_back(mqtt_broker, device):
    c = McpMqttClient(mqtt_broker)
    sid, name = c.discover()
    c.initialize(sid, name)
    assert c.request("ping") == {}
    c.close()
    mqtt_broker.stop()
    time.sleep(1.5)  # the device retries with backoff meanwhile
    mqtt_broker.start()
    c = McpMqttClient(mqtt_broker)  # a new client id per initialization, as the binding asks
    try:
        assert c.discover() == (sid, name)
        c.initialize(sid, name)
        r = c.request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        assert r["structuredContent"] == {"sum": 3}
    finally:
        c.close()


@pytest.mark.parametrize("url", ["mqtt://127.0.0.1:1", "http://nope"])
def test_serial_keeps_serving_without_a_broker(tmp_path, device_bin, url):
    # a broker that refuses connections, and a URL the link cannot use at all
    root = board_root(tmp_path, {"name": "lonely", "test_tools": True, "mqtt": {"url": url}})
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, **device_env(root, DEVICE_ID)}, cwd=ROOT)
    try:
        time.sleep(1.5)  # several failed connection attempts
        msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 1}}},
                {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "device://log"}}]
        out, err = p.communicate("".join(json.dumps(m) + "\n" for m in msgs).encode(), timeout=20)
        replies = [json.loads(x) for x in out.splitlines() if x.startswith(b"{")]
        by_id = {r.get("id"): r for r in replies}
        assert by_id[2]["result"]["structuredContent"] == {"sum": 2}, replies
        log = by_id[3]["result"]["contents"][0]["text"]
        if url.startswith("http"):
            assert "MQTT link not started" in log
        else:  # the refusal is logged once, not once per retry
            assert log.count("MQTT link to 127.0.0.1:1: OSError(111,)") == 1, log
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def wait_log(broker, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in broker.log():
        assert time.monotonic() < deadline, "mosquitto never logged " + repr(text)
        time.sleep(0.1)


def test_sessions_end_and_are_bounded(tmp_path, mqtt_broker, device_bin):
    p = start_device(tmp_path, mqtt_broker, max_clients=2)
    clients = []
    try:
        for _ in range(3):
            c = McpMqttClient(mqtt_broker)
            c.initialize(*c.discover())
            clients.append(c)
        a, b, c = clients
        # a third client pushed out the oldest session: it is told so on its RPC topic ("Server
        # Disconnect": "disconnected", then the unsubscriptions), and its requests go unanswered
        bye = a.wait(lambda m: m[0] == a.rpc and m[1] and m[1].get("method") == "notifications/disconnected", 5)
        assert bye[1] == {"jsonrpc": "2.0", "method": "notifications/disconnected"}
        assert not [m for m in list(b.q.queue) + list(c.q.queue) if m[1] and m[1].get("method") == "notifications/disconnected"]
        wait_log(mqtt_broker, "Received UNSUBSCRIBE from " + a.sid)
        log = mqtt_broker.log()
        assert a.cid in log[log.index("Received UNSUBSCRIBE from " + a.sid):][:400]
        with pytest.raises(AssertionError):
            a.request("ping", timeout=1)
        assert b.request("ping") == {} and c.request("ping") == {}
        # "disconnected" on the RPC topic ends a session too (de-initialize, staying connected)
        n = mqtt_broker.log().count("Received UNSUBSCRIBE from " + b.sid)
        b.pub(b.rpc, {"jsonrpc": "2.0", "method": "notifications/disconnected"})
        deadline = time.monotonic() + 10
        while mqtt_broker.log().count("Received UNSUBSCRIBE from " + b.sid) == n:
            assert time.monotonic() < deadline, "the device did not end the session"
            time.sleep(0.1)
        with pytest.raises(AssertionError):
            b.request("ping", timeout=1)
        # ... and the ended session's client can initialize again with a new id
        d = McpMqttClient(mqtt_broker)
        d.initialize(*d.discover())
        clients.append(d)
        assert d.request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}})["structuredContent"] == {"sum": 2}
        assert c.request("ping") == {}
    finally:
        for x in clients:
            x.close()
        stop_device(p)


def test_heap_stays_flat_over_sessions(tmp_path, mqtt_broker, device_bin):
    # Clients come and go (orderly, and by their will) and call tools: the device's heap after
    # a collection must not grow with the number of sessions or calls.
    p = start_device(tmp_path, mqtt_broker)
    try:
        heap = []
        for rnd in range(6):
            c = McpMqttClient(mqtt_broker)
            c.initialize(*c.discover())
            for i in range(10):
                c.request("tools/call", {"name": "add", "arguments": {"a": i, "b": 1}})
            heap.append(c.request("tools/call", {"name": "device_info", "arguments": {}})["structuredContent"]["heap_alloc"])
            if rnd % 2:
                c.drop()
            else:
                c.close()
            time.sleep(0.3)
        print("heap_alloc after each of 6 sessions:", heap)
        assert max(heap[1:]) - heap[1] < 1024, heap
    finally:
        stop_device(p)


def test_mqtts_with_password(tmp_path, device_bin):
    # The device's config names a TLS broker, the CA file on its filesystem and credentials.
    from mqtt_broker import Broker
    from test_mqtt_client import make_certs
    certs = make_certs(tmp_path)
    with Broker(tmp_path / "tls", users={"dev": "pw1", "client": "pw2"},
                tls=(certs["server.pem"], certs["server.key"])) as b:
        root = board_root(tmp_path, {"name": "secure", "test_tools": True,
                                     "mqtt": {"url": b.url, "ca": "/ca.pem", "username": "dev", "password": "pw1"}})
        (root / "ca.pem").write_bytes(certs["ca.pem"].read_bytes())
        p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, **device_env(root, DEVICE_ID)}, cwd=ROOT)
        c = McpMqttClient(b, ca=certs["ca.pem"], user="client", pw="pw2")
        try:
            sid, name = c.discover()
            assert name == "edgemcp/linux/secure"
            c.initialize(sid, name)
            assert c.request("tools/call", {"name": "echo", "arguments": {"text": "over TLS"}})["content"][0]["text"] == "over TLS"
            cfg = c.request("resources/read", {"uri": "device://config"})["contents"][0]["text"]
            assert "pw1" not in cfg, "the password leaked through device://config"
        finally:
            c.close()
            stop_device(p)


def test_default_names_are_unique_and_carry_the_device_id(tmp_path, mqtt_broker, device_bin):
    """Two boards left with the default name are two server-names ("Terminology": the
    server-name should be unique): `edgemcp/{platform}/{device-id}`; a configured name stays."""
    sniff = Sniffer(mqtt_broker, "$mcp-server/presence/#")
    procs = [start_device(tmp_path, mqtt_broker, "board-1", name=None),
             start_device(tmp_path, mqtt_broker, "board-2", name=None),
             start_device(tmp_path, mqtt_broker, "board-3", name="kitchen")]
    try:
        names = {}
        for did in ("board-1", "board-2", "board-3"):
            sid = did.encode().hex()
            t, payload, retain, _ = sniff.wait(lambda m, sid=sid: m[0].startswith("$mcp-server/presence/%s/" % sid) and m[1])
            names[did] = t.split("/", 3)[3]
            assert json.loads(payload)["params"]["server_name"] == names[did]
        assert names == {"board-1": "edgemcp/linux/" + "board-1".encode().hex(),
                         "board-2": "edgemcp/linux/" + "board-2".encode().hex(),
                         "board-3": "edgemcp/linux/kitchen"}
        c = McpMqttClient(mqtt_broker, name_filter=None)
        try:
            sid = "board-2".encode().hex()
            c.initialize(sid, names["board-2"])
            assert c.request("tools/call", {"name": "device_info", "arguments": {}})["structuredContent"]["device_id"] == sid
        finally:
            c.close()
    finally:
        for p in procs:
            stop_device(p)
        sniff.close()


def test_presence_clear_and_will_carry_the_user_properties(tmp_path, mqtt_broker, device_bin):
    """"User Property": every PUBLISH carries MCP-COMPONENT-TYPE and MCP-MQTT-CLIENT-ID, the
    presence cleared on leaving and the will the broker publishes for a dead device included."""
    sniff = Sniffer(mqtt_broker, "$mcp-server/presence/#")
    want = {"MCP-COMPONENT-TYPE": "mcp-server", "MCP-MQTT-CLIENT-ID": DEVICE_ID.encode().hex()}
    p = start_device(tmp_path, mqtt_broker)
    try:
        online = sniff.wait(lambda m: m[1])
        assert online[3] == want
        p.stdin.close()  # an orderly end: the device clears its presence itself
        cleared = sniff.wait(lambda m: not m[1])
        assert cleared[3] == want and cleared[2] is False
        assert p.wait(10) == 0
        sniff.heard.clear()
        p = start_device(tmp_path, mqtt_broker)
        sniff.wait(lambda m: m[1])
        p.send_signal(signal.SIGKILL)  # no goodbye: the broker publishes the will
        will = sniff.wait(lambda m: not m[1])
        assert will[0] == online[0] and will[3] == want
    finally:
        stop_device(p)
        sniff.close()
