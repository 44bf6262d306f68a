"""One device behind a serial line: a board's USB port (pyserial) or a virtual device (the unix
build on a pseudo-terminal). The device speaks MCP JSON-RPC, one message per line.

A DeviceLink owns the line: it opens the port, frames messages as lines and turns non-JSON lines
into log records; the rest (initialize, requests of many clients on the link's own ids,
timeouts, routing the device's notifications) is the shared core in link.py. When the device goes away
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
import tty

from . import paths
from .link import DeviceError, Link, LinkError

log = logging.getLogger("edgemcp.link")

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_LINE = 1 << 20  # a longer line is garbage (no device message is this big): dropped whole
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


class DeviceLink(Link):
    """A device on a serial line, shared by all clients of the bridge (see Link): one JSON-RPC
    message a line; other lines are the device's console."""

    init_tries = 3  # a board still booting, or restarting its app from the REPL, drops what it is sent

    def __init__(self, name, transport, **kw):
        if not NAME_RE.match(name):
            raise ValueError(f"device name {name!r}: use 1-32 of A-Z a-z 0-9 _ -")
        super().__init__(name, transport, **kw)
        self._buf = bytearray()
        self._chan = None
        self._reset = asyncio.Event()

    async def _shutdown(self):
        self._fail_pending("bridge shutting down")
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
                    self._up()
                    closed = asyncio.ensure_future(self._closed.wait())
                    reset = asyncio.ensure_future(self._reset.wait())
                    await asyncio.wait({closed, reset}, return_when=asyncio.FIRST_COMPLETED)
                    closed.cancel()
                    reset.cancel()
                    if self._closed.is_set():
                        break
                    # Rebooted behind an open port (a soft reset): same line, new app session.
                    self._mark_down(self.last_error)
                why = self.last_error or "link closed"
            except (LinkError, DeviceError, OSError) as e:
                why = self.last_error = str(e)
                log.warning("device %s: %s", self.name, e)
            self._down(why)
            await self.transport.close()
            await asyncio.sleep(self.retry_interval)

    def _down(self, why):
        if self._chan:
            self._chan.close()
            self._chan = None
        self._mark_down(why)

    def _on_closed(self, why):
        self.last_error = why
        self._closed.set()

    # ----- the wire

    def _connected(self):
        return self._chan is not None

    def _send(self, msg, control=False):
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
        self._on_message(msg)

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


__all__ = ["DeviceLink", "SerialPort", "VirtualDevice", "make_link"]
