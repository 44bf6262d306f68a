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

from _support.mqtt_wire import packet, read_packet, read_vbi, vbi

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


class Sniffer:
    """A plain MQTT subscriber that keeps everything it hears on `filters` with its user
    properties: `heard` is a list of (topic, payload bytes, retain, user properties dict)."""

    def __init__(self, broker, *filters):
        self.heard = []
        self.cond = threading.Condition()
        c = self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="sniff-" + uuid.uuid4().hex[:8],
                                 protocol=paho.MQTTv5)
        c.on_message = self._msg
        ok = threading.Event()
        c.on_connect = lambda *a: ok.set()
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.connect(broker.host, broker.port, keepalive=30, clean_start=True)
        c.loop_start()
        assert ok.wait(10), "no CONNACK"
        c.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        assert subscribed.wait(10), "no SUBACK"

    def _msg(self, client, userdata, m):
        user = dict(getattr(m.properties, "UserProperty", None) or [])
        with self.cond:
            self.heard.append((m.topic, bytes(m.payload), bool(m.retain), user))
            self.cond.notify_all()

    def wait(self, pred, timeout=20, since=0):
        """The first message heard (so far or within `timeout`; from heard[since] on) for which
        pred(message) holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.heard[since:]:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                assert left > 0, "nothing matched; heard %r" % [(t, p[:60], u) for t, p, _, u in self.heard[-10:]]
                self.cond.wait(left)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


# ----- a broker that suggests names, as EMQX may (mosquitto cannot add CONNACK user properties)

def _mqtt_str(s):
    s = s.encode()
    return len(s).to_bytes(2, "big") + s


# property id -> size of its value (-1: a string, -2: binary data, -3: a string pair, 0: a VBI)
_PROP_SIZES = {0x01: 1, 0x02: 4, 0x03: -1, 0x08: -1, 0x09: -2, 0x0B: 0, 0x11: 4, 0x12: -1, 0x13: 2, 0x15: -1,
               0x16: -2, 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: -1, 0x1C: -1, 0x1F: -1, 0x21: 2, 0x22: 2, 0x23: 2,
               0x24: 1, 0x25: 1, 0x26: -3, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}


def _user_props(b, i, end):
    """The user properties among the properties b[i:end]."""
    out = {}
    while i < end:
        k = b[i]
        i += 1
        size = _PROP_SIZES[k]
        if size == 0:
            _, i = read_vbi(b, i)
        elif size > 0:
            i += size
        else:
            strings = []
            for _ in range(2 if size == -3 else 1):
                n = int.from_bytes(b[i:i + 2], "big")
                strings.append(b[i + 2:i + 2 + n].decode())
                i += 2 + n
            if size == -3:
                out[strings[0]] = strings[1]
    return out


class SuggestingBroker:
    """A TCP proxy in front of a real broker (mosquitto) that adds user properties to the CONNACK
    of MCP components, as an EMQX broker may ("User Property"): `server_name(client_id)` gives the
    MCP-SERVER-NAME for an `mcp-server`, `filters` (a list) the MCP-SERVER-NAME-FILTERS for an
    `mcp-client`. `connects` records each CONNECT's client id and user properties."""

    def __init__(self, upstream, server_name=None, filters=None):
        self.upstream = upstream
        self.server_name = server_name
        self.filters = filters
        self.connects = []  # (client id, user properties dict)
        self.host = "127.0.0.1"
        self._ls = socket.socket()
        self._ls.bind((self.host, 0))
        self._ls.listen(64)
        self.port = self._ls.getsockname()[1]
        self.url = f"mqtt://{self.host}:{self.port}"
        self._socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def log(self):
        return self.upstream.log()

    def _accept(self):
        while True:
            try:
                down, _ = self._ls.accept()
            except OSError:
                return
            up = socket.create_connection((self.upstream.host, self.upstream.port))
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socks += [down, up]
            threading.Thread(target=self._client_side, args=(down, up), daemon=True).start()

    def _client_side(self, down, up):
        p = read_packet(down)
        if not p:
            return self._close(down, up)
        connect = p[1]
        i = 10  # protocol name, version, flags, keep alive
        plen, j = read_vbi(connect, i)
        user = _user_props(connect, j, j + plen)
        k = j + plen
        cid = connect[k + 2:k + 2 + int.from_bytes(connect[k:k + 2], "big")].decode()
        self.connects.append((cid, user))
        add = []
        kind = user.get("MCP-COMPONENT-TYPE")
        if kind == "mcp-server" and self.server_name:
            add.append(("MCP-SERVER-NAME", self.server_name(cid)))
        elif kind == "mcp-client" and self.filters is not None:
            add.append(("MCP-SERVER-NAME-FILTERS", json.dumps(self.filters)))
        up.sendall(packet(*p))
        threading.Thread(target=self._broker_side, args=(down, up, add), daemon=True).start()
        self._pipe(down, up)

    def _broker_side(self, down, up, add):
        p = read_packet(up)
        if not p:
            return self._close(down, up)
        connack = p[1]
        flags, reason = connack[0], connack[1]
        plen, j = read_vbi(connack, 2)
        props = connack[j:j + plen] + b"".join(b"\x26" + _mqtt_str(k) + _mqtt_str(v) for k, v in add)
        down.sendall(packet(0x20, bytes((flags, reason)) + vbi(len(props)) + props))
        self._pipe(up, down)

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        self._close(src, dst)

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self._ls.close()
        self._close(*self._socks)
