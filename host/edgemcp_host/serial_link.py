"""One device behind a serial line: a board's USB port (pyserial) or a virtual device (the unix
build on a pseudo-terminal). The device speaks MCP JSON-RPC, one message per line.

A DeviceLink owns the line: it initializes the device itself, multiplexes requests from many
clients (ids rewritten to the link's own counter), applies per-request timeouts, routes the
device's notifications and turns non-JSON lines into log records. When the device goes away
(reset, port unplugged, process died) every request in flight fails with LinkError, and the
link reopens the port (respawns a virtual device), initializes again and reports "up" again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import re
import subprocess
import time
import tty

from . import __version__, paths
from .link import INTERNAL_ERROR, DeviceError, Link, LinkError  # noqa: F401  (re-exported)

log = logging.getLogger("edgemcp.link")

PROTOCOL_VERSION = "2025-11-25"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_LINE = 1 << 20  # a longer line is garbage (no device message is this big): dropped whole
CANCEL_GRACE = 1.5  # seconds a device's messages already on the wire may trail a cancellation
# What a board prints when it restarts behind an open port: MicroPython's soft reset, the
# ESP32 ROM's boot lines (a reset through a USB-UART bridge).
RESET_RE = re.compile(rb"^(MPY: soft reboot|rst:0x[0-9a-f]+ \(|ESP-ROM:)")
# MicroPython's REPL banner: the app has ended (Ctrl-C, a crash) and the board waits at ">>>".
REPL_RE = re.compile(rb'^Type "help\(\)" for more information')
SOFT_RESET = b"\x04"  # Ctrl-D at the REPL: soft reset, which starts the app again


class FdChannel:
    """Bytes in and out of a non-blocking file descriptor on the asyncio loop: the common path
    of a USB serial port and a virtual device's pseudo-terminal."""

    def __init__(self, fd, on_data, on_closed):
        self.fd = fd
        self._on_data = on_data
        self._on_closed = on_closed
        self._out = bytearray()
        self._writer = False  # waiting for the fd to take more
        self._closed = False
        self._loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def _readable(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: the other end of the pty closed, or the USB port vanished
            self._close(f"read failed: {e.strerror}")
            return
        if not data:
            self._close("end of file")
            return
        self._on_data(data)

    def write(self, data):
        if self._closed:
            raise LinkError("link is down")
        # Messages written in one turn of the loop go out in one system call.
        if not self._out:
            self._loop.call_soon(self._writable)
        self._out += data

    def _writable(self):
        if self._closed or not self._out:
            return
        try:
            n = os.write(self.fd, self._out)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._close(f"write failed: {e.strerror}")
            return
        del self._out[:n]
        if self._out and not self._writer:
            self._writer = True
            self._loop.add_writer(self.fd, self._writable)
        elif not self._out and self._writer:
            self._writer = False
            self._loop.remove_writer(self.fd)

    def _close(self, why):
        if self._closed:
            return
        self.close()
        self._on_closed(why)

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self.fd)
        self._loop.remove_writer(self.fd)
        self._out.clear()


class SerialPort:
    """A board on a serial port, opened with pyserial."""

    kind = "serial"

    def __init__(self, port):
        self.port = port
        self._ser = None
        self.pid = None

    def describe(self):
        return self.port

    async def open(self):
        import serial  # only boards need pyserial at run time

        def _open():
            return serial.Serial(self.port, 115200, timeout=0, exclusive=True)

        try:
            self._ser = await asyncio.to_thread(_open)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"cannot open {self.port}: {e}") from e
        return self._ser.fileno()

    async def close(self):
        if self._ser is not None:
            try:
                self._ser.close()
            except OSError:
                pass
            self._ser = None


class VirtualDevice:
    """The unix build of the firmware (`micropython-edgemcp -m edgemcp`) on a pseudo-terminal in
    raw mode, so its bytes take the same path as a board's. Each one has its own filesystem
    root (EDGEMCP_ROOT) and device id (EDGEMCP_DEVICE_ID)."""

    kind = "virtual"

    def __init__(self, name, root, binary):
        self.name = name
        self.root = pathlib.Path(root)
        self.binary = binary
        self.proc = None
        self._master = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def describe(self):
        return f"virtual ({self.root})"

    async def open(self):
        binary = str(self.binary)
        self.root.mkdir(parents=True, exist_ok=True)
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation, no signals from control bytes
        env = dict(os.environ, EDGEMCP_ROOT=str(self.root), EDGEMCP_DEVICE_ID=self.name)
        try:
            self.proc = subprocess.Popen(
                [binary, "-m", "edgemcp"], stdin=slave, stdout=slave, stderr=slave, env=env,
                cwd=str(self.root), start_new_session=True, close_fds=True)
        except OSError as e:
            os.close(master)
            raise LinkError(f"cannot start virtual device {binary}: {e}") from e
        finally:
            os.close(slave)
        self._master = master
        return master

    async def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    await asyncio.to_thread(self.proc.wait, 3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    await asyncio.to_thread(self.proc.wait)
            self.proc = None
        if self._master is not None:
            os.close(self._master)
            self._master = None


class _Pending:
    __slots__ = ("method", "future", "on_progress", "on_log", "timer", "timeout", "tasks")

    def __init__(self, method, future, timeout, on_progress, on_log):
        self.method = method
        self.timeout = timeout
        self.future = future
        self.on_progress = on_progress
        self.on_log = on_log
        self.timer = None
        self.tasks = []  # forwarded notifications, finished before the result goes back

    def run(self, coro):
        self.tasks.append(asyncio.ensure_future(coro))


class DeviceLink(Link):
    """A device on a serial line, shared by all clients of the bridge (listeners: see Link).
    Stray messages count only when they come more than CANCEL_GRACE after the device was told
    to stop (or were never asked for)."""

    def __init__(self, name, transport, **kw):
        if not NAME_RE.match(name):
            raise ValueError(f"device name {name!r}: use 1-32 of A-Z a-z 0-9 _ -")
        super().__init__(name, transport, **kw)
        self._cancelled = {}  # request id -> when the device was told to stop
        self._buf = bytearray()
        self._chan = None
        self._reset = asyncio.Event()

    async def _shutdown(self):
        self._drop("bridge shutting down")
        await self.transport.close()

    async def _supervise(self):
        while True:
            self._closed.clear()
            try:
                fd = await self.transport.open()
                self._buf.clear()
                self._chan = FdChannel(fd, self._on_data, self._on_closed)
                while True:  # once per start of the device app on this port
                    self._reset.clear()
                    await self._initialize()
                    self.state = "up"
                    self.connects += 1
                    self._ready.set()
                    log.info("device %s up (%s)", self.name, self.transport.describe())
                    self._emit("edgemcp/up", {"reconnect": self.connects > 1})
                    closed = asyncio.ensure_future(self._closed.wait())
                    reset = asyncio.ensure_future(self._reset.wait())
                    await asyncio.wait({closed, reset}, return_when=asyncio.FIRST_COMPLETED)
                    closed.cancel()
                    reset.cancel()
                    if self._closed.is_set():
                        break
                    # Rebooted behind an open port (a soft reset): same line, new app session.
                    self._down(self.last_error, keep_channel=True)
                why = self.last_error or "link closed"
            except (LinkError, DeviceError, OSError) as e:
                why = self.last_error = str(e)
                log.warning("device %s: %s", self.name, e)
            self._down(why)
            await self.transport.close()
            await asyncio.sleep(self.retry_interval)

    def _down(self, why, keep_channel=False):
        was_up = self.state == "up"
        self.state = "down"
        self._ready.clear()
        if self._chan and not keep_channel:
            self._chan.close()
            self._chan = None
        self._drop(f"device {self.name!r} disconnected ({why}); the bridge is reconnecting")
        if was_up:
            log.warning("device %s down: %s", self.name, why)
            self._emit("edgemcp/down", {"reason": why})

    def _drop(self, message):
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(LinkError(message))

    def _on_closed(self, why):
        self.last_error = why
        self._closed.set()

    async def _initialize(self):
        # A few tries: a board still booting, or restarting its app from the REPL, drops what
        # it is sent meanwhile.
        for attempt in range(3):
            try:
                r = await self._request("initialize", {
                    "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                    "clientInfo": {"name": "edgemcp-bridge", "version": __version__}}, self.init_timeout / 3)
                break
            except LinkError:
                if attempt == 2 or self._chan is None:
                    raise
        self.protocol_version = r.get("protocolVersion")
        self.server_info = r.get("serverInfo") or {}
        self.capabilities = r.get("capabilities") or {}
        self.instructions = r.get("instructions")
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.tools = await self._list_all("tools/list", "tools", self.init_timeout) \
            if "tools" in self.capabilities else []

    # ----- the wire

    def _send(self, msg):
        if self._chan is None:
            raise LinkError(f"device {self.name!r} is not connected; the bridge is reconnecting")
        # json.dumps escapes every control byte, so a raw 0x03 (the device's "leave to the REPL")
        # can never go out.
        self._chan.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def _on_data(self, data):
        self._buf += data
        while True:
            i = self._buf.find(b"\n")
            if i < 0:
                if len(self._buf) > MAX_LINE:
                    self._console(b"<%d bytes without a line end dropped>" % len(self._buf))
                    self._buf.clear()
                return
            line = bytes(self._buf[:i]).rstrip(b"\r")
            del self._buf[:i + 1]
            if line:
                self._on_line(line)

    def _on_line(self, line):
        msg = None
        if line[:1] == b"{":
            try:
                msg = json.loads(line)
            except ValueError:
                msg = None
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            self._console(line)
            return
        if "method" in msg:
            if "id" in msg:  # the device asked us something: nothing to answer with
                self._send({"jsonrpc": "2.0", "id": msg["id"],
                            "error": {"code": -32601, "message": "the bridge serves no requests"}})
            else:
                self._on_notification(msg["method"], msg.get("params") or {})
            return
        p = self._pending.pop(msg.get("id"), None)
        if p is None:
            self._stray(msg.get("id"), "response", line)
            return
        if p.future.done():
            return
        if "error" in msg and isinstance(msg["error"], dict):
            p.future.set_exception(DeviceError(msg["error"]))
        else:
            p.future.set_result(msg.get("result") or {})

    def _stray(self, rid, what, detail):
        t = self._cancelled.get(rid)
        if t is not None and time.monotonic() - t < CANCEL_GRACE:
            log.debug("device %s: %s already under way when request %s was cancelled", self.name, what, rid)
            return
        self.stray += 1
        log.info("device %s: stray %s (no request waits for it): %.200s", self.name, what, detail)

    def _console(self, line):
        text = line.decode("utf-8", "replace")
        if RESET_RE.match(line) and self.state == "up":
            self.last_error = f"device reset: {text.strip()}"
            self._reset.set()
        elif REPL_RE.match(line) and self._chan is not None:
            log.warning("device %s left the app for the REPL: restarting it (soft reset)", self.name)
            self.last_error = "device left the app for the REPL"
            self._chan.write(SOFT_RESET)
        logging.getLogger(f"edgemcp.device.{self.name}").info("%s", text)
        self._emit("notifications/message", {"level": "info", "logger": "console", "data": text})

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

    # ----- requests

    async def _request(self, method, params, timeout, on_progress=None, on_log=None):
        rid = next(self._ids)
        if params is None:
            params = {}
        if on_progress is not None:
            params = dict(params, _meta={"progressToken": rid})
        fut = asyncio.get_running_loop().create_future()
        p = _Pending(method, fut, timeout, on_progress, on_log)
        self._pending[rid] = p
        try:
            self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            p.timer = self._arm(p)
            result = await fut
            if p.tasks:  # progress and log messages go out before the result
                await asyncio.gather(*p.tasks, return_exceptions=True)
            return result
        except BaseException:
            # Cancelled by the client, timed out, or the link failed: the device stops the work.
            if self._pending.pop(rid, None) is not None and self._chan is not None:
                now = time.monotonic()
                if len(self._cancelled) > 1000:
                    self._cancelled = {k: t for k, t in self._cancelled.items() if now - t < CANCEL_GRACE}
                self._cancelled[rid] = now
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

    def _arm(self, p):
        def expire():
            if not p.future.done():
                p.future.set_exception(LinkError(
                    f"device {self.name!r} did not answer {p.method} within {p.timeout:g} s"))
        return asyncio.get_running_loop().call_later(p.timeout, expire)


_tasks = set()


def spawn(coro):
    t = asyncio.ensure_future(coro)
    _tasks.add(t)
    t.add_done_callback(_tasks.discard)


def make_link(spec, index, *, vdev_root=None, timeout=60.0):
    """A link from a command-line spec: `[NAME=]virtual` or `[NAME=]PORT`."""
    name, sep, target = spec.partition("=")
    if not sep:
        name, target = "", spec
    if target == "virtual":
        name = name or f"virtual{index}"
        root = pathlib.Path(vdev_root or paths.REPO / "build/vdev") / name
        transport = VirtualDevice(name, root, paths.device_binary())
    else:
        name = name or re.sub(r"[^A-Za-z0-9_-]", "_", os.path.basename(target))[:32] or f"board{index}"
        transport = SerialPort(target)
    return DeviceLink(name, transport, timeout=timeout)


__all__ = ["DeviceLink", "DeviceError", "LinkError", "SerialPort", "VirtualDevice", "make_link"]
