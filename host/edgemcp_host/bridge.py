"""The MCP side of the bridge: serial devices served to MCP clients with the official `mcp` SDK's
low-level Server, over stdio or Streamable HTTP (both eras the SDK serves: the 2025-11-25
initialize handshake and the stateless 2026-07-28 revision).

Namespace (one rule for every endpoint):

- the aggregated endpoint (`/mcp`, or stdio without --device) shows every device:
  tool `T` of device `D` is `D.T`, prompt `P` is `D.P`, resource `U` is `edgemcp://D/U`
  (the device's URI kept whole after the device segment, templates alike), and resource
  names are `D.name`. Names longer than 64 characters are left out (and logged).
- a per-device endpoint (`/mcp/D`, or stdio with --device D) shows the device's own names.

Notifications: the device's progress goes to the request that asked for it; its log messages,
list-changed and resource-updated notifications go to every client (handshake-era clients on
their standalone channel; 2026-07-28 clients get list-changed/updated on `subscriptions/listen`
and log messages on their requests in flight, as that revision asks). A client's cancellation
(or a dropped 2026-07-28 request, or the end of a stdio session) cancels the device's work.
`logging/setLevel` and resource subscriptions are forwarded to the device(s).
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import os
import re
import time
import warnings

import mcp_types as types
from mcp.server.caching import CACHEABLE_METHODS, CacheHint
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.subscriptions import (InMemorySubscriptionBus, ListenHandler, PromptsListChanged,
                                      ResourcesListChanged, ResourceUpdated, ToolsListChanged)
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from . import __version__
from .fleet import DEVICES_RESOURCE, FLEET, Fleet
from .link import DeviceError, LinkError, spawn
from .metrics import CONTENT_TYPE, Metrics, health
from .protocol import (INVALID_PARAMS, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, METHOD_NOT_FOUND,
                       RESOURCE_NOT_FOUND)

# Logging, client progress and roots are deprecated in 2026-07-28 but still part of 2025-11-25,
# which the devices speak: the bridge serves them on purpose.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

log = logging.getLogger("edgemcp.bridge")

NAME_RE = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")
URI_PREFIX = "edgemcp://"


def _mcp_error(e):
    if isinstance(e, DeviceError):
        return MCPError(code=e.code, message=e.message, data=e.data)
    return MCPError(code=e.code, message=str(e))


class View:
    """The names one endpoint shows: every device with prefixes, or one device as it is (the
    fleet endpoint's clients hear what the aggregated endpoint's do, bar resource updates)."""

    def __init__(self, bridge, device=None):
        self.bridge = bridge
        self.fleet = device == FLEET
        self.device = None if self.fleet else device

    def links(self):
        if self.device:
            return [self.link()]
        return list(self.bridge.links.values())

    def link(self):
        link = self.bridge.links.get(self.device)
        if link is None:  # a device that joined over MQTT and left again
            raise MCPError(code=INVALID_PARAMS, message=f"device {self.device!r} has left the bridge")
        return link

    def name_out(self, link, name):
        return name if self.device else f"{link.name}.{name}"

    def name_in(self, name, what):
        if self.device:
            return self.link(), name
        dev, dot, rest = name.partition(".")
        link = self.bridge.links.get(dev)
        if not dot or link is None:
            raise MCPError(code=INVALID_PARAMS, message=f"unknown {what} {name!r}: names are DEVICE.NAME",
                           data={"devices": list(self.bridge.links)})
        return link, rest

    def uri_out(self, link, uri):
        return uri if self.device else f"{URI_PREFIX}{link.name}/{uri}"

    def uri_in(self, uri):
        if self.device:
            return self.link(), uri
        if uri.startswith(URI_PREFIX):
            dev, slash, rest = uri[len(URI_PREFIX):].partition("/")
            link = self.bridge.links.get(dev)
            if slash and link is not None:
                return link, rest
        raise MCPError(code=RESOURCE_NOT_FOUND, message=f"unknown resource {uri!r}: URIs are "
                       f"{URI_PREFIX}DEVICE/URI", data={"uri": uri})


class _Server(Server):
    # The HTTP session manager builds initialization options with the defaults: announce the
    # list-changed notifications the bridge sends.
    def create_initialization_options(self, notification_options=None, *args, **kwargs):
        return super().create_initialization_options(
            notification_options or NotificationOptions(prompts_changed=True, resources_changed=True,
                                                        tools_changed=True), *args, **kwargs)


class _Client:
    """A handshake-era client's standalone channel, fed in order by its own task, so a client
    that reads slowly (or not at all) holds up no one else."""

    def __init__(self, session, view, depth=1000):
        self.session = session
        self.view = view
        self.queue = asyncio.Queue(depth)
        self.task = asyncio.ensure_future(self._send())

    def post(self, note):
        try:
            self.queue.put_nowait(note)
        except asyncio.QueueFull:
            log.warning("a client is not reading its notifications: dropped %s", note.method)

    async def _send(self):
        while True:
            note = await self.queue.get()
            try:
                await asyncio.wait_for(self.session.send_notification(note), 10)
            except Exception as e:  # gone or stuck: it is dropped when its connection closes
                log.debug("notification %s to a client failed: %s", note.method, e)

    def close(self):
        self.task.cancel()


class Bridge:
    """All device links and the MCP clients connected to them."""

    def __init__(self, links, fleet_concurrency=16):
        self.links = {link.name: link for link in links}
        if len(self.links) != len(links):
            raise ValueError("two devices have the same name: name them with NAME=PORT")
        if FLEET in self.links:
            raise ValueError(f"no device may be named {FLEET!r} (the fleet endpoint's name): rename it with NAME=PORT")
        self.fleet = Fleet(self, fleet_concurrency)
        self.clients = {}  # handshake-era clients: connection -> (ServerSession, View)
        self.subs = {}  # (device, device URI) -> connections subscribed to it
        self.buses = {}  # View.device (None: aggregated) -> InMemorySubscriptionBus
        self.mqtt = None  # bridge_mqtt.MqttSide, with --mqtt
        self.metrics = Metrics(self)
        for link in links:
            link.listeners.append(self._on_device_event)

    async def start(self):
        await asyncio.gather(*(link.start(wait=False) for link in self.links.values()))
        results = await asyncio.gather(*(link.wait_ready(link.init_timeout + 5) for link in self.links.values()),
                                       return_exceptions=True)
        for link, r in zip(self.links.values(), results):
            if isinstance(r, Exception):
                log.warning("device %s not ready yet: %s (still trying)", link.name, r)

    async def stop(self):
        await asyncio.gather(*(link.stop() for link in self.links.values()))

    # ----- device -> clients

    def _on_device_event(self, link, method, params):
        # Synchronous, so each client gets the device's notifications in the device's order.
        if method in ("edgemcp/up", "edgemcp/down"):
            if method == "edgemcp/up" and params.get("reconnect"):
                spawn(self._resubscribe(link))
            if method == "edgemcp/down" or params.get("reconnect"):
                # The device came back (or went away): its tools, resources, prompts may differ.
                for m in ("notifications/tools/list_changed", "notifications/resources/list_changed",
                          "notifications/prompts/list_changed"):
                    self._on_device_event(link, m, {})
            return
        if method not in _NOTIFICATIONS:  # the device's own (edgemcp/...) notifications stay here
            return
        event = {"notifications/tools/list_changed": ToolsListChanged(),
                 "notifications/resources/list_changed": ResourcesListChanged(),
                 "notifications/prompts/list_changed": PromptsListChanged()}.get(method)
        updated = method == "notifications/resources/updated"
        for key, bus in list(self.buses.items()):  # 2026-07-28 clients: their listen streams
            if key not in (None, FLEET, link.name) or (updated and key == FLEET):
                continue
            if event is not None:
                spawn(bus.publish(event))
            elif updated and "uri" in params:
                spawn(bus.publish(ResourceUpdated(uri=View(self, key).uri_out(link, params["uri"]))))
        subscribers = self.subs.get((link.name, params.get("uri")), ()) if updated else ()
        for conn, client in list(self.clients.items()):
            view = client.view
            if view.device not in (None, link.name) or (updated and (view.fleet or conn not in subscribers)):
                continue
            p = dict(params)
            if updated:
                p["uri"] = view.uri_out(link, p["uri"])
            elif method == "notifications/message" and not view.device:
                p["logger"] = f"{link.name}/{p['logger']}" if p.get("logger") else link.name
            client.post(_notification(method, p))

    async def _resubscribe(self, link):
        for dev, uri in [k for k in self.subs if k[0] == link.name]:  # the device has a new session
            with contextlib.suppress(LinkError, DeviceError):
                await link.request("resources/subscribe", {"uri": uri})

    @staticmethod
    def _conn(ctx):
        return getattr(ctx.session, "_connection", ctx.session)  # mcp 2.3: the per-client Connection

    def _track(self, ctx, view):
        conn = self._conn(ctx)
        self.clients[conn] = _Client(ctx.session, view)
        if hasattr(conn, "exit_stack"):
            conn.exit_stack.push_async_callback(self._forget, conn)

    async def subscribe(self, ctx, link, uri):
        conns = self.subs.get((link.name, uri))
        if not conns:  # the device holds one subscription for all the bridge's clients
            await link.request("resources/subscribe", {"uri": uri})
            conns = self.subs.setdefault((link.name, uri), set())
        conns.add(self._conn(ctx))

    async def unsubscribe(self, ctx, link, uri):
        conns = self.subs.get((link.name, uri), set())
        conns.discard(self._conn(ctx))
        if not conns:
            self.subs.pop((link.name, uri), None)
            await link.request("resources/unsubscribe", {"uri": uri})

    async def _forget(self, conn):
        client = self.clients.pop(conn, None)
        if client:
            client.close()
        for (dev, uri), conns in list(self.subs.items()):
            if conn in conns:
                conns.discard(conn)
                if not conns:
                    del self.subs[(dev, uri)]
                    with contextlib.suppress(LinkError, DeviceError):
                        await self.links[dev].request("resources/unsubscribe", {"uri": uri}, timeout=5)

    async def call_tool(self, link, name, arguments, on_progress=None, on_log=None, modern=None, asker=None):
        """tools/call on one device, counted in /metrics; a link or protocol failure is an MCPError.
        modern: a 2026-07-28 client's request params, relayed as they are (its _meta, and the
        inputResponses and requestState of an input_required round) to a device that serves
        that era: the device's own result comes back, input_required included. asker: a 2025
        client's (capabilities, on_request): its capabilities go with the call, and the device's
        questions to it (elicitation/create, sampling/createMessage) are put to it."""
        params = {"name": name, "arguments": arguments or {}}
        if modern is not None:
            meta = {k: v for k, v in (modern.get("_meta") or {}).items() if k != "progressToken"}
            params["_meta"] = meta
            for k in ("inputResponses", "requestState"):
                if k in modern:
                    params[k] = modern[k]
        on_request = None
        if asker is not None:
            params["_meta"] = {META_CLIENT_CAPABILITIES: asker[0]}
            on_request = asker[1]
        t0, error = time.perf_counter(), "protocol"
        try:
            r = await link.request("tools/call", params, on_progress=on_progress, on_log=on_log,
                                   on_request=on_request)
            error = "tool" if r.get("isError") else None
            return r
        except (LinkError, DeviceError) as e:
            raise _mcp_error(e) from None
        finally:  # a cancelled call counts as a protocol error too
            self.metrics.observe_call(link, name, time.perf_counter() - t0, error)

    # ----- MCP servers

    def server(self, device=None):
        """A low-level MCP Server for the aggregated view (device=None) or one device."""
        view = View(self, device)
        bus = self.buses.setdefault(device, InMemorySubscriptionBus())
        bridge = self

        def modern(ctx):
            return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS

        async def call(link, method, params, **kw):
            try:
                return await link.request(method, params, **kw)
            except (LinkError, DeviceError) as e:
                raise _mcp_error(e) from None

        def done(ctx, result):
            # 2026-07-28 results carry resultType; the devices speak 2025-11-25.
            if modern(ctx):
                result.setdefault("resultType", "complete")
            return result

        async def list_all(method, key, rename):
            out = []
            for link in view.links():
                if link.state != "up" and not view.device:
                    continue  # a device that is away has nothing to offer right now
                try:
                    items = link.tools if method == "tools/list" else await link.list_all(method, key)
                except DeviceError as e:
                    if e.code == METHOD_NOT_FOUND:
                        continue
                    raise _mcp_error(e) from None
                except LinkError as e:
                    raise _mcp_error(e) from None
                for item in items:
                    item = rename(link, dict(item))
                    if item is not None:
                        out.append(item)
            return {key: out}

        def rename_named(link, item):
            item["name"] = view.name_out(link, item["name"])
            if not NAME_RE.match(item["name"]):
                log.warning("device %s: %r does not fit the MCP name rules; left out", link.name, item["name"])
                return None
            return item

        def rename_resource(link, item):
            for k in ("uri", "uriTemplate"):
                if k in item:
                    item[k] = view.uri_out(link, item[k])
            if not view.device and item.get("name"):
                item["name"] = f"{link.name}.{item['name']}"
            return item

        async def list_tools(ctx, params):
            if view.device and view.link().state != "up":
                await call(view.link(), "ping", {})  # raises the link's error
            return done(ctx, await list_all("tools/list", "tools", rename_named))

        def relays(ctx):
            """The callbacks that pass a device's progress and (2026-07-28) log messages on to
            the client's request: (on_progress, on_log(link) -> callback), None where not wanted."""
            token = ((ctx.params or {}).get("_meta") or {}).get("progressToken")
            on_progress = None
            if token is not None:
                async def on_progress(p):
                    await ctx.session.send_progress_notification(
                        token, p.get("progress", 0), p.get("total"), p.get("message"),
                        related_request_id=ctx.request_id)

            def on_log(link):
                if not modern(ctx):
                    return None

                async def relay(p):
                    logger = p.get("logger")
                    if not view.device:
                        logger = f"{link.name}/{logger}" if logger else link.name
                    await ctx.session.send_log_message(p.get("level", "info"), p.get("data"), logger,
                                                       related_request_id=ctx.request_id)
                return relay
            return on_progress, on_log

        def native(ctx, link):
            # A modern client's request goes to a device that serves its version as it is.
            raw = ctx.params or {}
            v = (raw.get("_meta") or {}).get(META_PROTOCOL_VERSION)
            return raw if modern(ctx) and v in link.modern else None

        def asker(ctx):
            # A 2025 client: what it can answer, and how the device's questions reach it (on the
            # call's own stream).
            if modern(ctx):
                return None
            caps = getattr(bridge._conn(ctx), "client_capabilities", None)
            caps = caps.model_dump(by_alias=True, mode="json", exclude_none=True) if caps is not None else {}

            async def on_request(method, params):
                kinds = _CLIENT_REQUESTS.get(method)
                if kinds is None or method.split("/")[0] not in caps:
                    raise MCPError(code=METHOD_NOT_FOUND, message=f"the client does not answer {method}")
                req = kinds[0].model_validate({"method": method, "params": params})
                r = await ctx.session.send_request(req, kinds[1],
                                                   metadata=ServerMessageMetadata(related_request_id=ctx.request_id))
                return r.model_dump(by_alias=True, mode="json", exclude_none=True)
            return caps, on_request

        async def call_tool(ctx, params):
            link, name = view.name_in(params.name, "tool")
            on_progress, on_log = relays(ctx)
            return done(ctx, await bridge.call_tool(link, name, params.arguments, on_progress, on_log(link),
                                                    native(ctx, link), asker(ctx)))

        def input_schema(name):
            # For the 2026-07-28 transport's check of a call's Mcp-Param-* headers; without it the SDK
            # runs the whole tools/list (every tool, validated) ahead of every tools/call.
            try:
                link, tool = view.name_in(name, "tool")
            except MCPError:
                return None
            return next((t.get("inputSchema") for t in link.tools if t.get("name") == tool), None)

        async def list_resources(ctx, params):
            return done(ctx, await list_all("resources/list", "resources", rename_resource))

        async def list_templates(ctx, params):
            return done(ctx, await list_all("resources/templates/list", "resourceTemplates", rename_resource))

        async def read_resource(ctx, params):
            try:
                link, uri = view.uri_in(params.uri)
                r = await call(link, "resources/read", {"uri": uri})
            except MCPError as e:  # not found: -32002 until 2025-11-25, -32602 from 2026-07-28 on
                if e.code == RESOURCE_NOT_FOUND and modern(ctx):
                    raise MCPError(code=INVALID_PARAMS, message=e.message, data=e.data) from None
                raise
            for c in r.get("contents") or []:
                if "uri" in c:
                    c["uri"] = view.uri_out(link, c["uri"])
            return done(ctx, r)

        async def subscribe(ctx, params):
            link, uri = view.uri_in(params.uri)
            try:
                await bridge.subscribe(ctx, link, uri)
            except (LinkError, DeviceError) as e:
                raise _mcp_error(e) from None
            return types.EmptyResult()

        async def unsubscribe(ctx, params):
            link, uri = view.uri_in(params.uri)
            try:
                await bridge.unsubscribe(ctx, link, uri)
            except (LinkError, DeviceError) as e:
                raise _mcp_error(e) from None
            return types.EmptyResult()

        async def list_prompts(ctx, params):
            return done(ctx, await list_all("prompts/list", "prompts", rename_named))

        async def get_prompt(ctx, params):
            link, name = view.name_in(params.name, "prompt")
            p = {"name": name}
            if params.arguments:
                p["arguments"] = params.arguments
            raw = native(ctx, link)
            if raw is not None:  # as tools/call: the device's input_required rounds pass through
                p.update({k: raw[k] for k in ("_meta", "inputResponses", "requestState") if k in raw})
            return done(ctx, await call(link, "prompts/get", p))

        async def complete(ctx, params):
            # The reference in the endpoint's names, passed on in the device's (DEVICE.NAME,
            # edgemcp://DEVICE/URI on the aggregated one).
            ref = params.ref
            if ref.type == "ref/prompt":
                link, name = view.name_in(ref.name, "prompt")
                dref = {"type": "ref/prompt", "name": name}
            else:
                link, uri = view.uri_in(ref.uri)
                dref = {"type": "ref/resource", "uri": uri}
            p = {"ref": dref, "argument": params.argument.model_dump(exclude_none=True)}
            if params.context is not None:
                p["context"] = params.context.model_dump(exclude_none=True)
            return done(ctx, await call(link, "completion/complete", p))

        async def set_level(ctx, params):
            for link in view.links():
                if link.state == "up":
                    await call(link, "logging/setLevel", {"level": params.level})
            return types.EmptyResult()

        async def initialized(ctx, params):
            bridge._track(ctx, view)

        if view.fleet:
            return self._fleet_server(done, relays, initialized, bus)
        names = ", ".join(self.links)
        server = _Server(
            f"edgemcp-bridge/{device}" if device else "edgemcp-bridge", version=__version__,
            instructions=(f"edgemcp device {device} (an ESP32-S3 MicroPython MCP server) behind the edgemcp bridge."
                          if device else f"edgemcp bridge: devices {names}. Tools and prompts are named "
                          f"DEVICE.NAME; resources are {URI_PREFIX}DEVICE/URI."),
            on_list_tools=list_tools, on_call_tool=call_tool, get_tool_input_schema=input_schema,
            on_list_resources=list_resources, on_list_resource_templates=list_templates,
            on_read_resource=read_resource, on_subscribe_resource=subscribe, on_unsubscribe_resource=unsubscribe,
            on_list_prompts=list_prompts, on_get_prompt=get_prompt, on_set_logging_level=set_level,
            on_completion=complete,
            on_subscriptions_listen=ListenHandler(bus),
            # A device's lists and resources can change at any time: nothing is fresh for long.
            cache_hints={m: CacheHint(ttl_ms=0, scope="private") for m in CACHEABLE_METHODS},
        )
        return _finish(server, initialized)

    def _fleet_server(self, done, relays, initialized, bus):
        """The fleet endpoint's Server (fleet.py): a tool per distinct device tool, fleet_devices
        and fleet://devices."""
        fleet = self.fleet

        async def list_tools(ctx, params):
            return done(ctx, {"tools": fleet.tools()})

        async def call_tool(ctx, params):
            on_progress, on_log = relays(ctx)
            device = (params.arguments or {}).get("device")
            link = self.links.get(device) if isinstance(device, str) else None
            return done(ctx, await fleet.call(params.name, params.arguments, on_progress,
                                              on_log(link) if link else None))

        def input_schema(name):  # as the device endpoints' (the Mcp-Param-* header check)
            return next((t["inputSchema"] for t in fleet.tools() if t["name"] == name), None)

        async def list_resources(ctx, params):
            return done(ctx, {"resources": [DEVICES_RESOURCE]})

        async def read_resource(ctx, params):
            return done(ctx, await fleet.read(params.uri))

        server = _Server(
            "edgemcp-bridge/fleet", version=__version__,
            instructions="edgemcp fleet: each tool runs on the device named in its `device` argument, or on "
                         "every device that has it with device \"*\"; fleet_devices lists the devices.",
            on_list_tools=list_tools, on_call_tool=call_tool, get_tool_input_schema=input_schema,
            on_list_resources=list_resources, on_read_resource=read_resource,
            on_subscriptions_listen=ListenHandler(bus),
            cache_hints={m: CacheHint(ttl_ms=0, scope="private") for m in CACHEABLE_METHODS},
        )
        return _finish(server, initialized)


def _finish(server, initialized):
    server.add_notification_handler("notifications/initialized", types.NotificationParams, initialized)
    server.middleware = []  # no OpenTelemetry span per message: the bridge exports none
    return server


# What a device may ask a 2025 client during a call: the request's and its result's models.
_CLIENT_REQUESTS = {"elicitation/create": (types.ElicitRequest, types.ElicitResult),
                    "sampling/createMessage": (types.CreateMessageRequest, types.CreateMessageResult)}

_NOTIFICATIONS = {
    "notifications/message": types.LoggingMessageNotification,
    "notifications/tools/list_changed": types.ToolListChangedNotification,
    "notifications/resources/list_changed": types.ResourceListChangedNotification,
    "notifications/prompts/list_changed": types.PromptListChangedNotification,
    "notifications/resources/updated": types.ResourceUpdatedNotification,
}


def _notification(method, params):
    cls = _NOTIFICATIONS[method]
    return cls.model_validate({"method": method, "params": params or None} if params else {"method": method})


# ----- transports

def _settle_gc():
    """Called once the bridge is up. What the SDK, pydantic and uvicorn build at start (about 90k
    objects) lives as long as the bridge, and every full collection walked all of it: 30-60 ms in
    which every client stalled at once. Frozen, the collector no longer looks at it."""
    gc.collect()
    gc.freeze()


class _Lines:
    """stdin as the async text lines the SDK's stdio transport reads, on the event loop (its
    default reads and writes through a worker thread per line)."""

    def __init__(self, reader):
        self.reader = reader

    def __aiter__(self):
        return self

    async def __anext__(self):
        line = await self.reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


class _Out:
    def __init__(self, writer):
        self.writer = writer

    async def write(self, text):
        self.writer.write(text.encode())

    async def flush(self):
        await self.writer.drain()


async def _std_streams():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0, closefd=False))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        os.fdopen(1, "wb", 0, closefd=False))
    return _Lines(reader), _Out(asyncio.StreamWriter(transport, protocol, None, loop))


async def serve_stdio(bridge, device=None):
    """Serve one MCP client on this process's stdin/stdout until it leaves (device: one device's
    names, or FLEET for the fleet endpoint)."""
    from mcp.server.stdio import stdio_server

    server = bridge.server(device)
    try:
        streams = await _std_streams()
    except (OSError, ValueError):  # stdin or stdout a regular file: the SDK's own way
        streams = (None, None)
    async with stdio_server(*streams) as (read, write):
        await server.run(read, write, server.create_initialization_options())


LOOPBACK = ("127.0.0.1", "localhost", "::1")
RETRY_MS = 1000  # the SSE retry field: how soon a client whose event stream broke comes back


def http_app(bridge, host="127.0.0.1", token=None, allow_hosts=(), session_timeout=600.0):
    """The Starlette app: `/mcp` (all devices), `/mcp/{device}` (one), `/mcp/fleet` (fleet.py),
    `/devices` (JSON list),
    `/healthz` and `/metrics` (metrics.py). Host and Origin are checked (DNS rebinding), and a
    bearer token when one is set (on everything but /healthz).

    A 2025-era HTTP client that vanishes mid-call does not cancel it (its stream could be
    resumed, says that revision): its session, and the device work it started, end once it has
    had no HTTP request open for `session_timeout` seconds."""
    from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from .http_sessions import RecentEvents, SessionManager

    names = ["127.0.0.1", "localhost", "[::1]"]
    if host not in LOOPBACK and host not in ("0.0.0.0", "::"):
        names.append(f"[{host}]" if ":" in host else host)
    names += list(allow_hosts)
    # Any port on the names the bridge is reached by; any other Host (a rebinding attacker's
    # name) gets 421 and any other Origin 403.
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:*" for h in names] + names,
        allowed_origins=[f"{s}://{h}:*" for s in ("http", "https") for h in names]
        + [f"{s}://{h}" for s in ("http", "https") for h in names])
    checker = TransportSecurityMiddleware(security)
    managers = {}  # device (None: all) -> its session manager, running in the lifespan's task group
    lock = asyncio.Lock()
    group = None

    async def run_manager(mgr, *, task_status):
        async with mgr.run():
            task_status.started()
            await asyncio.Event().wait()

    async def manager(device):
        # Devices may join later (MCP over MQTT): their endpoints start on first use.
        async with lock:
            if device not in managers:
                mgr = SessionManager(app=bridge.server(device), security_settings=security,
                                     event_store=RecentEvents(), retry_interval=RETRY_MS,
                                     session_idle_timeout=session_timeout)
                await group.start(run_manager, mgr)
                managers[device] = mgr
            return managers[device]

    async def aggregated(scope, receive, send):
        await (await manager(None)).handle_request(scope, receive, send)

    async def one_device(scope, receive, send):
        device = scope["path_params"]["device"]
        if device not in bridge.links and device != FLEET:
            bad = await checker.validate_request(Request(scope, receive))
            response = bad or JSONResponse({"error": f"no device {device!r}", "devices": list(bridge.links)}, 404)
            await response(scope, receive, send)
            return
        await (await manager(device)).handle_request(scope, receive, send)

    async def devices(request: Request):
        bad = await checker.validate_request(request)
        if bad is not None:
            return bad
        return JSONResponse({"devices": [link.info() for link in bridge.links.values()]})

    async def healthz(request: Request):
        bad = await checker.validate_request(request)
        if bad is not None:
            return bad
        status, body = health(bridge)
        return JSONResponse(body, status, headers={"Cache-Control": "no-store"})

    async def metrics(request: Request):
        bad = await checker.validate_request(request)
        if bad is not None:
            return bad
        return Response(bridge.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    routes = [Route("/mcp", endpoint=_Asgi(aggregated)), Route("/mcp/{device}", endpoint=_Asgi(one_device)),
              Route("/devices", endpoint=devices, methods=["GET"]),
              Route("/healthz", endpoint=healthz, methods=["GET"]), Route("/metrics", endpoint=metrics, methods=["GET"])]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        nonlocal group
        import anyio
        async with anyio.create_task_group() as group:
            for device in [None, FLEET, *bridge.links]:
                await manager(device)
            yield
            group.cancel_scope.cancel()

    app = Starlette(routes=routes, lifespan=lifespan)
    # A health probe (a load balancer's, Kubernetes') carries no token: /healthz is open.
    return BearerAuth(app, token, open_paths=("/healthz",)) if token else app


class _Asgi:
    """A plain ASGI callable as a Starlette route endpoint (a function would be taken for a
    request handler)."""

    def __init__(self, fn):
        self.fn = fn

    async def __call__(self, scope, receive, send):
        await self.fn(scope, receive, send)


class BearerAuth:
    """ASGI wrapper: every HTTP request must carry `Authorization: Bearer <token>`, else 401,
    except GET requests for `open_paths`."""

    def __init__(self, app, token, open_paths=()):
        self.app = app
        self.token = token.encode()
        self.open_paths = open_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not (scope["path"] in self.open_paths and scope["method"] == "GET"):
            got = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, value = got.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
                body = b'{"error":"unauthorized","error_description":"missing or wrong bearer token"}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="edgemcp"'),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def serve_http(bridge, host="127.0.0.1", port=8765, token=None, allow_hosts=(), ready=None,
                     session_timeout=600.0):
    """Serve Streamable HTTP with uvicorn until cancelled. `ready(url)` is called once listening."""
    import uvicorn

    class _Uvicorn(uvicorn.Server):
        def capture_signals(self):  # the command owns Ctrl-C (asyncio.run cancels us)
            return contextlib.nullcontext()

    app = http_app(bridge, host, token, allow_hosts, session_timeout)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = _Uvicorn(config)
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise OSError(f"HTTP server on {host}:{port} did not start")
            await asyncio.sleep(0.02)
        _settle_gc()
        if ready:
            h = f"[{host}]" if ":" in host else host
            port = server.servers[0].sockets[0].getsockname()[1]  # the real one when asked for 0
            ready(f"http://{h}:{port}/mcp")
        await asyncio.shield(task)  # cancelled: stop uvicorn gracefully below, not mid-lifespan
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 5)
