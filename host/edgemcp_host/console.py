"""A board's serial console for the everyday commands (deploy, config, repl, logs): a serial
port, or `virtual` — the unix build on a pseudo-terminal, given a second pseudo-terminal of its
own so that mpremote (or any terminal program) opens it by path like a board's port.

mpremote's SerialTransport does the talking (raw REPL, file transfer, hashes on the device)."""
from __future__ import annotations

import contextlib
import os
import pathlib
import select
import subprocess
import threading
import tty

from . import paths

PORT_HELP = ("the board's serial port (/dev/ttyACM0, /dev/ttyUSB0, COM3), or [NAME=]virtual: "
             "the virtual device NAME (default virtual1) with its filesystem in VDEV_ROOT/NAME")


class ConsoleError(Exception):
    """The console could not be opened or did not answer as a MicroPython board does."""


def add_port_arguments(p):
    p.add_argument("--port", "-p", metavar="PORT", default=os.environ.get("EDGEMCP_PORT"),
                   help=PORT_HELP + " (default: $EDGEMCP_PORT)")
    p.add_argument("--baud", type=int, default=115200, help="serial baud rate (default 115200)")
    p.add_argument("--vdev-root", metavar="DIR",
                   help="parent folder of the virtual devices' filesystems (default build/vdev)")


class VirtualConsole:
    """The virtual device on a pseudo-terminal in raw mode (the same way the bridge runs it),
    relayed to a second pseudo-terminal whose path (/dev/pts/N) is the "port" tools open."""

    def __init__(self, root, name="virtual1", binary=None, env=None):
        self.root = pathlib.Path(root).resolve()
        self.name = name
        self.binary = str(binary or paths.device_binary())
        self.env = env or {}
        self.proc = None
        self.path = None
        self._fds = []
        self._stop = None
        self._thread = None

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        dev_m, dev_s = os.openpty()
        host_m, host_s = os.openpty()
        for fd in (dev_s, host_s):
            tty.setraw(fd)  # no echo, no CR/LF mapping, no signals from control bytes
        env = dict(os.environ, EDGEMCP_ROOT=str(self.root), EDGEMCP_DEVICE_ID=self.name, **self.env)

        try:
            self.proc = subprocess.Popen([self.binary, "-m", "edgemcp"], stdin=dev_s, stdout=dev_s,
                                         stderr=dev_s, env=env, cwd=str(self.root),
                                         start_new_session=True, close_fds=True)
        except OSError as e:
            for fd in (dev_m, dev_s, host_m, host_s):
                os.close(fd)
            raise ConsoleError(f"cannot start the virtual device {self.binary}: {e}") from e
        os.close(dev_s)
        # host_s stays open here: without it the relay would see the port "hang up" between
        # two openings by the tools
        self._fds = [dev_m, host_m, host_s]
        self.device_fd = dev_m  # the device's own end, for writing to it behind the port's back
        self.path = os.ttyname(host_s)
        self._stop = os.pipe()
        self._thread = threading.Thread(target=self._relay, args=(dev_m, host_m), daemon=True)
        self._thread.start()
        return self.path

    def _relay(self, a, b):
        stop = self._stop[0]
        while True:
            r, _, _ = select.select([a, b, stop], [], [])
            if stop in r:
                return
            for src, dst in ((a, b), (b, a)):
                if src in r:
                    try:
                        data = os.read(src, 65536)
                    except OSError:  # the device exited
                        return
                    if not data:
                        return
                    view = memoryview(data)
                    while view:
                        view = view[os.write(dst, view):]

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._stop:
            os.write(self._stop[1], b"x")
            self._thread.join(5)
            for fd in (*self._fds, *self._stop):
                os.close(fd)
            self._stop = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()


def virtual_spec(port):
    """NAME for `[NAME=]virtual`, else None."""
    name, sep, target = (port or "").partition("=")
    if (target if sep else name) != "virtual":
        return None
    return name if sep else "virtual1"


@contextlib.contextmanager
def console_path(args):
    """The path to open for --port: the port itself, or a running virtual device's."""
    if not args.port:
        raise ConsoleError("no port: pass --port PORT (a serial port, or 'virtual')")
    name = virtual_spec(args.port)
    if name is None:
        if not os.path.exists(args.port) and "://" not in args.port:
            raise ConsoleError(f"port {args.port} does not exist (is the board plugged in?)")
        yield args.port
        return
    root = pathlib.Path(args.vdev_root or paths.REPO / "build/vdev") / name
    try:
        binary = paths.device_binary()
    except FileNotFoundError as e:
        raise ConsoleError(str(e)) from e
    with VirtualConsole(root, name, binary) as v:
        yield v.path


def transport(path, baud=115200):
    """An mpremote SerialTransport on the console."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport
    try:
        return SerialTransport(path, baudrate=baud)
    except (TransportError, OSError) as e:
        raise ConsoleError(f"cannot open {path}: {e}") from e


@contextlib.contextmanager
def raw_repl(args, restart=True):
    """mpremote's transport in the board's raw REPL (the running app is interrupted with
    Ctrl-C; a soft reset gives a fresh interpreter without the app, as mpremote does). On the
    way out, also after an error, restart: leave the raw REPL and soft-reset so that the app
    runs again; else the board stays at its REPL."""
    from mpremote.transport import TransportError
    with console_path(args) as path:
        t = transport(path, args.baud)
        try:
            try:
                t.enter_raw_repl(soft_reset=True)
            except TransportError as e:
                raise ConsoleError(f"{args.port}: no MicroPython raw REPL answered ({e})") from e
            yield t
        finally:
            with contextlib.suppress(Exception):
                if t.in_raw_repl:
                    t.exit_raw_repl()
                if restart:
                    t.serial.write(b"\x04")
                    t.read_until(1, b"soft reboot\r\n", timeout=5)
            t.close()


def replace(t, tmp, dest):
    """Rename tmp over dest on the board: one step where the filesystem can (LittleFS, POSIX),
    else remove dest first (FAT refuses to rename over a file)."""
    t.exec("import os\ntry:\n os.rename(%r, %r)\nexcept OSError:\n os.remove(%r)\n os.rename(%r, %r)"
           % (tmp, dest, dest, tmp, dest))
