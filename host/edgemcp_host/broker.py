"""Connecting to an MQTT broker with paho-mqtt (MQTT 5): where the broker is (flag, environment,
config file), and a connected client or a clear error. The one place a paho client is made and
configured (TLS, credentials, will, user properties): every MQTT connection of the host, the
CLI's and the bridge's, comes from new_client here."""
import asyncio
import json
import os
import pathlib
import socket
import ssl
import threading
import urllib.parse
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

DEFAULT_URL = "mqtt://127.0.0.1:1883"
CONFIG_FILE = pathlib.Path(os.environ.get("EDGEMCP_CONFIG", pathlib.Path.home() / ".config/edgemcp/config.json"))


class BrokerError(Exception):
    pass


def settings(url=None, username=None, password=None):
    """The broker settings: arguments first, then EDGEMCP_MQTT_URL / EDGEMCP_MQTT_USERNAME /
    EDGEMCP_MQTT_PASSWORD, then the "mqtt" object of the config file, then mqtt://127.0.0.1:1883.
    Credentials may also sit in the URL (mqtt://user:pass@host)."""
    conf = {}
    if CONFIG_FILE.exists():
        try:
            conf = json.loads(CONFIG_FILE.read_text()).get("mqtt", {})
        except (ValueError, AttributeError) as e:
            raise BrokerError(f"{CONFIG_FILE}: not a JSON object with an \"mqtt\" object ({e})")
    url = url or os.environ.get("EDGEMCP_MQTT_URL") or conf.get("url") or DEFAULT_URL
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts"):
        raise BrokerError(f"broker URL must start with mqtt:// or mqtts://, not {url!r}")
    if not u.hostname:
        raise BrokerError(f"broker URL has no host: {url!r}")
    return {
        "host": u.hostname,
        "port": u.port or (8883 if u.scheme == "mqtts" else 1883),
        "tls": u.scheme == "mqtts",
        "username": username or u.username or os.environ.get("EDGEMCP_MQTT_USERNAME") or conf.get("username"),
        "password": password or u.password or os.environ.get("EDGEMCP_MQTT_PASSWORD") or conf.get("password"),
        "url": urllib.parse.urlunsplit((u.scheme, u.hostname + (f":{u.port}" if u.port else ""), "", "", "")),
    }


def add_arguments(p):
    g = p.add_argument_group("broker")
    g.add_argument("--broker", metavar="URL", help=f"mqtt://host:port or mqtts://host:port "
                   f"(default: $EDGEMCP_MQTT_URL, the config file {CONFIG_FILE}, or {DEFAULT_URL})")
    g.add_argument("--username", "-u", help="user name (or $EDGEMCP_MQTT_USERNAME)")
    g.add_argument("--password", "-P", help="password (or $EDGEMCP_MQTT_PASSWORD)")
    g.add_argument("--cafile", help="CA certificate for mqtts:// (default: the system's)")
    g.add_argument("--insecure", action="store_true", help="mqtts:// without checking the broker's certificate")
    g.add_argument("--client-id", help="MQTT client id (default: a random one)")


def props(pairs, packet=PacketTypes.PUBLISH):
    """MQTT 5 properties of a packet (a PUBLISH unless told) carrying the user properties
    `pairs` ((key, value)...)."""
    p = Properties(packet)
    p.UserProperty = list(pairs)
    return p


def user_of(properties):
    """The user properties of a received packet as a dict."""
    return dict(getattr(properties, "UserProperty", None) or [])


def _nodelay(client, userdata, sock):
    # RPC messages are small and wait for each other: Nagle's algorithm would hold them back.
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


_counts_lock = threading.Lock()
_counts = {"in": 0, "out": 0}


def _count(direction):
    with _counts_lock:
        _counts[direction] += 1


def message_counts():
    """PUBLISH packets received ("in") and sent ("out") by this process's clients (the bridge's
    /metrics)."""
    with _counts_lock:
        return dict(_counts)


class _Client(paho.Client):
    """paho's client, counting the messages it sends and is handed."""

    def publish(self, *args, **kwargs):
        _count("out")
        return super().publish(*args, **kwargs)

    def _handle_on_message(self, message):  # paho 2.x: every incoming PUBLISH passes here
        _count("in")
        return super()._handle_on_message(message)


def new_client(s, client_id, will=None, connect_user=(), cafile=None, insecure=False):
    """A paho MQTT 5 client, not yet connected, for the broker settings `s` of settings():
    credentials, TLS (`cafile`, or `insecure`: no certificate check), the will (topic, payload,
    qos, retain[, its user properties ((key, value)...)]) and the CONNECT's user properties in
    `c.connect_props`."""
    c = _Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    if s["username"]:
        c.username_pw_set(s["username"], s["password"])
    if s["tls"]:
        ctx = ssl.create_default_context(cafile=cafile)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        c.tls_set_context(ctx)
    if will:
        will_set(c, will)
    c.reconnect_delay_set(1, 10)  # back soon after a broker outage
    c.on_socket_open = _nodelay
    c.connect_props = props(connect_user, PacketTypes.CONNECT) if connect_user else None
    return c


def will_set(c, will):
    """Sets (or replaces, for the next connect) the will of client `c`: (topic, payload, qos,
    retain[, user properties])."""
    topic, payload, qos, retain = will[:4]
    c.will_set(topic, payload, qos, retain, properties=props(will[4], PacketTypes.WILLMESSAGE) if len(will) > 4 else None)


class Subscriptions:
    """Subscriptions of a paho client awaited on an asyncio loop: paho hands the SUBACK to its
    own thread, this passes it over to the loop."""

    def __init__(self, client, loop, timeout=10.0):
        self.client = client
        self.loop = loop
        self.timeout = timeout
        self._acks = {}  # mid -> future
        client.on_subscribe = self._on_subscribe_thread

    def _on_subscribe_thread(self, client, userdata, mid, reasons, properties):
        self.loop.call_soon_threadsafe(self._on_suback, mid, reasons)

    def _on_suback(self, mid, reasons):
        fut = self._acks.pop(mid, None)
        if fut and not fut.done():
            fut.set_result(reasons)

    async def subscribe(self, topic, options):
        """Subscribed once the broker granted it; BrokerError or asyncio.TimeoutError otherwise."""
        r, mid = self.client.subscribe(topic, options=options)
        if r != paho.MQTT_ERR_SUCCESS:
            raise BrokerError(f"subscribe to {topic} failed: {paho.error_string(r)}")
        fut = self.loop.create_future()
        self._acks[mid] = fut
        reasons = await asyncio.wait_for(fut, self.timeout)
        if any(rc.is_failure for rc in reasons):
            raise BrokerError(f"the broker refused the subscription to {topic}: {reasons}")


def connect(args, will=None, timeout=10.0, on_message=None):
    """A paho client connected (MQTT 5, clean start) and looping in its own thread, or BrokerError.
    `will` = (topic, payload, qos, retain)."""
    s = settings(args.broker, args.username, args.password)
    c = new_client(s, args.client_id or f"edgemcp-{uuid.uuid4().hex[:12]}", will,
                   cafile=getattr(args, "cafile", None), insecure=getattr(args, "insecure", False))
    done = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, reason, properties):
        result["reason"] = reason
        done.set()

    c.on_connect = on_connect
    if on_message:
        c.on_message = on_message
    try:
        c.connect(s["host"], s["port"], keepalive=30, clean_start=True)
    except (OSError, ssl.SSLError) as e:
        raise BrokerError(f"cannot reach the broker at {s['url']}: {e}")
    c.loop_start()
    if not done.wait(timeout):
        c.loop_stop()
        raise BrokerError(f"no CONNACK from {s['url']} within {timeout:g} s")
    if result["reason"].is_failure:
        c.loop_stop()
        raise BrokerError(f"the broker at {s['url']} refused the connection: {result['reason']}")
    return c


def user_properties(pairs, packet=PacketTypes.PUBLISH):
    """The properties for `KEY=VALUE` strings (the CLI's --user-property), or None."""
    if not pairs:
        return None
    return props([tuple(kv.split("=", 1)) for kv in pairs], packet)
