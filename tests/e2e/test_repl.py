"""The virtual device's board-level REPL on its pseudo-terminal, as a board's console: the app
runs until Ctrl-C, then the friendly REPL; mpremote's raw REPL (with raw-paste) through the
real mpremote, as a library and as a command; Ctrl-D soft reset restarts the app; and
`edgemcp repl` driven on a terminal: evaluate, leave with Ctrl-]."""
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from support import DEVICE_BIN, ROOT
from _support.deploy import mcp_initialize


class Reader:
    """Reads a pseudo-terminal's fd or a serial port up to a marker. One read can bring the
    marker and what follows it (a loaded machine schedules the reader late: "Connected ...",
    the banner and ">>> " in one chunk); what follows stays for the next until()."""

    def __init__(self, fd_or_serial):
        self.src = fd_or_serial
        self.rest = b""

    def until(self, marker, timeout=10):
        out, self.rest = self.rest, b""
        end = time.monotonic() + timeout
        while marker not in out:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {timeout} s; got {out[-400:]!r}")
            if isinstance(self.src, int):
                if select.select([self.src], [], [], left)[0]:
                    try:
                        out += os.read(self.src, 4096)
                    except OSError:  # EIO: the other side closed the terminal
                        raise AssertionError(f"no {marker!r} before the end; got {out[-400:]!r}")
            else:
                out += self.src.read(256)
        i = out.index(marker) + len(marker)
        out, self.rest = out[:i], out[i:]
        return out


def test_app_ctrl_c_repl_and_soft_reset(vconsole):
    import serial
    assert mcp_initialize(vconsole.path)["serverInfo"]["name"]
    with serial.Serial(vconsole.path, timeout=0.1) as s:
        r = Reader(s)
        s.write(b"\x03")  # JSON never holds a raw 0x03: the app leaves for the REPL
        banner = r.until(b">>> ")
        assert b"MicroPython v1.25" in banner and b'Type "help()"' in banner
        s.write(b"x = 6 * 7\rx\r")
        assert b"x\r\n42\r\n>>> " in r.until(b"42\r\n>>> ")
        s.write(b"for i in range(3):\r    print(i * i)\r\r")
        assert b"0\r\n1\r\n4\r\n>>> " in r.until(b"4\r\n>>> ")
        s.write(b"1/0\r")
        assert b"ZeroDivisionError: divide by zero\r\n>>> " in r.until(b"zero\r\n>>> ")
        s.write(b"\x04")  # soft reset: the app runs again
        assert b"MPY: soft reboot\r\n" in r.until(b"soft reboot\r\n")
    assert mcp_initialize(vconsole.path)["serverInfo"]["name"]


def test_raw_repl_with_mpremote_library(vconsole):
    from mpremote.transport import TransportExecError
    from mpremote.transport_serial import SerialTransport
    t = SerialTransport(vconsole.path)
    try:
        t.enter_raw_repl()  # Ctrl-C, Ctrl-A, Ctrl-D soft reset in raw mode, as mpremote does
        assert t.exec("print(6 * 7)") == b"42\r\n"
        assert t.use_raw_paste  # the device took the raw-paste request
        assert t.eval("[1, 'two', {'three': 3}]") == [1, "two", {"three": 3}]
        with pytest.raises(TransportExecError) as e:
            t.exec("import os\nos.stat('/no/such/file')")
        assert "OSError" in e.value.error_output and "ENOENT" in e.value.error_output
        big = "x = 0\n" + "x += 1\n" * 3000 + "print(x)"  # 21 kB: several raw-paste windows
        assert t.exec(big) == b"3000\r\n"
        t.exec("g = 'kept'")
        assert t.eval("g") == "kept"  # one namespace until the soft reset
        t.exit_raw_repl()
        t.enter_raw_repl(soft_reset=True)
        with pytest.raises(TransportExecError):
            t.eval("g")  # the soft reset cleared it
        t.exit_raw_repl()
        t.serial.write(b"\x04")
        t.read_until(1, b"soft reboot\r\n")
    finally:
        t.close()
    assert mcp_initialize(vconsole.path)["serverInfo"]["name"]


def test_mpremote_command(tmp_path, vconsole):
    mpremote = ROOT / ".venv/bin/mpremote"
    local = tmp_path / "data.bin"
    local.write_bytes(os.urandom(50_000))
    r = subprocess.run([str(mpremote), "connect", vconsole.path,
                        "fs", "mkdir", ":/d", "+", "fs", "cp", str(local), ":/d/data.bin", "+",
                        "fs", "sha256sum", ":/d/data.bin", "+",
                        "exec", "import os; print(sorted(os.listdir('/d')))"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    import hashlib
    assert hashlib.sha256(local.read_bytes()).hexdigest() in r.stdout
    assert "['data.bin']" in r.stdout
    assert (vconsole.root / "d/data.bin").read_bytes() == local.read_bytes()
    r = subprocess.run([str(mpremote), "connect", vconsole.path, "fs", "cp", ":/d/data.bin",
                        str(tmp_path / "back.bin")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == local.read_bytes()


def test_edgemcp_repl_on_a_terminal(vconsole):
    env = dict(os.environ, EDGEMCP_DEVICE_BIN=str(DEVICE_BIN), TERM="dumb")
    pid, fd = pty.fork()
    if pid == 0:  # the child: `edgemcp repl` with the pseudo-terminal as its terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "edgemcp_host.cli", "repl", "--port",
                                   vconsole.path], env)
    term = Reader(fd)
    try:
        assert b"Ctrl-] to leave" in term.until(b"Ctrl-] to leave")
        term.until(b">>> ")  # the app was stopped with Ctrl-C: the board's REPL
        os.write(fd, b"6 * 7\r")
        assert b"42\r\n>>> " in term.until(b"42\r\n>>> ")
        os.write(fd, b"import sys; sys.implementation.name\r")
        assert b"'micropython'" in term.until(b"'micropython'")
        os.write(fd, b"\x1d")  # Ctrl-]: leave
        term.until(b"Left the REPL")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    # the board stayed at its REPL (as with mpremote): Ctrl-D there restarts the app
    import serial
    with serial.Serial(vconsole.path, timeout=0.1) as s:
        r = Reader(s)
        s.write(b"\r")
        r.until(b">>> ")
        s.write(b"\x04")
        r.until(b"soft reboot\r\n")
    assert mcp_initialize(vconsole.path)["serverInfo"]["name"]


def test_repl_needs_a_terminal(vconsole):
    env = dict(os.environ, EDGEMCP_DEVICE_BIN=str(DEVICE_BIN))
    r = subprocess.run([sys.executable, "-m", "edgemcp_host.cli", "repl", "--port", vconsole.path],
                       capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "needs a terminal" in r.stderr


def test_pipes_end_quietly(tmp_path):
    # on pipes (no terminal), end of input ends the device without REPL chatter
    root = tmp_path / "root"
    root.mkdir()
    r = subprocess.run([str(DEVICE_BIN), "-m", "edgemcp"], input=b"", capture_output=True,
                       timeout=30, env=dict(os.environ, EDGEMCP_ROOT=str(root)))
    assert r.returncode == 0 and r.stdout == b"", (r.stdout, r.stderr)
