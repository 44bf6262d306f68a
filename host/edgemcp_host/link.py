"""What every device link of the bridge shares, whatever carries its messages (a serial line in
serial_link.py, MCP over MQTT in mqtt_link.py): the device's state as the bridge knows it, the
listeners that hear its notifications, a supervising task that keeps it connected, and requests
with ids of the link's own, paged lists included.

listeners: callables `listener(link, method, params)` for the device's notifications that are
for everyone (log messages, list-changed, resource updates) and for the link's own events:
"edgemcp/up" (initialized, after a reconnect too), "edgemcp/down".
"""
from __future__ import annotations

import asyncio
import itertools
import logging

log = logging.getLogger("edgemcp.link")

INTERNAL_ERROR = -32603
MAX_PAGES = 1000  # a device that pages forever cannot hang the bridge


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


class Link:
    """Subclasses provide `_supervise()` (connect, initialize, set `_ready`, reconnect),
    `_request(method, params, timeout, on_progress, on_log)` and `_shutdown()`."""

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
        self.state = "down"
        self.last_error = None
        self.connects = 0
        # Responses and progress for requests nobody waits for any more: a device that ignores
        # cancellation.
        self.stray = 0
        self._ids = itertools.count(1)
        self._pending = {}
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._task = None
        self._loop = None

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

    # ----- requests

    def _check_up(self):
        if self.state != "up":
            raise LinkError(f"device {self.name!r} is not connected ({self.last_error}); the bridge is reconnecting")

    async def request(self, method, params=None, *, timeout=None, on_progress=None, on_log=None):
        """Send one request to the device and return its result. Raises DeviceError (the device's
        JSON-RPC error) or LinkError (down, timeout)."""
        self._check_up()
        return await self._request(method, params, timeout or self.timeout, on_progress, on_log)

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
                "pending": len(self._pending), "last_error": self.last_error}
