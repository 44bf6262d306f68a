"""What every device link of the bridge shares, whatever carries its messages (a serial line in
serial_link.py, MCP over MQTT in mqtt_link.py): the device's state as the bridge knows it, the
listeners that hear its notifications, a supervising task that keeps it connected, the
initialize handshake, and requests with ids of the link's own (timeouts that progress extends,
cancellation, progress and log messages routed to the request they belong to, paged lists).

A subclass keeps only its transport: `_send(msg, control=False)` puts one JSON-RPC message on
the wire (`control`: the message opens a session, which MCP over MQTT sends elsewhere),
`_connected()` says whether it can, every message that comes in goes to `_on_message(msg)`, and
`_supervise()` connects, calls `_initialize()` and `_up()`, and `_down(why)` when the transport
is lost, in a loop.

listeners: callables `listener(link, method, params)` for the device's notifications that are
for everyone (log messages, list-changed, resource updates) and for the link's own events:
"edgemcp/up" (initialized, after a reconnect too), "edgemcp/down".
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time

from . import __version__
from .protocol import (INTERNAL_ERROR, LATEST_VERSION, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION,
                       METHOD_NOT_FOUND, MODERN_VERSIONS, RELATED_REQUEST)

log = logging.getLogger("edgemcp.link")

MAX_PAGES = 1000  # a device that pages forever cannot hang the bridge
CANCEL_GRACE = 1.5  # seconds a device's messages already on the wire may trail a cancellation


class LinkError(Exception):
    """The device could not answer: link down, timeout. Carries a JSON-RPC error code."""

    def __init__(self, message, code=INTERNAL_ERROR):
        super().__init__(message)
        self.code = code


class DeviceError(Exception):
    """The device answered with a JSON-RPC error."""

    def __init__(self, error):
        self.code = error.get("code", INTERNAL_ERROR)
        self.message = str(error.get("message", "device error"))
        self.data = error.get("data")
        super().__init__(self.message)


_tasks = set()


def spawn(coro):
    """A task nobody awaits, kept referenced until it ends."""
    t = asyncio.ensure_future(coro)
    _tasks.add(t)
    t.add_done_callback(_tasks.discard)
    return t


class _Pending:
    """One request waiting for the device's response."""

    __slots__ = ("method", "future", "timeout", "on_progress", "on_log", "on_request", "timer", "tasks")

    def __init__(self, method, future, timeout, on_progress, on_log, on_request=None):
        self.method = method
        self.future = future
        self.timeout = timeout
        self.on_progress = on_progress
        self.on_log = on_log
        self.on_request = on_request  # answers the device's questions to the client (elicitation)
        self.timer = None
        self.tasks = []  # forwarded notifications, finished before the result goes back

    def run(self, coro):
        self.tasks.append(asyncio.ensure_future(coro))


class Link:
    """A device shared by all clients of the bridge. Stray messages (responses and progress
    nobody waits for) count only when they come more than CANCEL_GRACE after the device was
    told to stop, or were never asked for."""

    init_tries = 1  # initialize attempts per connection, sharing init_timeout

    def __init__(self, name, transport, *, timeout=60.0, init_timeout=15.0, retry_interval=1.0):
        self.name = name
        self.transport = transport
        self.timeout = timeout
        self.init_timeout = init_timeout
        self.retry_interval = retry_interval
        self.listeners = []
        self.server_info = {}
        self.capabilities = {}
        self.instructions = None
        self.protocol_version = None
        self.tools = []  # the device's tool list, refreshed on connect and on list_changed
        self.modern = ()  # the per-request versions the device serves too (server/discover), if any
        self.state = "down"
        self.last_error = None
        self.connects = 0
        self.last_seen = None  # time.time() of the device's last message (the fleet report)
        # Responses and progress for requests nobody waits for any more: a device that ignores
        # cancellation.
        self.stray = 0
        self._ids = itertools.count(1)
        self._pending = {}
        self._cancelled = {}  # request id -> when the device was told to stop
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._task = None
        self._loop = None

    # ----- the transport (subclasses)

    async def _supervise(self):
        raise NotImplementedError

    async def _shutdown(self):
        raise NotImplementedError

    def _send(self, msg, control=False):
        raise NotImplementedError

    def _connected(self):
        raise NotImplementedError

    # ----- lifecycle

    async def start(self, wait=True):
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._supervise(), name=f"link-{self.name}")
        if wait:
            await self.wait_ready(self.init_timeout + 5)

    async def wait_ready(self, timeout):
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            raise LinkError(f"device {self.name!r} not ready after {timeout:.0f} s: {self.last_error}") from None

    async def stop(self):
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._shutdown()

    async def _initialize(self):
        # Several tries where a transport drops what it is sent while the device boots.
        for attempt in range(self.init_tries):
            try:
                r = await self._request("initialize", {
                    "protocolVersion": LATEST_VERSION, "capabilities": {},
                    "clientInfo": {"name": "edgemcp-bridge", "version": __version__}},
                    self.init_timeout / self.init_tries, control=True)
                break
            except LinkError:
                if attempt == self.init_tries - 1 or not self._connected():
                    raise
        self.protocol_version = r.get("protocolVersion")
        self.server_info = r.get("serverInfo") or {}
        self.capabilities = r.get("capabilities") or {}
        self.instructions = r.get("instructions")
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.tools = await self._list_all("tools/list", "tools", self.init_timeout) \
            if "tools" in self.capabilities else []
        try:  # dual-era firmware: the bridge then relays modern clients' calls as they are
            d = await self._request("server/discover", {"_meta": {META_PROTOCOL_VERSION: MODERN_VERSIONS[0],
                                                                  META_CLIENT_CAPABILITIES: {}}}, self.init_timeout)
            self.modern = tuple(v for v in d.get("supportedVersions") or () if v in MODERN_VERSIONS)
        except DeviceError:  # older firmware: -32601
            self.modern = ()

    def _up(self):
        self.state = "up"
        self.connects += 1
        self._ready.set()
        log.info("device %s up (%s)", self.name, self.transport.describe())
        self._emit("edgemcp/up", {"reconnect": self.connects > 1})

    def _mark_down(self, why):
        """The session with the device is over: every request in flight fails."""
        was_up = self.state == "up"
        self.state = "down"
        self._ready.clear()
        self._fail_pending(f"device {self.name!r} disconnected ({why}); the bridge is reconnecting")
        if was_up:
            log.warning("device %s down: %s", self.name, why)
            self._emit("edgemcp/down", {"reason": why})

    def _fail_pending(self, message):
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(LinkError(message))

    async def _refresh_tools(self):
        try:
            self.tools = await self._list_all("tools/list", "tools", self.timeout)
        except (LinkError, DeviceError) as e:
            log.warning("device %s: tools/list after list_changed failed: %s", self.name, e)
        self._emit("notifications/tools/list_changed", {})

    def _emit(self, method, params):
        for f in list(self.listeners):
            try:
                f(self, method, params)
            except Exception:
                log.exception("listener for %s failed", method)

    # ----- what comes in

    def _on_message(self, msg):
        """One JSON-RPC message (a dict) from the device."""
        self.last_seen = time.time()
        if "method" in msg:
            if "id" in msg:  # the device asks the client of one of its calls, or asks us
                params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
                p = self._pending.get((params.get("_meta") or {}).get(RELATED_REQUEST))
                if p is not None and p.on_request is not None:
                    question = {k: v for k, v in params.items() if k != "_meta"}  # our routing tag stays here
                    p.run(self._answer(p, msg["id"], msg["method"], question))
                else:
                    self._send({"jsonrpc": "2.0", "id": msg["id"],
                                "error": {"code": METHOD_NOT_FOUND, "message": "the bridge serves no requests"}})
            else:
                self._on_notification(msg["method"], msg.get("params") or {})
            return
        p = self._pending.pop(msg.get("id"), None)
        if p is None:
            self._stray(msg.get("id"), "response", msg)
            return
        if p.future.done():
            return
        if isinstance(msg.get("error"), dict):
            p.future.set_exception(DeviceError(msg["error"]))
        else:
            p.future.set_result(msg.get("result") or {})

    def _on_notification(self, method, params):
        if method == "notifications/progress":
            p = self._pending.get(params.get("progressToken"))
            if p is None:
                self._stray(params.get("progressToken"), "progress", params)
            else:
                if p.timer is not None:  # progress restarts the request's clock
                    p.timer.cancel()
                    p.timer = self._arm(p)
                if p.on_progress:
                    p.run(p.on_progress(params))
            return
        if method == "notifications/message":
            for p in list(self._pending.values()):
                if p.on_log:
                    p.run(p.on_log(params))
        elif method == "notifications/tools/list_changed":
            spawn(self._refresh_tools())
            return  # announced once the new list is in
        self._emit(method, params)

    def _stray(self, rid, what, detail):
        t = self._cancelled.get(rid)
        if t is not None and time.monotonic() - t < CANCEL_GRACE:
            log.debug("device %s: %s already under way when request %s was cancelled", self.name, what, rid)
            return
        self.stray += 1
        log.info("device %s: stray %s (no request waits for it): %.200s", self.name, what, detail)

    async def _answer(self, p, rid, method, params):
        # The call's clock stops while a person answers the question.
        if p.timer is not None:
            p.timer.cancel()
        try:
            msg = {"jsonrpc": "2.0", "id": rid, "result": await p.on_request(method, params)}
        except Exception as e:  # the client refused or failed: the device's question gets an error
            msg = {"jsonrpc": "2.0", "id": rid, "error": {"code": getattr(e, "code", INTERNAL_ERROR),
                                                          "message": str(e) or type(e).__name__}}
        finally:
            if not p.future.done():
                p.timer = self._arm(p)
        if self._connected():
            self._send(msg)

    # ----- requests

    def _check_up(self):
        if self.state != "up":
            raise LinkError(f"device {self.name!r} is not connected ({self.last_error}); the bridge is reconnecting")

    async def request(self, method, params=None, *, timeout=None, on_progress=None, on_log=None, on_request=None):
        """Send one request to the device and return its result. Raises DeviceError (the device's
        JSON-RPC error) or LinkError (down, timeout). on_request(method, params) -> result answers
        what the device asks the client while it works on this request."""
        self._check_up()
        return await self._request(method, params, timeout or self.timeout, on_progress, on_log,
                                   on_request=on_request)

    async def _request(self, method, params, timeout, on_progress=None, on_log=None, control=False, on_request=None):
        rid = next(self._ids)
        params = dict(params or {})
        if on_progress is not None:
            params["_meta"] = {**(params.get("_meta") or {}), "progressToken": rid}
        fut = asyncio.get_running_loop().create_future()
        p = _Pending(method, fut, timeout, on_progress, on_log, on_request)
        self._pending[rid] = p
        try:
            self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, control)
            p.timer = self._arm(p)
            result = await fut
            if p.tasks:  # progress and log messages go out before the result
                await asyncio.gather(*p.tasks, return_exceptions=True)
            return result
        except BaseException:
            # Cancelled by the client, timed out, or the link failed: the device stops the work.
            if self._pending.pop(rid, None) is not None and self._connected():
                self._note_cancelled(rid)
                try:
                    self._send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                "params": {"requestId": rid, "reason": "cancelled by the client"}})
                except LinkError:
                    pass
            if not fut.done():
                fut.cancel()
            raise
        finally:
            if p.timer is not None:
                p.timer.cancel()

    def _note_cancelled(self, rid):
        now = time.monotonic()
        if len(self._cancelled) > 1000:
            self._cancelled = {k: t for k, t in self._cancelled.items() if now - t < CANCEL_GRACE}
        self._cancelled[rid] = now

    def _arm(self, p):
        def expire():
            if not p.future.done():
                p.future.set_exception(LinkError(
                    f"device {self.name!r} did not answer {p.method} within {p.timeout:g} s"))
        return asyncio.get_running_loop().call_later(p.timeout, expire)

    async def _list_all(self, method, key, timeout):
        items, cursor = [], None
        for _ in range(MAX_PAGES):
            r = await self._request(method, {"cursor": cursor} if cursor else {}, timeout)
            items += r.get(key) or []
            cursor = r.get("nextCursor")
            if not cursor:
                return items
        raise LinkError(f"device {self.name!r}: {method} pages never end")

    async def list_all(self, method, key):
        self._check_up()
        return await self._list_all(method, key, self.timeout)

    def info(self):
        return {"name": self.name, "state": self.state, "kind": self.transport.kind,
                "port": self.transport.describe(), "pid": self.transport.pid,
                "server_info": self.server_info, "protocol_version": self.protocol_version,
                "tools": [t.get("name") for t in self.tools], "connects": self.connects, "stray": self.stray,
                "pending": len(self._pending), "last_error": self.last_error, "last_seen": self.last_seen,
                "modern": list(self.modern)}
