"""Serial devices' events to MQTT: the bridge drains each device's flash queue and publishes.

Protocol with the device (over its serial link, after the MCP handshake):
  request `edgemcp/events/subscribe` {}  -> {"pending": N}   (-32601: the device has no queue)
  device notifications `notifications/edgemcp/event` {"seq": N, "event": {...}}, oldest first
  request `edgemcp/events/ack` {"seq": N}: every event up to N is on the broker (cumulative)

Each event goes to `edgemcp/{device-id}/events` at QoS 1 as compact JSON, and is acknowledged to
the device only once the broker's PUBACK is in. An event not acknowledged stays in the device's
queue and comes again after a reconnect of either side, so receivers drop duplicates by
(device_id, seq).
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging

from .link import DeviceError, LinkError
from .protocol import METHOD_NOT_FOUND, valid_client_id

log = logging.getLogger("edgemcp.events")

EVENT = "notifications/edgemcp/event"
MAX_DEVICE_ID = 128


def events_topic(device_id):
    return f"edgemcp/{device_id}/events"


async def device_id(link):
    """The device's id from its device_info tool (what its own MQTT link uses too)."""
    r = await link.request("tools/call", {"name": "device_info", "arguments": {}})
    did = (r.get("structuredContent") or {}).get("device_id")
    # One topic level here and the server-id of MCP over MQTT: the client-id rule, bounded.
    if not valid_client_id(did) or len(did) > MAX_DEVICE_ID:
        raise LinkError(f"device {link.name!r}: device_info gave no usable device_id ({did!r})")
    return did


class _Entry:
    __slots__ = ("seq", "acked")

    def __init__(self, seq):
        self.seq = seq
        self.acked = False


class _Stream:
    """One connection (generation) of one device: the events published and not yet acked."""

    def __init__(self, link, device_id):
        self.link = link
        self.device_id = device_id
        self.topic = events_topic(device_id)
        self.inflight = collections.deque()  # _Entry in publish order
        self.last_seq = None
        self.ack_target = -1  # highest seq whose event and every one before it the broker has
        self.ack_sent = -1
        self.ack_task = None
        self.blocked = False  # the broker refused an event: acks stop before it
        self.alive = True


class EventsRelay:
    """Relays the events of DeviceLinks to an MQTT broker through one paho client (MQTT 5,
    looping in its own thread, which reconnects by itself and resends what has no PUBACK)."""

    def __init__(self, client, loop=None):
        self.client = client
        self.loop = loop or asyncio.get_running_loop()
        self.streams = {}  # link name -> _Stream
        self.device_ids = {}  # link name -> device id
        self._mids = {}  # paho mid -> (_Stream, _Entry)
        self._tasks = set()
        self.published = 0
        self.ack_requests = 0
        self.duplicates = 0  # events the device sent again (seq not above the last one)
        client.on_publish = self._on_publish_thread

    def attach(self, link):
        link.listeners.append(self._on_link_event)
        if link.state == "up":
            self._spawn(self._subscribe(link))

    def info(self, name):
        s = self.streams.get(name)
        if s is None:
            return None
        return {"device_id": s.device_id, "topic": s.topic, "inflight": len(s.inflight), "acked": s.ack_sent}

    async def stop(self):
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except BaseException:
                pass

    def _spawn(self, coro):
        t = self.loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # ----- device side

    def _on_link_event(self, link, method, params):
        if method == EVENT:
            self._event(link, params)
        elif method == "edgemcp/up":
            self._spawn(self._subscribe(link))
        elif method == "edgemcp/down":
            s = self.streams.pop(link.name, None)
            if s:
                s.alive = False  # its unacked events come again once the device is back

    async def _subscribe(self, link):
        try:
            did = self.device_ids[link.name] = await device_id(link)
            self.streams[link.name] = _Stream(link, did)
            r = await link.request("edgemcp/events/subscribe", {})
        except DeviceError as e:
            self.streams.pop(link.name, None)
            if e.code == METHOD_NOT_FOUND:
                log.info("device %s has no event queue: nothing to relay", link.name)
            else:
                log.warning("device %s: events/subscribe failed: %s", link.name, e)
            return
        except LinkError as e:
            log.warning("device %s: cannot relay its events: %s", link.name, e)
            return
        if r.get("forwarding") == "mqtt":
            self.streams.pop(link.name, None)
            log.info("device %s publishes its events over its own MQTT link", link.name)
            return
        log.info("device %s (%s): relaying events to %s, %s pending", link.name, did,
                 events_topic(did), r.get("pending"))

    def _event(self, link, params):
        s = self.streams.get(link.name)
        seq, event = params.get("seq"), params.get("event")
        if s is None or not s.alive:
            return  # not subscribed (yet): the device sends it again after the next subscribe
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(event, dict):
            log.warning("device %s: malformed event notification dropped: %.200r", link.name, params)
            return
        if s.last_seq is not None and seq <= s.last_seq:
            self.duplicates += 1  # the device timed out waiting for our ack and sent it again
            if any(e.seq == seq for e in s.inflight):
                return  # paho still holds it and delivers it once the broker is back
        s.last_seq = seq
        payload = json.dumps(event, separators=(",", ":"))
        info = self.client.publish(s.topic, payload, qos=1)
        entry = _Entry(seq)
        s.inflight.append(entry)
        self._mids[info.mid] = (s, entry)
        self.published += 1

    # ----- broker side

    def _on_publish_thread(self, client, userdata, mid, reason, properties):
        # paho's network thread, holding its own locks: hand over to the loop at once.
        self.loop.call_soon_threadsafe(self._on_puback, mid, reason)

    def _on_puback(self, mid, reason):
        s, entry = self._mids.pop(mid, (None, None))
        if s is None:
            return
        if reason is not None and reason.is_failure:
            log.error("device %s: the broker refused event %d on %s: %s; acks stop before it",
                      s.link.name, entry.seq, s.topic, reason)
            s.blocked = True
            return
        entry.acked = True
        while s.inflight and s.inflight[0].acked and not s.blocked:
            s.ack_target = s.inflight.popleft().seq
        if s.alive and s.ack_target > s.ack_sent and (s.ack_task is None or s.ack_task.done()):
            s.ack_task = self._spawn(self._send_acks(s))

    async def _send_acks(self, s):
        # One ack request at a time, always for the newest contiguous seq: a fast stream costs
        # far fewer acks than events.
        while s.alive and s.ack_target > s.ack_sent:
            n = s.ack_target
            try:
                await s.link.request("edgemcp/events/ack", {"seq": n})
            except (LinkError, DeviceError) as e:
                log.warning("device %s: ack of event %d failed: %s", s.link.name, n, e)
                return
            self.ack_requests += 1
            s.ack_sent = n
