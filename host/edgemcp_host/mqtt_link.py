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

from paho.mqtt.subscribeoptions import SubscribeOptions

from . import __version__, broker
from .fleet import FLEET
from .link import DeviceError, Link, LinkError
from .protocol import (COMPONENT_CLIENT, DISCONNECTED, PROP_CLIENT_ID, PROP_COMPONENT, PROP_META,
                       PROP_SERVER_NAME_FILTERS, SERVER_PRESENCE, ServerTopics, client_presence, name_filters,
                       split_presence, valid_client_id)

log = logging.getLogger("edgemcp.mqtt.link")

LINK_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


def client_connect_user(role):
    """The CONNECT user properties of the bridge's MCP-client connections ("User Property")."""
    meta = json.dumps({"implementation": "edgemcp-bridge", "version": __version__, "role": role})
    return [(PROP_COMPONENT, COMPONENT_CLIENT), (PROP_META, meta)]


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
    """One MCP-over-MQTT server, shared by all clients of the bridge, like a serial DeviceLink
    (see Link); its messages travel on the session's RPC topic, initialize on the server's
    control topic."""

    def __init__(self, name, settings, sid, server_name, *, tls=None, **kw):
        super().__init__(name, MqttTransport(settings["url"], sid, server_name), **kw)
        self.settings = settings
        self.tls = tls or {}
        self.sid = sid
        self.server_name = server_name
        self.topics = ServerTopics(sid, server_name)
        self._client = None
        self.cid = self.rpc = None
        self.on_offline = None  # called (link) when the server ends our session itself

    # ----- lifecycle

    async def _shutdown(self):
        self._down("bridge shutting down")

    async def _supervise(self):
        while True:
            self._closed.clear()
            try:
                await self._session()
            except (LinkError, DeviceError, OSError, asyncio.TimeoutError, broker.BrokerError) as e:
                self.last_error = str(e) or type(e).__name__
                log.warning("device %s: %s", self.name, self.last_error)
                self._down(self.last_error)
                await asyncio.sleep(self.retry_interval)
                continue
            self._up()
            await self._closed.wait()
            self._down(self.last_error or "broker connection closed")
            await asyncio.sleep(self.retry_interval)

    async def _session(self):
        self.cid = cid = uuid.uuid4().hex  # a fresh mcp-client-id per initialize, as the binding asks
        self.rpc = self.topics.rpc(cid)
        c = self._client = broker.new_client(self.settings, cid,
                                             will=(client_presence(cid), DISCONNECTED, 1, False, self._user()),
                                             connect_user=client_connect_user("session"), **self.tls)
        subs = broker.Subscriptions(c, self._loop, self.init_timeout)
        connected = self._loop.create_future()

        def on_connect(client, userdata, flags, reason, props):
            self._loop.call_soon_threadsafe(lambda: connected.done() or connected.set_result(reason))

        def on_disconnect(client, userdata, flags, reason, props):
            self._loop.call_soon_threadsafe(self._lost, client, str(reason))

        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        c.on_message = lambda client, u, m: self._loop.call_soon_threadsafe(
            self._on_publish, client, m.topic, m.payload)
        try:
            await asyncio.to_thread(c.connect, self.settings["host"], self.settings["port"], 30,
                                    clean_start=True, properties=c.connect_props)
        except OSError as e:
            raise LinkError(f"cannot reach the broker at {self.settings['url']}: {e}") from e
        c.loop_start()
        reason = await asyncio.wait_for(connected, self.init_timeout)
        if reason.is_failure:
            raise LinkError(f"the broker refused the connection: {reason}")
        await subs.subscribe(self.rpc, SubscribeOptions(qos=1, noLocal=True))
        await subs.subscribe(self.topics.capability, SubscribeOptions(qos=1))
        await self._initialize()

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
        c, self._client = self._client, None
        if c is not None:
            c.on_disconnect = None
            if c.is_connected():  # leave as a client should: the server ends our session
                c.publish(client_presence(self.cid), DISCONNECTED, 1, properties=broker.props(self._user()))
                c.disconnect()
            c.loop_stop()
        self._mark_down(why)

    # ----- the wire

    def _connected(self):
        return self._client is not None

    def _user(self):
        # on every PUBLISH, the will and the goodbye too ("User Property")
        return [(PROP_COMPONENT, COMPONENT_CLIENT), (PROP_CLIENT_ID, self.cid)]

    def _send(self, msg, control=False):
        c = self._client
        if c is None:
            raise LinkError(f"device {self.name!r} is not connected")
        c.publish(self.topics.control if control else self.rpc, json.dumps(msg, separators=(",", ":")), 1,
                  properties=broker.props(self._user()))

    def _on_publish(self, client, topic, payload):
        if client is not self._client:
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            log.info("device %s: not JSON on %s: %.200r", self.name, topic, payload)
            return
        if not isinstance(msg, dict):
            return
        if topic == self.rpc and msg.get("method") == "notifications/disconnected" and "id" not in msg:
            self._server_left(client)
            return
        self._on_message(msg)

    def _server_left(self, client):
        """The server de-initialized us ("Server Disconnect"): it is offline for this client,
        whose two topics of it are unsubscribed; the link's requests fail now, not at their
        timeout."""
        log.info("device %s: the server ended our session (notifications/disconnected)", self.name)
        client.unsubscribe([self.rpc, self.topics.capability])
        self.last_error = "the server ended the session (notifications/disconnected)"
        self._mark_down(self.last_error)
        if self.on_offline is not None:
            self.on_offline(self)
        else:  # on its own: a new session after the retry interval
            self._closed.set()

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
        self.filters = [server_filter]  # the broker's MCP-SERVER-NAME-FILTERS replace it
        self.rejoin_after = 5.0  # s before a server that ended our session is looked at again

    async def start(self):
        self.client = c = broker.new_client(self.settings, f"edgemcp-bridge-watch-{uuid.uuid4().hex[:8]}",
                                            connect_user=client_connect_user("discovery"), **self.tls)

        def on_connect(client, userdata, flags, reason, props):
            if reason.is_failure:
                return
            suggested = broker.user_of(props).get(PROP_SERVER_NAME_FILTERS)
            if suggested is not None:  # "Terminology": the client MUST use the broker's filters
                fs = name_filters(suggested)
                if fs is None:
                    log.warning("the broker's %s is not a JSON list of topic filters: %.200r",
                                PROP_SERVER_NAME_FILTERS, suggested)
                else:
                    if fs != self.filters:
                        log.info("server-name filters from the broker: %s (instead of %s)", fs, self.filters)
                    self.filters = fs
            # session expiry 0: subscribe again after every reconnect
            client.subscribe(self._subscriptions())

        c.on_connect = on_connect
        c.on_message = lambda client, u, m: self.loop.call_soon_threadsafe(self._presence, m.topic, m.payload,
                                                                            m.retain)
        c.connect_async(self.settings["host"], self.settings["port"], 30, clean_start=True, properties=c.connect_props)
        c.loop_start()
        return self

    def _subscriptions(self):
        return [(SERVER_PRESENCE + "+/" + f, SubscribeOptions(qos=1)) for f in self.filters]

    def _offline(self, link):
        """The server ended our session: it is forgotten like a cleared presence, and its retained
        presence looked at again after `rejoin_after` (a subscription brings it anew)."""
        if self.links.get(link.sid) is not link:
            return
        del self.links[link.sid]
        leave(self.bridge, link.name)
        asyncio.ensure_future(link.stop())
        self.loop.call_later(self.rejoin_after, self._resubscribe)

    def _resubscribe(self):
        if self.client is not None and self.client.is_connected():
            self.client.subscribe(self._subscriptions())

    def _link_name(self, sid, server_name):
        base = LINK_NAME_BAD.sub("_", server_name.rsplit("/", 1)[-1])[:24] or "mqtt"
        name = base
        if name in self.bridge.links or name == FLEET:  # "fleet" is the fleet endpoint's
            name = f"{base}-{LINK_NAME_BAD.sub('_', sid)[:7]}"
        return name

    def _presence(self, topic, payload, retain=False):
        sid, server_name = split_presence(topic)
        if self.skip(sid) or not valid_client_id(sid):  # a server-id follows the client-id rule
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
            if not retain:  # a retained copy is what we knew already (a subscription made again)
                old.restart("the server announced itself again (it reconnected and forgot its sessions)")
            return
        if old is not None:
            leave(self.bridge, old.name)
            asyncio.ensure_future(old.stop())
        link = MqttLink(self._link_name(sid, server_name), self.settings, sid, server_name, timeout=self.timeout,
                        tls=self.tls)
        link.on_offline = self._offline
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

