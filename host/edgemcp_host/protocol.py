"""The protocol vocabulary of the host, in one place: JSON-RPC error codes, the MCP protocol
versions the devices speak, and the MCP-over-MQTT binding (the EMQX specification, as
docs/mcp-over-mqtt.md pins it): topic prefixes and builders, user property names, and what makes
a usable client id or server id.

The firmware spells the same names in edgemcp/server.py (codes, VERSIONS) and
edgemcp/mqtt_link.py (topics, properties, valid_client_id); tests/host/test_protocol_vocabulary.py
reads both sides and fails when they differ.
"""
import json
import re

# ----- JSON-RPC 2.0 error codes (and MCP's resource-not-found)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

# ----- MCP protocol versions the devices answer, newest first

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_VERSION = VERSIONS[0]  # what the bridge asks a device for
# The per-request era (no initialize): newer firmware serves it beside VERSIONS on the same link.
MODERN_VERSIONS = ("2026-07-28",)
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"  # request _meta keys of that era
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
# On a device's question to the client (elicitation/create, sampling/createMessage): the id of
# the call it belongs to, so a bridge with many clients on one link knows whose it is.
RELATED_REQUEST = "edgemcp/relatedRequestId"

# ----- MCP over MQTT: topic prefixes

SERVER_PRESENCE = "$mcp-server/presence/"  # + {server-id}/{server-name}, retained
SERVER_CONTROL = "$mcp-server/"  # + {server-id}/{server-name}: initialize goes here
SERVER_CAPABILITY = "$mcp-server/capability/"  # + {server-id}/{server-name}: list-changed, updates
CLIENT_PRESENCE = "$mcp-client/presence/"  # + {mcp-client-id}: the client's will, "disconnected"
CLIENT_CAPABILITY = "$mcp-client/capability/"  # + {mcp-client-id}: the client's list-changed
RPC = "$mcp-rpc/"  # + {mcp-client-id}/{server-id}/{server-name}: requests, responses, the rest

# ----- user properties

PROP_CLIENT_ID = "MCP-MQTT-CLIENT-ID"
PROP_COMPONENT = "MCP-COMPONENT-TYPE"
PROP_META = "MCP-META"
PROP_SERVER_NAME = "MCP-SERVER-NAME"  # CONNACK to a server: the broker's name for it (MUST be used)
PROP_SERVER_NAME_FILTERS = "MCP-SERVER-NAME-FILTERS"  # CONNACK to a client: JSON list of filters (MUST)
COMPONENT_CLIENT = "mcp-client"
COMPONENT_SERVER = "mcp-server"

# The device's default name (firmware config.py): a device left with it is named by its id.
DEFAULT_NAME = "edgemcp"

# What a client publishes on its presence topic (and leaves as its will) when it goes.
DISCONNECTED = json.dumps({"jsonrpc": "2.0", "method": "notifications/disconnected"})

_BAD_LEVEL = re.compile(r"[/+#\x00]")


def valid_client_id(s):
    """A usable mcp-client-id (and server-id: both stand as one topic level): a non-empty string
    without a level separator, a wildcard or NUL."""
    return isinstance(s, str) and bool(s) and not _BAD_LEVEL.search(s)


def clean_level(s):
    """A string made safe as one topic level (no separators, no wildcards, no NUL)."""
    return _BAD_LEVEL.sub("_", s) or "_"


def server_name(platform, name, device_id):
    """The server-name of a device, as the firmware makes it: `edgemcp/{platform}/{name}`, with
    the device id in place of the default name, so that server-names stay unique."""
    return "edgemcp/%s/%s" % (clean_level(platform), clean_level(device_id if name == DEFAULT_NAME else name))


def usable_server_name(s):
    """A broker-suggested server-name the servers take: non-empty, without wildcards."""
    return isinstance(s, str) and bool(s) and "+" not in s and "#" not in s


def name_filters(value):
    """The topic filters of an MCP-SERVER-NAME-FILTERS value (a JSON array of strings), or None
    when it is not one."""
    try:
        v = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(v, list) or not v or not all(isinstance(f, str) and f and "\x00" not in f for f in v):
        return None
    return v


class ServerTopics:
    """The topics of one MCP-over-MQTT server, {server-id}/{server-name}."""

    __slots__ = ("sid", "name", "presence", "control", "capability")

    def __init__(self, sid, name):
        self.sid = sid
        self.name = name
        tail = f"{sid}/{name}"
        self.presence = SERVER_PRESENCE + tail
        self.control = SERVER_CONTROL + tail
        self.capability = SERVER_CAPABILITY + tail

    def rpc(self, cid):
        """The RPC topic of one client's session with this server."""
        return f"{RPC}{cid}/{self.sid}/{self.name}"


def client_presence(cid):
    return CLIENT_PRESENCE + cid


def client_capability(cid):
    return CLIENT_CAPABILITY + cid


def split_presence(topic):
    """(server-id, server-name) of a server presence topic."""
    sid, _, name = topic[len(SERVER_PRESENCE):].partition("/")
    return sid, name


def client_of(topic):
    """(kind, mcp-client-id) of a topic a server hears from its clients: kind is "presence",
    "capability" or "rpc"; (None, None) for any other topic."""
    for kind, prefix in (("presence", CLIENT_PRESENCE), ("capability", CLIENT_CAPABILITY)):
        if topic.startswith(prefix):
            return kind, topic[len(prefix):]
    if topic.startswith(RPC):
        cid, sep, _ = topic[len(RPC):].partition("/")
        if sep:
            return "rpc", cid
    return None, None
