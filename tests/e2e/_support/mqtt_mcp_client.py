"""The tests' one MCP-over-MQTT client, written with paho-mqtt from the EMQX binding
(mqtt-ai/mcp-over-mqtt, 2025-03-26 mqtt_transport.md) and not from the project's code, so it
checks both servers the project has: the device's own MQTT link and the bridge's presenter.

Per client: a fresh client id (= mcp-client-id), a will on `$mcp-client/presence/{id}`,
discovery by the retained presence, initialize on the server's control topic with the
MCP-MQTT-CLIENT-ID user property, the RPC topic subscribed with No Local, the server's
capability topic followed. Every message heard waits in `q` as (topic, payload dict or None,
retain) until a `wait` takes it.
"""
import json
import queue
import socket
import threading
import time
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

PRESENCE = "$mcp-server/presence/"
BYE = json.dumps({"jsonrpc": "2.0", "method": "notifications/disconnected"})


def props(kind, **user):
    p = Properties(kind)
    p.UserProperty = list(user.items())
    return p


def _nodelay(client, userdata, sock):
    # paho leaves Nagle on: a request right after a PUBACK would wait for the broker's ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class McpMqttClient:
    """An MCP client on the broker, per the binding; requests are answered on its RPC topic.
    `name_filter`: the server names whose presence it follows (None: none, for a client told
    the server's id and name)."""

    def __init__(self, broker, name_filter="edgemcp/#", ca=None, user=None, pw=None):
        self.cid = uuid.uuid4().hex
        self.q = queue.Queue()  # (topic, payload dict or None, retain)
        c = self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.cid, protocol=paho.MQTTv5)
        c.on_socket_open = _nodelay
        c.will_set("$mcp-client/presence/" + self.cid, BYE, qos=1,
                   properties=props(PacketTypes.WILLMESSAGE, **{"MCP-COMPONENT-TYPE": "mcp-client"}))
        if ca:
            c.tls_set(ca_certs=str(ca))
        if user:
            c.username_pw_set(user, pw)
        self.subscribed = queue.Queue()
        c.on_message = lambda c, u, m: self.q.put((m.topic, json.loads(m.payload) if m.payload else None, m.retain))
        c.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.put([r.value for r in rcs])
        ok = threading.Event()
        c.on_connect = lambda c, u, f, rc, p: ok.set()
        cp = props(PacketTypes.CONNECT, **{"MCP-COMPONENT-TYPE": "mcp-client", "MCP-META": "{}"})
        cp.SessionExpiryInterval = 0
        c.connect(broker.host, broker.port, keepalive=30, clean_start=True, properties=cp)
        c.loop_start()
        assert ok.wait(10), "no CONNACK"
        if name_filter is not None:
            self.sub(PRESENCE + "+/" + name_filter)
        self.next_id = 0

    def sub(self, topic, no_local=False):
        self.c.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=no_local))
        assert all(r < 128 for r in self.subscribed.get(timeout=10))

    def pub(self, topic, msg):
        body = json.dumps(msg) if isinstance(msg, dict) else msg
        p = props(PacketTypes.PUBLISH, **{"MCP-COMPONENT-TYPE": "mcp-client", "MCP-MQTT-CLIENT-ID": self.cid})
        self.c.publish(topic, body, qos=1, properties=p).wait_for_publish(10)

    def wait(self, pred, timeout=15):
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while time.monotonic() < deadline:
                try:
                    m = self.q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if pred(m):
                    return m
                kept.append(m)
            raise AssertionError("nothing matched; got %r" % kept[-10:])
        finally:
            for m in kept:
                self.q.put(m)

    def discover(self):
        t, msg, retain = self.wait(lambda m: m[0].startswith(PRESENCE) and m[1])
        assert msg["method"] == "notifications/server/online"
        _, _, sid, name = t.split("/", 3)
        assert name == msg["params"]["server_name"]
        self.retained = retain
        return sid, name

    def initialize(self, sid, name, version="2025-03-26"):
        """The handshake; returns the whole response to initialize."""
        self.sid, self.name = sid, name
        self.rpc = "$mcp-rpc/%s/%s/%s" % (self.cid, sid, name)
        self.sub("$mcp-server/capability/%s/%s" % (sid, name))
        self.sub(self.rpc, no_local=True)
        self.pub("$mcp-server/%s/%s" % (sid, name), {
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {},
                       "clientInfo": {"name": "paho-mcp-test", "version": "1"}}})
        r = self.response(0, timeout=15)
        self.pub(self.rpc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def response(self, rid, timeout=15):
        return self.wait(lambda m: m[0] == self.rpc and m[1] and m[1].get("id") == rid and "method" not in m[1],
                         timeout)[1]

    def call(self, method, params=None, timeout=20, topic=None):
        """One request; returns the whole response (a result or an error)."""
        self.next_id += 1
        self.pub(topic or self.rpc, {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        return self.response(self.next_id, timeout)

    def request(self, method, params=None, timeout=15):
        """One request that must succeed; returns its result."""
        r = self.call(method, params, timeout)
        assert "error" not in r, r
        return r["result"]

    def notifications(self, method):
        """The notifications `method` heard on the RPC topic so far, taken out of `q`."""
        got, kept = [], []
        while True:
            try:
                m = self.q.get_nowait()
            except queue.Empty:
                break
            if m[0] == self.rpc and m[1] and m[1].get("method") == method:
                got.append(m[1])
            else:
                kept.append(m)
        for m in kept:
            self.q.put(m)
        return got

    def drop(self):
        """An abrupt end: the socket closes without DISCONNECT, so the broker sends the will."""
        self.c.loop_stop()
        self.c.socket().close()

    def close(self):
        """The orderly end the binding asks for: "disconnected" on our presence topic first."""
        self.pub("$mcp-client/presence/" + self.cid, BYE)
        self.c.disconnect()
        self.c.loop_stop()
