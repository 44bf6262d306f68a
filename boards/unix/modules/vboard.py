# The virtual device's board: what a real board's start-up gives the firmware.
# The board's filesystem root "/" is a host folder: EDGEMCP_ROOT, default build/vdev/<device id>
# under the current directory, so "/edgemcp.json" and "/models/" mean the same as on the board.
import os
import sys
import vfs


def _mkdirs(path):
    p = ""
    for part in path.split("/"):
        p = p + part + "/" if p or not part else part + "/"
        try:
            os.mkdir(p)
        except OSError:
            pass


class _Root(vfs.VfsPosix):
    def rename(self, old, new):
        # VfsPosix (1.25) builds both rooted paths in one buffer, so rename("/a", "/b") fails:
        # give it the new path relative to the current folder (the process's own cwd)
        if new.startswith("/"):
            cwd = os.getcwd()
            new = "../" * (cwd.count("/") if cwd != "/" else 0) + new[1:]
        super().rename(old, new)


def mount_root():
    root = os.getenv("EDGEMCP_ROOT")
    if not root:
        import binascii
        import machine
        root = os.getcwd() + "/build/vdev/" + binascii.hexlify(machine.unique_id()).decode()
    if not root.startswith("/"):
        root = os.getcwd() + "/" + root
    _mkdirs(root)
    # Stock MicroPython runs the package from host folders on sys.path (MICROPYPATH): they stay
    # importable under the board's root, each mounted where its path (from "/") points to it
    keep = []
    for p in sys.path:
        if p and not p.startswith(".frozen"):
            host = p if p.startswith("/") else os.getcwd() + "/" + p
            try:
                if os.stat(host)[0] & 0o170000 == 0o040000:
                    keep.append((host, p if p.startswith("/") else "/" + p))
            except OSError:
                pass
    vfs.umount("/")
    vfs.mount(_Root(root), "/")
    for host, at in keep:
        vfs.mount(vfs.VfsPosix(host), at)
    os.chdir("/")


mount_root()


# The console: fd 0/1, a pseudo-terminal in raw mode (or pipes). Bytes read but not used yet
# wait in _rx: the REPL reads them first (a board's console driver keeps what follows a Ctrl-C).
_libc_read = None
_rx = bytearray()


def _read(mv):
    global _libc_read
    if _libc_read is None:
        import ffi
        _libc_read = ffi.open("libc.so.6").func("i", "read", "ipi")
    while True:
        n = _libc_read(0, mv, len(mv))
        if n >= 0 or os.errno() != 4:  # retry EINTR; EIO (pty closed) is end of input
            return n if n > 0 else 0


_scan = bytearray(256)


def _find_ctrl_c(mv, n):
    # in slices through a small buffer: a copy of the whole read (up to max_line bytes) could
    # fail on a board-sized heap where the app itself would not
    j = 0
    while j < n:
        m = min(n - j, len(_scan))
        _scan[:m] = mv[j:j + m]
        k = _scan.find(b"\x03", 0, m)
        if k >= 0:
            return j + k
        j += m
    return -1


def console_readinto(mv):
    """The app's console read: one read(2) of what has arrived (MicroPython's stream readinto
    on a blocking fd waits for the whole buffer). Stops after a Ctrl-C (0x03: the app leaves
    for the REPL); what came after it stays for the REPL."""
    if _rx:
        n = min(len(mv), len(_rx))
        mv[:n] = _rx[:n]
        _rx[:n] = b""
    else:
        n = _read(mv)
    i = _find_ctrl_c(mv, n)
    if i >= 0:
        _rx[0:0] = mv[i + 1:n]
        n = i + 1
    return n


# ---- The board loop: what a board's main loop does (MicroPython's pyexec): run the app, then
# the REPL on the console: friendly (">>> "), raw (Ctrl-A; mpremote's protocol with raw-paste),
# Ctrl-D soft reset (the app runs again, as main.py does on a board).
_EOF, _SOFT, _RAW, _FRIENDLY = -1, 1, 2, 3
_w = sys.stdout.buffer.write
_one = bytearray(1)
_chunk = None  # the raw REPL's read buffer, made when it is first used: a board's is not on the heap
_tty = None  # the console's termios attributes when it is a terminal
_ttyset = None


def _tty_mode(oflag):
    # input always raw (no echo, no CR/NL mapping, no line buffer, no signals: `-m` runs
    # without MicroPython's SIGINT handler, a signal would kill the board); while REPL code
    # runs, OPOST|ONLCR: its print()s end lines with \r\n, as a board's console sends
    global _ttyset
    if _tty is None or _ttyset == oflag:
        return
    import termios
    a = [_tty[0] & ~0o2762, oflag, (_tty[2] & ~0o460) | 0o60, 0, _tty[4], _tty[5], list(_tty[6])]
    a[6][6], a[6][5] = 1, 0  # VMIN, VTIME
    termios.tcsetattr(0, 0, a)
    _ttyset = oflag


def _getc(chunk=False):
    # next console byte, -1 at end of input; chunk: read what has arrived (raw REPL, where the
    # host waits for an answer after each Ctrl-D), else one byte (never take the app's bytes)
    global _chunk
    if chunk and _chunk is None:
        _chunk = bytearray(4096)
    if not _rx:
        n = _read(_chunk if chunk else _one)
        if not n:
            return -1
        _rx[:] = memoryview(_chunk if chunk else _one)[:n]
    c = _rx[0]
    _rx[:1] = b""
    return c


def _at_eof():
    import select
    p = select.poll()
    p.register(0, select.POLLIN)
    ev = p.poll(0)
    if _rx or not ev:
        return False
    if ev[0][1] & (select.POLLHUP | select.POLLERR):
        return True
    n = _read(_one)
    _rx[:] = _one[:n]
    return not n


def _print_exc(e):
    import io
    f = io.StringIO()
    sys.print_exception(e, f)
    for line in f.getvalue().split("\n"):
        if line and "vboard.py" not in line:  # the board's own frames: not the user's
            _w(line.encode() + b"\r\n")


def _exec(src, mode, g, raw):
    # raw: mpremote's framing, output \x04 exception \x04
    _tty_mode(5)
    r = 0
    try:
        exec(compile(bytes(src).decode(), "<stdin>", mode), g)
        if raw:
            _w(b"\x04")
    except SystemExit:
        if raw:
            _w(b"\x04")
        r = _SOFT
    except BaseException as e:
        if raw:
            _w(b"\x04")
        _tty_mode(0)
        _print_exc(e)
    _tty_mode(0)
    if raw:
        _w(b"\x04")
    return r


def _raw_paste(cmd, g):
    if cmd != 65:  # only "A" is known
        _w(b"R\x00")
        return 0
    win = 2048
    _w(b"R\x01" + bytes((win & 255, win >> 8, 1)))  # the window, and one more window free
    src = bytearray()
    left = win
    while True:
        c = _getc(True)
        if c < 0:
            return _EOF
        if c == 3 or c == 4:
            _w(b"\x04")  # end of data seen
            if c == 3:
                _w(b"\x04")
                _print_exc(KeyboardInterrupt())
                _w(b"\x04")
                return 0
            return _exec(src, "exec", g, True)
        src.append(c)
        left -= 1
        if not left:
            _w(b"\x01")
            left = win


def _raw_repl(g):
    _w(b"raw REPL; CTRL-B to exit\r\n")
    while True:
        _w(b">")
        line = bytearray()
        while True:
            c = _getc(True)
            if c < 0:
                return _EOF
            if c == 1:
                if len(line) == 2 and line[0] == 5:
                    r = _raw_paste(line[1], g)
                    if r:
                        return r
                    line = bytearray()
                    _w(b">")
                    continue
                _w(b"raw REPL; CTRL-B to exit\r\n")
                line = bytearray()
            elif c == 2:
                _w(b"\r\n")
                return _FRIENDLY
            elif c == 3:
                line = bytearray()
            elif c == 4:
                break
            else:
                line.append(c)
        _w(b"OK")
        if not line:
            _w(b"\r\n")
            return _SOFT
        r = _exec(line, "exec", g, True)
        if r:
            return r


_history = []


def _readline(prompt):
    # (control char that ended it or 0 for Enter, the line); a board's readline, minus tab
    # completion and cursor movement within the line
    _w(prompt)
    line = bytearray()
    h = len(_history)
    last = 0
    while True:
        c = _getc()
        if c < 0:
            return _EOF, line
        if c == 10 and last == 13:
            last = 0
            continue
        last = c
        if c in (13, 10):
            _w(b"\r\n")
            if line and (not _history or _history[-1] != line):
                _history.append(bytes(line))
                del _history[:-20]
            return 0, line
        if c == 3 or (c in (1, 2, 4, 5) and not line):
            return c, line
        if c in (8, 127):
            if line:
                while line and 128 <= line[-1] < 192:  # a UTF-8 character's continuation bytes
                    line.pop()
                line.pop()
                _w(b"\x08 \x08")
        elif c == 27:  # escape sequence: up/down walk the history, others are ignored
            c = _getc()
            if c in (91, 79):
                c = _getc()
                while 48 <= c <= 57 or c == 59:
                    c = _getc()
                if c in (65, 66) and _history:
                    h = max(0, h - 1) if c == 65 else min(len(_history), h + 1)
                    line = bytearray(_history[h] if h < len(_history) else b"")
                    _w(b"\r" + prompt + line + b"\x1b[K")
        elif c >= 32 or c == 9:
            line.append(c)
            _w(bytes((c,)))


def _continues(src):
    # more lines needed: an open bracket or triple-quoted string, a trailing ":" or "\", or a
    # compound statement not yet ended by an empty line
    lines = src.split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        return False
    depth, i, q = 0, 0, None
    while i < len(src):
        ch = src[i]
        if q:
            if ch == "\\":
                i += 1
            elif src.startswith(q, i):
                i += len(q) - 1
                q = None
        elif ch == "#":
            while i < len(src) and src[i] != "\n":
                i += 1
        elif ch in "\"'":
            q = src[i:i + 3] if src[i:i + 3] in ('"""', "\'\'\'") else ch
            i += len(q) - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        i += 1
    if depth > 0 or (q and len(q) == 3):
        return True
    if src.rstrip().endswith((":", "\\")):
        return True
    return len(lines) > 1


def _friendly_repl(g):
    v = sys.version.split("; ", 1)
    _w(("%s; %s\r\nType \"help()\" for more information.\r\n" % (v[-1], sys.implementation._machine)).encode())
    while True:
        r, line = _readline(b">>> ")
        if r == _EOF:
            return r
        if r == 1:
            _w(b"\r\n")
            return _RAW
        if r == 2:
            _w(b"\r\n")
            return _FRIENDLY
        if r == 3:
            _w(b"\r\n")
            continue
        if r == 4:
            _w(b"\r\n")
            return _SOFT
        mode = "single"
        if r == 5:
            _w(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
            line = bytearray()
            while True:
                c = _getc()
                if c < 0:
                    return _EOF
                if c in (3, 4):
                    _w(b"\r\n")
                    break
                line.append(10 if c == 13 else c)
                _w(b"\r\n=== " if c == 13 else bytes((c,)))
            if c == 3:
                continue
            mode = "exec"
        elif not line:
            continue
        else:
            while _continues(line.decode()):
                line.append(10)
                r, more = _readline(b"... ")
                if r == _EOF:
                    return r
                if r == 3:
                    _w(b"\r\n")
                    break
                if r == 4:
                    break
                line += more
            if r == 3:
                continue
        if _exec(line, mode, g, False):
            return _SOFT


def _run_app(name):
    # the app, as main.py on a board: Ctrl-C (KeyboardInterrupt) or its end leaves for the REPL;
    # SystemExit (machine.soft_reset()) is a soft reset
    _tty_mode(0)
    try:
        __import__(name).main()
    except SystemExit:
        return _SOFT
    except KeyboardInterrupt:
        pass
    except BaseException as e:
        _print_exc(e)
    return 0


def board_loop(app="edgemcp"):
    """Run the app `app`.main() and the REPL around it, as a board does, until the console's
    input ends (the host closed it)."""
    global _tty
    try:
        import termios
        _tty = termios.tcgetattr(0)
    except (ImportError, OSError):
        _tty = None  # pipes: no terminal to set up
    mode = _FRIENDLY
    while True:
        r = _run_app(app) if mode == _FRIENDLY else 0
        if not r:
            if mode == _FRIENDLY and _at_eof():
                return
            g = {"__name__": "__main__"}
            while True:
                _tty_mode(0)
                try:
                    r = _raw_repl(g) if mode == _RAW else _friendly_repl(g)
                except KeyboardInterrupt:  # a SIGINT while waiting for input
                    _w(b"\r\n")
                    continue
                if r == _EOF:
                    return
                if r == _SOFT:
                    break
                mode = r
        _w(b"MPY: soft reboot\r\n")
        for m in list(sys.modules):  # a fresh start for everything but the board itself
            if m not in ("vboard", "__main__"):
                del sys.modules[m]
        import gc
        gc.collect()
