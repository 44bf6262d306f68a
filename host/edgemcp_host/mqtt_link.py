"""Devices on the broker (MCP over MQTT, the EMQX binding) joined to the bridge: found by their
retained presence, each reached through an MqttLink with the same interface as a serial
DeviceLink, and removed again when their presence is cleared.

An MqttLink is an MCP-over-MQTT client: per session a fresh MQTT client id (= mcp-client-id) with
a will on `$mcp-client/presence/{id}`, the RPC topic subscribed with No Local, `initialize` sent
on the server's control topic with the MCP-MQTT-CLIENT-ID user property, and the server's
capability topic followed for list-changed and resource-updated notifications.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from . import __version__
from .mqtt_present import BAD_LEVEL, CID, COMPONENT, _props, new_client
from .link import DeviceError, Link, LinkError
from .serial_link import PROTOCOL_VERSION

log = logging.getLogger("edgemcp.mqtt.link")

PRESENCE = "$mcp-server/presence/"
LINK_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


class _Pending:
    __slots__ = ("fut", "on_progress", "on_log", "touched")

    def __init__(self, fut, on_progress, on_log):
        self.fut = fut
        self.on_progress = on_progress
        self.on_log = on_log
        self.touched = False


class MqttTransport:
    kind = "mqtt"
    pid = None

    def __init__(self, url, sid, server_name):
        self.url = url
        self.sid = sid
        self.server_name = server_name

    def describe(self):
        return f"{self.url} {self.sid}/{self.server_name}"

    async def close(self):
        pass


class MqttLink(Link):
    """One MCP-over-MQTT server, shared by all clients of the bridge, like a serial DeviceLink."""

    def __init__(self, name, settings, sid, server_name, *, tls=None, **kw):
        super().__init__(name, MqttTransport(settings["url"], sid, server_name), **kw)
        self.settings = settings
        self.tls = tls or {}
        self.sid = sid
        self.server_name = server_name
        self._client = None
        self._subacks = {}
        tail = f"{sid}/{server_name}"
        self.control = "$mcp-server/" + tail
        self.capability = "$mcp-server/capability/" + tail

    # ----- lifecycle

    async def _shutdown(self):
        self._down("bridge shutting down")

    async def _supervise(self):
        while True:
            self._closed.clear()
            try:
                await self._session()
            except (LinkError, DeviceError, OSError, asyncio.TimeoutError) as e:
                self.last_error = str(e) or type(e).__name__
                log.warning("device %s: %s", self.name, self.last_error)
                self._down(self.last_error)
                await asyncio.sleep(self.retry_interval)
                continue
            self.state = "up"
            self.connects += 1
            self._ready.set()
            log.info("device %s up (%s)", self.name, self.transport.describe())
            self._emit("edgemcp/up", {"reconnect": self.connects > 1})
            await self._closed.wait()
            self._down(self.last_error or "broker connection closed")
            await asyncio.sleep(self.retry_interval)

    async def _session(self):
        self.cid = cid = uuid.uuid4().hex  # a fresh mcp-client-id per initialize, as the binding asks
        self.rpc = f"$mcp-rpc/{cid}/{self.sid}/{self.server_name}"
        bye = json.dumps({"jsonrpc": "2.0", "method": "notifications/disconnected"})
        c = self._client = new_client(self.settings, cid, will=(f"$mcp-client/presence/{cid}", bye, 1, False),
                                      connect_user=[(COMPONENT, "mcp-client")], **self.tls)
        connected = self._loop.create_future()

        def on_connect(client, userdata, flags, reason, props):
            self._loop.call_soon_threadsafe(lambda: connected.done() or connected.set_result(reason))

        def on_disconnect(client, userdata, flags, reason, props):
            self._loop.call_soon_threadsafe(self._lost, client, str(reason))

        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        c.on_message = lambda client, u, m: self._loop.call_soon_threadsafe(
            self._on_message, client, m.topic, m.payload)
        c.on_subscribe = lambda client, u, mid, reasons, p: self._loop.call_soon_threadsafe(
            self._on_suback, mid, reasons)
        try:
            await asyncio.to_thread(c.connect, self.settings["host"], self.settings["port"], 30,
                                    clean_start=True, properties=c.connect_props)
        except OSError as e:
            raise LinkError(f"cannot reach the broker at {self.settings['url']}: {e}") from e
        c.loop_start()
        reason = await asyncio.wait_for(connected, self.init_timeout)
        if reason.is_failure:
            raise LinkError(f"the broker refused the connection: {reason}")
        await self._subscribe(self.rpc, SubscribeOptions(qos=1, noLocal=True))
        await self._subscribe(self.capability, SubscribeOptions(qos=1))
        r = await self._request("initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "edgemcp-bridge", "version": __version__}}, self.init_timeout, topic=self.control)
        self.protocol_version = r.get("protocolVersion")
        self.server_info = r.get("serverInfo") or {}
        self.capabilities = r.get("capabilities") or {}
        self.instructions = r.get("instructions")
        self._publish(self.rpc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.tools = await self._list_all("tools/list", "tools", self.init_timeout) \
            if "tools" in self.capabilities else []

    def restart(self, why):
        """Start a new session (the server lost ours)."""
        if self.state == "up":
            self.last_error = why
            self._closed.set()

    def _lost(self, client, why):
        if client is self._client:
            self.last_error = f"broker connection lost ({why})"
            self._closed.set()

    def _down(self, why):
        was_up = self.state == "up"
        self.state = "down"
        self._ready.clear()
        c, self._client = self._client, None
        if c is not None:
            c.on_disconnect = None
            if c.is_connected():  # leave as a client should: the server ends our session
                c.publish(f"$mcp-client/presence/{self.cid}",
                          json.dumps({"jsonrpc": "2.0", "method": "notifications/disconnected"}), 1)
                c.disconnect()
            c.loop_stop()
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.fut.done():
                p.fut.set_exception(LinkError(f"device {self.name!r} disconnected ({why})"))
        if was_up:
            log.warning("device %s down: %s", self.name, why)
            self._emit("edgemcp/down", {"reason": why})

    # ----- the wire

    def _publish(self, topic, msg):
        c = self._client
        if c is None:
            raise LinkError(f"device {self.name!r} is not connected")
        c.publish(topic, json.dumps(msg, separators=(",", ":")), 1,
                  properties=_props(PacketTypes.PUBLISH, [(COMPONENT, "mcp-client"), (CID, self.cid)]))

    async def _subscribe(self, topic, options):
        r, mid = self._client.subscribe(topic, options=options)
        if r != paho.MQTT_ERR_SUCCESS:
            raise LinkError(f"subscribe to {topic} failed: {paho.error_string(r)}")
        fut = self._loop.create_future()
        self._subacks[mid] = fut
        reasons = await asyncio.wait_for(fut, self.init_timeout)
        if any(rc.is_failure for rc in reasons):
            raise LinkError(f"the broker refused the subscription to {topic}: {reasons}")

    def _on_suback(self, mid, reasons):
        fut = self._subacks.pop(mid, None)
        if fut and not fut.done():
            fut.set_result(reasons)

    def _on_message(self, client, topic, payload):
        if client is not self._client:
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            log.info("device %s: not JSON on %s: %.200r", self.name, topic, payload)
            return
        if not isinstance(msg, dict):
            return
        method = msg.get("method")
        if method is not None:
            params = msg.get("params") or {}
            if "id" in msg:
                self._publish(self.rpc, {"jsonrpc": "2.0", "id": msg["id"],
                                         "error": {"code": -32601, "message": "the bridge serves no requests"}})
            elif method == "notifications/progress":
                p = self._pending.get(params.get("progressToken"))
                if p is None:
                    self.stray += 1
                else:
                    p.touched = True
                    if p.on_progress:
                        asyncio.ensure_future(p.on_progress(params))
            elif method == "notifications/tools/list_changed":
                asyncio.ensure_future(self._refresh_tools())
            else:
                if method == "notifications/message":
                    for p in list(self._pending.values()):
                        if p.on_log:
                            asyncio.ensure_future(p.on_log(params))
                self._emit(method, params)
            return
        p = self._pending.pop(msg.get("id"), None)
        if p is None:
            self.stray += 1
            return
        if p.fut.done():
            return
        if isinstance(msg.get("error"), dict):
            p.fut.set_exception(DeviceError(msg["error"]))
        else:
            p.fut.set_result(msg.get("result") or {})

    # ----- requests

    async def _request(self, method, params, timeout, on_progress=None, on_log=None, topic=None):
        rid = next(self._ids)
        params = dict(params or {})
        if on_progress is not None:
            params["_meta"] = {"progressToken": rid}
        p = _Pending(self._loop.create_future(), on_progress, on_log)
        fut = p.fut
        self._pending[rid] = p
        try:
            self._publish(topic or self.rpc, {"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            while True:
                p.touched = False
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), timeout)
                except asyncio.TimeoutError:
                    if fut.done():
                        return fut.result()
                    if not p.touched:  # progress within the window restarts the clock
                        raise LinkError(f"device {self.name!r} did not answer {method} within {timeout:g} s") \
                            from None
        except BaseException:
            if self._pending.pop(rid, None) is not None and self._client is not None:
                try:
                    self._publish(self.rpc, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                             "params": {"requestId": rid, "reason": "cancelled by the client"}})
                except LinkError:
                    pass
            if not fut.done():
                fut.cancel()
            raise

    def notify(self, method, params=None):
        if self.state == "up":
            self._publish(self.rpc, {"jsonrpc": "2.0", "method": method, "params": params or {}})

    def info(self):
        return dict(super().info(), server_id=self.sid, server_name=self.server_name)


# ----- the bridge side: joining and leaving

LIST_CHANGED = ("notifications/tools/list_changed", "notifications/resources/list_changed",
                "notifications/prompts/list_changed")


def join(bridge, link):
    """Adds a link to a running Bridge; its clients hear that the lists changed once it is up."""
    def first_up(lk, method, params):
        if method == "edgemcp/up" and not params.get("reconnect"):  # the bridge announces reconnects
            for m in LIST_CHANGED:
                bridge._on_device_event(lk, m, {})

    bridge.links[link.name] = link
    link.listeners.append(bridge._on_device_event)
    link.listeners.append(first_up)


def leave(bridge, name):
    link = bridge.links.pop(name, None)
    if link is not None:
        for m in LIST_CHANGED:
            bridge._on_device_event(link, m, {})
    return link


class Discovery:
    """Follows `$mcp-server/presence/+/{filter}` and keeps one MqttLink per online server."""

    def __init__(self, bridge, settings, server_filter="edgemcp/#", skip=lambda sid: False, timeout=60.0, tls=None):
        self.tls = tls or {}
        self.bridge = bridge
        self.settings = settings
        self.filter = server_filter
        self.skip = skip
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.links = {}  # server-id -> MqttLink
        self.client = None

    async def start(self):
        self.client = c = new_client(self.settings, f"edgemcp-bridge-watch-{uuid.uuid4().hex[:8]}", **self.tls)
        topic = PRESENCE + "+/" + self.filter

        def on_connect(client, userdata, flags, reason, props):
            if not reason.is_failure:  # session expiry 0: subscribe again after every reconnect
                client.subscribe(topic, options=SubscribeOptions(qos=1))

        c.on_connect = on_connect
        c.on_message = lambda client, u, m: self.loop.call_soon_threadsafe(self._presence, m.topic, m.payload)
        c.connect_async(self.settings["host"], self.settings["port"], 30, clean_start=True)
        c.loop_start()
        return self

    def _link_name(self, sid, server_name):
        base = LINK_NAME_BAD.sub("_", server_name.rsplit("/", 1)[-1])[:24] or "mqtt"
        name = base
        if name in self.bridge.links:
            name = f"{base}-{LINK_NAME_BAD.sub('_', sid)[:7]}"
        return name

    def _presence(self, topic, payload):
        sid, _, server_name = topic[len(PRESENCE):].partition("/")
        if self.skip(sid) or BAD_LEVEL.search(sid):
            return
        old = self.links.get(sid)
        if not payload:  # cleared: the server is gone
            if old is not None:
                del self.links[sid]
                log.info("MQTT device %s (%s/%s) left", old.name, sid, server_name)
                leave(self.bridge, old.name)
                asyncio.ensure_future(old.stop())
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or msg.get("method") != "notifications/server/online":
            log.info("presence of %s/%s is not a server/online notification: ignored", sid, server_name)
            return
        if old is not None and old.server_name == server_name:
            old.restart("the server announced itself again (it reconnected and forgot its sessions)")
            return
        if old is not None:
            leave(self.bridge, old.name)
            asyncio.ensure_future(old.stop())
        link = MqttLink(self._link_name(sid, server_name), self.settings, sid, server_name, timeout=self.timeout,
                        tls=self.tls)
        self.links[sid] = link
        join(self.bridge, link)
        log.info("MQTT device %s/%s joins as %s", sid, server_name, link.name)
        asyncio.ensure_future(link.start(wait=False))

    async def stop(self):
        if self.client is not None:
            self.client.disconnect()
            await asyncio.to_thread(self.client.loop_stop)
        await asyncio.gather(*(link.stop() for link in self.links.values()), return_exceptions=True)
        for link in self.links.values():
            self.bridge.links.pop(link.name, None)
        self.links.clear()

