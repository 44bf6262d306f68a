# MCP over MQTT: the device as an MCP server on a broker, following the EMQX binding
# (mqtt-ai/mcp-over-mqtt, specification/2025-03-26/basic/mqtt_transport.md). One server
# session per MCP client; sessions end with the client's presence message or our connection.
import sys
import json
import asyncio
from . import server, mqtt, registry, forward
from .server import log

# The binding's topics (a prefix, then the ids) and user properties.
SERVER_PRESENCE = "$mcp-server/presence/"
SERVER_CONTROL = "$mcp-server/"
SERVER_CAPABILITY = "$mcp-server/capability/"
CLIENT_PRESENCE = "$mcp-client/presence/"
CLIENT_CAPABILITY = "$mcp-client/capability/"
RPC = "$mcp-rpc/"
PROP_CLIENT_ID = "MCP-MQTT-CLIENT-ID"
PROP_COMPONENT = "MCP-COMPONENT-TYPE"
PROP_META = "MCP-META"
PROP_SERVER_NAME = "MCP-SERVER-NAME"  # in CONNACK: the broker names us
DEFAULT_NAME = "edgemcp"  # config.py's default device name: the server-name then takes the device id
DISCONNECTED = '{"jsonrpc":"2.0","method":"notifications/disconnected"}'


def valid_client_id(s):
    # an MCP client id is one topic level: no separator, no wildcard, no NUL
    return isinstance(s, str) and s != "" and "/" not in s and "+" not in s and "#" not in s and "\x00" not in s


def _clean(s):
    # a topic level: no wildcards, no separators
    return s.replace("/", "_").replace("+", "_").replace("#", "_") or "_"


class Link:
    def __init__(self, mcfg, name, max_message, version):
        import binascii
        import machine
        did = binascii.hexlify(machine.unique_id()).decode()
        self.sid = sid = _clean(mcfg.get("client_id") or did)  # server-id is our MQTT client id
        self.events = "edgemcp/%s/events" % did
        self._drain = None
        # server-names must be unique: a device left with the default name is named by its id
        self._name("edgemcp/%s/%s" % (_clean(sys.platform), _clean(did if name == DEFAULT_NAME else name)))
        ca = mcfg.get("ca")
        if ca:
            with open(ca, "rb") as f:
                ca = f.read()
        meta = json.dumps({"implementation": "edgemcp", "version": version, "platform": sys.platform})
        pub = [(PROP_COMPONENT, "mcp-server"), (PROP_CLIENT_ID, sid)]  # on every PUBLISH, the will too
        c = self.client = mqtt.Client(
            mcfg["url"], client_id=sid, username=mcfg.get("username"), password=mcfg.get("password"),
            keepalive=mcfg.get("keepalive", 60), will=(self.presence, b"", 1, True, None, pub),
            user=[(PROP_COMPONENT, "mcp-server"), (PROP_META, meta)], pub_user=pub,
            max_packet=mcfg.get("max_packet", max_message + 512), ca=ca,
            backoff=(mcfg.get("backoff_min_ms", 500), mcfg.get("backoff_max_ms", 60000)))
        c.on_message = self._message
        c.on_connect = self._up
        c.on_disconnect = self._down
        c.on_error = self._error
        self._said = None
        self.sessions = {}  # mcp-client-id -> server session
        self.order = []  # client ids, oldest first: a client that left without a word is dropped first
        self.max_clients = mcfg.get("max_clients", 8)
        self.out = []  # (topic, message) waiting to be published
        self.max_out = mcfg.get("max_queue", 32)
        self._ev = asyncio.Event()
        self._tasks = ()

    def _name(self, name):
        self.name = name
        self.tail = self.sid + "/" + name
        self.presence = SERVER_PRESENCE + self.tail
        self.control = SERVER_CONTROL + self.tail
        self.cap = SERVER_CAPABILITY + self.tail

    def start(self):
        self.client.subs[self.control] = 1  # QoS 1, subscribed on every connect
        self._tasks = (asyncio.create_task(self.client.run()), asyncio.create_task(self._sender()))
        return self

    async def close(self):
        # Clear the presence (retained) before leaving, as the binding asks.
        if self.client.connected:
            try:
                await asyncio.wait_for_ms(self.client.publish(self.presence, b"", 1, True), 2000)
            except Exception:
                pass
        await self.client.disconnect()
        self._down()
        for t in self._tasks:
            t.cancel()

    async def _up(self):
        c = self.client
        for k, v in (c.connack or {}).get(mqtt.USER, ()):
            if k == PROP_SERVER_NAME and v != self.name and "+" not in v and "#" not in v and v:
                # The broker names us (the binding's MUST). Our will still clears the old name's
                # presence, so connect again with the new one before announcing anything.
                del c.subs[self.control]
                self._name(v)
                c.will = (self.presence,) + c.will[1:]
                c.subs[self.control] = 1
                raise mqtt.MQTTError(0, "server name %s set by the broker: reconnecting" % v)
        names = ", ".join(t.desc["name"] for t in registry.TOOLS)
        online = {"jsonrpc": "2.0", "method": "notifications/server/online", "params": {
            "server_name": self.name,
            "description": "edgemcp device %s; tools: %s" % (self.sid, names)}}
        await self.client.publish(self.presence, json.dumps(online), 1, True, keep=False)
        self._said = None
        log("info", "MQTT link up: %s on %s:%d" % (self.name, self.client.host, self.client.port))
        # queued events go out now, oldest first, each acked after its PUBACK
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(forward.drain(self._deliver))

    async def _deliver(self, seq, rec):
        await self.client.publish(self.events, rec, 1, False, keep=False)

    def _error(self, e):
        # Logged once per distinct error: a broker that stays away does not flood the log.
        r = repr(e)
        if r != self._said:
            self._said = r
            log("warning", "MQTT link to %s:%d: %s" % (self.client.host, self.client.port, r))

    def _down(self):
        # Session expiry 0: the broker forgot the clients' topics and they saw our will.
        for cid in list(self.sessions):
            self._end(cid)
        self.out.clear()
        if self._drain:
            self._drain.cancel()
            self._drain = None

    def _topics(self, cid):
        return (CLIENT_CAPABILITY + cid, CLIENT_PRESENCE + cid, RPC + cid + "/" + self.tail)

    def _end(self, cid, unsub=True, tell=False):
        # tell: we end the session ourselves, so the client hears "disconnected" on its RPC
        # topic first (the binding's "Server Disconnect")
        s = self.sessions.pop(cid, None)
        if s is None:
            return
        server.close_session(s)
        self.order.remove(cid)
        if not unsub:  # the same client initializes again: keep its subscriptions
            return
        t = self._topics(cid)
        for x in t:
            self.client.subs.pop(x, None)
        if self.client.connected:
            asyncio.create_task(self._unsub(t, tell))

    async def _unsub(self, t, tell):
        try:
            if tell:
                await self.client.publish(t[2], DISCONNECTED, 1, keep=False, wait=False)
            await self.client.unsubscribe(t)
        except mqtt.MQTTError:
            pass

    def _message(self, topic, payload, props, retain):
        if topic == self.control:
            cid = None
            for k, v in (props or {}).get(mqtt.USER, ()):
                if k == PROP_CLIENT_ID:
                    cid = v
            if not valid_client_id(cid):
                log("warning", "MCP over MQTT: initialize without a valid %s user property" % PROP_CLIENT_ID)
                return
            asyncio.create_task(self._init(cid, bytes(payload)))
            return
        if topic.startswith(CLIENT_PRESENCE):  # the client left
            if not len(payload) or b"disconnected" in bytes(payload):
                self._end(topic[len(CLIENT_PRESENCE):])
            return
        if topic.startswith(CLIENT_CAPABILITY):  # the client's capabilities changed
            s = self.sessions.get(topic[len(CLIENT_CAPABILITY):])
            if s:
                server.receive(s, payload)
            return
        if not topic.startswith(RPC):
            return
        cid = topic[len(RPC):].split("/", 1)[0]
        s = self.sessions.get(cid)
        if s is None:
            return
        if len(payload) < 200 and b'"notifications/disconnected"' in bytes(payload):
            self._end(cid)
        else:
            server.receive(s, payload)

    async def _init(self, cid, data):
        # The binding: subscribe to the client's topics before answering its initialize.
        self._end(cid, False)
        while len(self.sessions) >= self.max_clients:
            self._end(self.order[0], tell=True)  # the oldest session makes room
        cap, pres, rpc = self._topics(cid)
        try:
            await self.client.subscribe((cap, pres), 1)
            await self.client.subscribe(rpc, 1, no_local=True)
        except mqtt.MQTTError as e:
            log("warning", "MCP over MQTT: cannot subscribe for client %s: %s" % (cid, e))
            return
        if cid in self.sessions:  # initialized twice at once: the later one wins
            self._end(cid, False)
        s = self.sessions[cid] = server.open_session(lambda b: self._send(rpc, b))
        self.order.append(cid)
        server.receive(s, data)

    def _send(self, topic, b):
        # Never blocks: queued for the sender. List-changed and resource-updated notifications
        # go once to the capability topic, however many sessions the server told.
        if len(b) < 300 and isinstance(b, str) and '"id"' not in b and ("list_changed" in b or "resources/updated" in b):
            try:
                m = json.loads(b).get("method", "")
            except ValueError:
                m = ""
            if m.endswith("/list_changed") or m == "notifications/resources/updated":
                topic = self.cap
                if (topic, b) in self.out:
                    return
        if len(self.out) >= self.max_out:
            return  # dropped: the sender is that far behind
        self.out.append((topic, b))
        self._ev.set()

    async def _sender(self):
        c = self.client
        while True:
            await self._ev.wait()
            self._ev.clear()
            while self.out:
                t, b = self.out.pop(0)
                try:
                    await c.publish(t, b, 1, keep=False, wait=False)
                except mqtt.MQTTError as e:  # down (its sessions end) or over the broker's size: dropped
                    c.last_error = e


def start(cfg, version):
    """Start the MQTT link from the app's config (cfg["mqtt"]["url"] set); None if unusable."""
    try:
        return Link(cfg["mqtt"], cfg["name"], cfg["max_line"], version).start()
    except (ValueError, OSError, KeyError, TypeError) as e:
        log("error", "MQTT link not started: %r" % e)
        return None
