"""Serial devices presented on an MQTT broker as MCP-over-MQTT servers (the EMQX binding, as
DESIGN.md pins it), so MQTT clients reach a USB-only device as if it spoke MQTT itself.

Per device: its own MQTT connection with client id = server-id = the device id and an empty
retained will on its presence topic; a retained `notifications/server/online` while the serial
link is up; `initialize` taken on `$mcp-server/{server-id}/{server-name}` (the client's id in the
MCP-MQTT-CLIENT-ID user property), answered after subscribing to the client's topics; requests
on `$mcp-rpc/{client}/{server-id}/{server-name}` relayed to the device link, responses and
progress back there; list-changed and resource-updated notifications on
`$mcp-server/capability/{server-id}/{server-name}`; what the client sends on its capability
topic goes to its session like its RPC messages; the client's presence message (its will) ends
its session and cancels its work on the device.
"""
from __future__ import annotations

import asyncio
import json
import logging

from paho.mqtt.subscribeoptions import SubscribeOptions

from . import __version__, broker
from .events_relay import device_id
from .link import DeviceError, LinkError
from .protocol import (COMPONENT_SERVER, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, PROP_CLIENT_ID,
                       PROP_COMPONENT, PROP_META, PROP_SERVER_NAME, VERSIONS, ServerTopics, client_capability,
                       client_of, client_presence, server_name, usable_server_name, valid_client_id)

log = logging.getLogger("edgemcp.mqtt.present")


class _Session:
    def __init__(self, cid, rpc):
        self.cid = cid
        self.rpc = rpc
        self.tasks = {}  # client's request id -> task


class Presented:
    """One serial device on the broker."""

    def __init__(self, link, settings, opts, loop):
        self.link = link
        self.settings = settings
        self.opts = opts
        self.loop = loop
        self.client = None
        self._subs = None  # broker.Subscriptions of the client
        self.sid = self.name = None
        self.suggested = None  # the server-name the broker gave in its CONNACK (MCP-SERVER-NAME)
        self._stopping = None  # the replaced client's loop being stopped
        self.topics = None  # protocol.ServerTopics
        self.sessions = {}  # mcp-client-id -> _Session
        self.online = False
        self.connected = False

    # ----- lifecycle (asyncio thread)

    async def up(self):
        """The serial link is (again) up: connect on the device's behalf, announce it."""
        did = await device_id(self.link)
        info = await self.link.request("tools/call", {"name": "device_info", "arguments": {}})
        sc = info.get("structuredContent") or {}
        # the device's own rule (firmware mqtt_link.py): the default name gives way to the id
        name = server_name(str(sc.get("platform") or "board"), str(sc.get("name") or self.link.name), did)
        if did != self.sid:
            self.suggested = None  # another device: the broker names it anew
        name = self.suggested or name
        if self.client is not None and (did, name) != (self.sid, self.name):
            await self.close()  # another device on this port now
        self.sid, self.name = did, name
        if await self._has_own_broker():
            # It is on a broker itself, as MQTT client `did`: a second connection with that
            # client id would take over its own, and the two would throw each other off.
            log.info("device %s speaks MQTT itself: not presented by the bridge", self.link.name)
            await self.close()
            return
        self.topics = ServerTopics(did, name)
        self.online = True
        if self.client is None:
            self._connect()
        elif self.connected:
            self._announce()

    def _user(self):
        # on every PUBLISH (the will and the presence clears too), as "User Property" asks
        return [(PROP_COMPONENT, COMPONENT_SERVER), (PROP_CLIENT_ID, self.sid)]

    def _connect(self):
        meta = json.dumps({"implementation": "edgemcp-bridge", "version": __version__, "via": "serial"})
        c = self.client = broker.new_client(
            self.settings, self.sid, will=(self.topics.presence, b"", 1, True, self._user()),
            connect_user=[(PROP_COMPONENT, COMPONENT_SERVER), (PROP_META, meta)],
            cafile=self.opts.get("cafile"), insecure=self.opts.get("insecure"))
        self._subs = broker.Subscriptions(c, self.loop)
        c.on_connect = self._on_connect_thread
        c.on_disconnect = self._on_disconnect_thread
        c.on_message = self._on_message_thread
        c.connect_async(self.settings["host"], self.settings["port"], keepalive=30, clean_start=True,
                        properties=c.connect_props)
        c.loop_start()

    async def _has_own_broker(self):
        try:
            r = await self.link.request("resources/read", {"uri": "device://config"})
            cfg = json.loads((r.get("contents") or [{}])[0].get("text") or "{}")
            return bool((cfg.get("mqtt") or {}).get("url"))
        except (DeviceError, ValueError, AttributeError, TypeError):
            return False

    def down(self):
        """The serial link went down: the device is not offered while it is away."""
        self.online = False
        if self.client is not None and self.connected:
            self.client.publish(self.topics.presence, b"", 1, True, properties=broker.props(self._user()))

    async def close(self):
        c, self.client = self.client, None
        for cid in list(self.sessions):
            self._end(cid)
        if c is None:
            return
        if self.connected:
            # cleared before leaving, as the binding asks
            info = c.publish(self.topics.presence, b"", 1, True, properties=broker.props(self._user()))
            await asyncio.to_thread(info.wait_for_publish, 3)
        c.disconnect()
        await asyncio.to_thread(c.loop_stop)
        self.connected = False

    def _announce(self):
        if not self.online:
            return
        tools = ", ".join(t.get("name", "?") for t in self.link.tools)
        online = {"jsonrpc": "2.0", "method": "notifications/server/online", "params": {
            "server_name": self.name,
            "description": f"edgemcp device {self.sid} (serial, via the edgemcp bridge); tools: {tools}"}}
        self._publish(self.topics.presence, online, retain=True)

    def _publish(self, topic, msg, retain=False):
        if self.client is None:
            return
        self.client.publish(topic, json.dumps(msg, separators=(",", ":")), 1, retain,
                            properties=broker.props(self._user()))

    # ----- paho's thread: hand everything to the loop

    def _on_connect_thread(self, client, userdata, flags, reason, props):
        self.loop.call_soon_threadsafe(self._on_connect, client, reason, broker.user_of(props))

    def _on_disconnect_thread(self, client, userdata, flags, reason, props):
        self.loop.call_soon_threadsafe(self._on_disconnect, client)

    def _on_message_thread(self, client, userdata, msg):
        self.loop.call_soon_threadsafe(self._on_message, client, msg.topic, msg.payload, msg.properties)

    # ----- broker events (asyncio thread)

    def _on_connect(self, client, reason, user):
        if client is not self.client:
            return
        if reason.is_failure:
            log.warning("device %s: the broker refused its presence connection: %s", self.link.name, reason)
            return
        v = user.get(PROP_SERVER_NAME)
        if usable_server_name(v) and v != self.name:
            # The broker names the server ("Terminology": MUST use it). The will names the old
            # presence topic: connect again with the new one before announcing anything.
            log.info("device %s: the broker names it %s (was %s)", self.link.name, v, self.name)
            self.suggested = self.name = v
            self.topics = ServerTopics(self.sid, v)
            self.client = None
            client.disconnect()
            self._stopping = self.loop.create_task(asyncio.to_thread(client.loop_stop))  # kept: not collected
            self._connect()
            return
        self.connected = True
        client.subscribe(self.topics.control, options=SubscribeOptions(qos=1))
        self._announce()
        log.info("device %s presented on the broker as %s (server-id %s)", self.link.name, self.name, self.sid)

    def _on_disconnect(self, client):
        if client is not self.client:
            return
        self.connected = False
        for cid in list(self.sessions):  # session expiry 0: the broker forgot the clients' topics
            self._end(cid, unsubscribe=False)

    def _on_message(self, client, topic, payload, props):
        if client is not self.client:
            return
        if topic == self.topics.control:
            cid = broker.user_of(props).get(PROP_CLIENT_ID)
            if not valid_client_id(cid):
                log.warning("device %s: initialize without a usable %s user property dropped", self.link.name,
                            PROP_CLIENT_ID)
                return
            self.loop.create_task(self._initialize(cid, payload))
            return
        kind, cid = client_of(topic)
        if kind == "presence":
            self._end(cid)
        elif kind is not None:  # its RPC topic, or its capability topic (roots list changed)
            s = self.sessions.get(cid)
            if s is not None:
                self._rpc(s, payload)

    async def _initialize(self, cid, payload):
        try:
            msg = json.loads(payload)
        except ValueError:
            log.warning("device %s: initialize from %s is not JSON", self.link.name, cid)
            return
        if not isinstance(msg, dict) or msg.get("method") != "initialize" or "id" not in msg:
            return
        old = self.sessions.pop(cid, None)
        if old:
            self._cancel(old)
        rpc = self.topics.rpc(cid)
        try:  # the binding: subscribe to the client's topics before answering
            await self._subs.subscribe(client_presence(cid), SubscribeOptions(qos=1))
            await self._subs.subscribe(client_capability(cid), SubscribeOptions(qos=1))
            await self._subs.subscribe(rpc, SubscribeOptions(qos=1, noLocal=True))
        except (broker.BrokerError, asyncio.TimeoutError) as e:
            log.warning("device %s: cannot serve MQTT client %s: %s", self.link.name, cid, e)
            return
        s = self.sessions[cid] = _Session(cid, rpc)
        if self.link.state != "up":
            self._error(s, msg["id"], INTERNAL_ERROR, f"device {self.link.name!r} is not connected")
            return
        asked = (msg.get("params") or {}).get("protocolVersion")
        result = {"protocolVersion": asked if asked in VERSIONS else self.link.protocol_version,
                  "capabilities": self.link.capabilities,
                  "serverInfo": self.link.server_info or {"name": self.name, "version": __version__}}
        if self.link.instructions:
            result["instructions"] = self.link.instructions
        self._publish(rpc, {"jsonrpc": "2.0", "id": msg["id"], "result": result})

    def _end(self, cid, unsubscribe=True):
        s = self.sessions.pop(cid, None)
        if s is None:
            return
        self._cancel(s)
        if unsubscribe and self.client is not None and self.connected:
            self.client.unsubscribe([client_presence(cid), client_capability(cid), s.rpc])

    @staticmethod
    def _cancel(s):
        for t in s.tasks.values():
            t.cancel()
        s.tasks.clear()

    def _error(self, s, rid, code, message, data=None):
        err = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        self._publish(s.rpc, {"jsonrpc": "2.0", "id": rid, "error": err})

    def _rpc(self, s, payload):
        try:
            msg = json.loads(payload)
        except ValueError:
            self._error(s, None, PARSE_ERROR, "parse error: not JSON")
            return
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            self._error(s, None, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
            return
        method = msg.get("method")
        if method is None:
            return  # a response: the device asks clients nothing through the bridge
        params = msg.get("params") or {}
        if "id" not in msg:
            if method == "notifications/cancelled":
                t = s.tasks.pop(params.get("requestId"), None)
                if t:
                    t.cancel()  # the link tells the device to stop
            elif method == "notifications/disconnected":
                self._end(s.cid)
            return
        if not isinstance(params, dict):
            self._error(s, msg["id"], INVALID_PARAMS, "params must be an object")
            return
        t = self.loop.create_task(self._relay(s, msg["id"], method, params))
        s.tasks[msg["id"]] = t
        t.add_done_callback(lambda _t, rid=msg["id"]: s.tasks.pop(rid, None) if s.tasks.get(rid) is _t else None)

    async def _relay(self, s, rid, method, params):
        if method == "ping":
            self._publish(s.rpc, {"jsonrpc": "2.0", "id": rid, "result": {}})
            return
        params = dict(params)
        meta = params.pop("_meta", None) or {}
        token = meta.get("progressToken")
        on_progress = None
        if token is not None:
            async def on_progress(p):
                self._publish(s.rpc, {"jsonrpc": "2.0", "method": "notifications/progress",
                                      "params": dict(p, progressToken=token)})
        try:
            result = await self.link.request(method, params, on_progress=on_progress)
        except DeviceError as e:
            self._error(s, rid, e.code, e.message, e.data)
        except LinkError as e:
            self._error(s, rid, e.code, str(e))
        else:
            self._publish(s.rpc, {"jsonrpc": "2.0", "id": rid, "result": result})

    # ----- device notifications (from the link's listeners)

    def device_event(self, method, params):
        if not self.connected:
            return
        if method.endswith("/list_changed") or method == "notifications/resources/updated":
            self._publish(self.topics.capability, {"jsonrpc": "2.0", "method": method, "params": params})
        elif method == "notifications/message":
            for s in self.sessions.values():
                self._publish(s.rpc, {"jsonrpc": "2.0", "method": method, "params": params})


class Presenter:
    """Presents every attached serial link on the broker."""

    def __init__(self, settings, cafile=None, insecure=False):
        self.settings = settings
        self.opts = {"cafile": cafile, "insecure": insecure}
        self.loop = asyncio.get_running_loop()
        self.devices = {}  # link name -> Presented
        self._tasks = set()

    def attach(self, link):
        p = self.devices[link.name] = Presented(link, self.settings, self.opts, self.loop)
        link.listeners.append(self._on_link_event)
        if link.state == "up":
            return self._spawn(self._up(p))

    def _spawn(self, coro):
        t = self.loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def _up(self, p):
        try:
            await p.up()
        except (LinkError, DeviceError) as e:
            log.warning("device %s: not presented on the broker: %s", p.link.name, e)

    def _on_link_event(self, link, method, params):
        p = self.devices.get(link.name)
        if p is None:
            return
        if method == "edgemcp/up":
            self._spawn(self._up(p))
        elif method == "edgemcp/down":
            p.down()
        else:
            p.device_event(method, params)

    async def stop(self):
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*(p.close() for p in self.devices.values()), return_exceptions=True)


def from_args(args):
    """A Presenter with the bridge's --mqtt* settings."""
    s = broker.settings(args.mqtt or None, args.mqtt_username, args.mqtt_password)
    return Presenter(s, args.mqtt_cafile, args.mqtt_insecure)
