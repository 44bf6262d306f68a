"""The bridge's MQTT side (`edgemcp bridge --mqtt [URL]`): serial devices' events published to
the broker, serial devices presented there as MCP-over-MQTT servers, and MCP-over-MQTT devices
found by their presence joined to the bridge's MCP server."""
from __future__ import annotations

import asyncio
import logging
import types
import uuid

from . import broker

log = logging.getLogger("edgemcp.mqtt")


def add_arguments(p):
    g = p.add_argument_group("MQTT (MCP over MQTT and device events)")
    g.add_argument("--mqtt", nargs="?", const="", metavar="URL",
                   help="connect the bridge to this broker, mqtt://host:port or mqtts://host:port (without "
                        "URL: $EDGEMCP_MQTT_URL, the config file, or " + broker.DEFAULT_URL + ")")
    g.add_argument("--mqtt-username", metavar="USER", help="broker user name (or $EDGEMCP_MQTT_USERNAME)")
    g.add_argument("--mqtt-password", metavar="PASSWORD", help="broker password (or $EDGEMCP_MQTT_PASSWORD)")
    g.add_argument("--mqtt-cafile", metavar="FILE", help="CA certificate for mqtts:// (default: the system's)")
    g.add_argument("--mqtt-insecure", action="store_true", help="mqtts:// without checking the certificate")
    g.add_argument("--mqtt-servers", default="edgemcp/#", metavar="FILTER",
                   help="server-name filter of the MCP-over-MQTT devices to join (default edgemcp/#; "
                        "'' joins none)")
    g.add_argument("--no-mqtt-present", action="store_true",
                   help="do not present the serial devices on the broker as MCP-over-MQTT servers")
    g.add_argument("--no-mqtt-events", action="store_true",
                   help="do not drain the serial devices' event queues to the broker")


def enabled(args):
    return getattr(args, "mqtt", None) is not None


def broker_args(args, client_id=None):
    """What broker.connect takes, from the bridge's --mqtt* flags."""
    return types.SimpleNamespace(broker=args.mqtt or None, username=args.mqtt_username, password=args.mqtt_password,
                                 cafile=args.mqtt_cafile, insecure=args.mqtt_insecure,
                                 client_id=client_id or f"edgemcp-bridge-{uuid.uuid4().hex[:12]}")


async def connect(args, client_id=None, will=None):
    return await asyncio.to_thread(broker.connect, broker_args(args, client_id), will)


def disconnect(client):
    try:
        client.disconnect()
    finally:
        client.loop_stop()


class MqttSide:
    def __init__(self, args, bridge):
        self.args = args
        self.bridge = bridge
        self.client = None
        self.relay = None
        self.presenter = None
        self.discovery = None
        self.reconnects = 0  # of self.client, after its first connection (/metrics)
        bridge.mqtt = self  # /healthz and /metrics read the broker links here

    async def start(self):
        from .events_relay import EventsRelay
        serial_links = list(self.bridge.links.values())
        self.client = await connect(self.args)  # broker.new_client: back soon after a broker outage
        self.client.on_connect = self._on_reconnect
        if not self.args.no_mqtt_events:
            self.relay = EventsRelay(self.client)
            for link in serial_links:
                self.relay.attach(link)
        if not self.args.no_mqtt_present:
            from .mqtt_present import from_args
            self.presenter = from_args(self.args)
            ups = [t for t in (self.presenter.attach(link) for link in serial_links) if t]
            if ups:  # their device ids first: discovery must not join them a second time
                await asyncio.wait(ups, timeout=15)
        if self.args.mqtt_servers:
            from .mqtt_link import Discovery
            self.discovery = await Discovery(self.bridge, self._settings(), self.args.mqtt_servers,
                                             skip=self._ours, timeout=getattr(self.args, "timeout", 60.0),
                                             tls={"cafile": self.args.mqtt_cafile,
                                                  "insecure": self.args.mqtt_insecure}).start()
        return self

    def _on_reconnect(self, client, userdata, flags, reason, properties):  # paho's thread
        if not reason.is_failure:
            self.reconnects += 1

    def _settings(self):
        return broker.settings(self.args.mqtt or None, self.args.mqtt_username, self.args.mqtt_password)

    def _ours(self, sid):
        # The serial devices this bridge presents on the broker (or that are on its serial
        # lines and speak MQTT too) are not joined a second time.
        if self.presenter and any(p.sid == sid for p in self.presenter.devices.values()):
            return True
        return bool(self.relay) and sid in self.relay.device_ids.values()

    async def stop(self):
        if self.discovery:
            await self.discovery.stop()
        if self.presenter:
            await self.presenter.stop()
        if self.relay:
            await self.relay.stop()
        if self.client:
            await asyncio.to_thread(disconnect, self.client)


async def start(args, bridge):
    """The MQTT side of a started bridge (None without --mqtt). A broker that cannot be used
    stops the bridge with a clear message."""
    if not enabled(args):
        return None
    side = MqttSide(args, bridge)
    try:
        return await side.start()
    except broker.BrokerError as e:
        await side.stop()
        await bridge.stop()
        raise SystemExit(f"edgemcp bridge: {e}") from None
