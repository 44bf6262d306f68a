# The serial link: one JSON-RPC message per line on the console (the board's USB-CDC REPL
# console, stdin/stdout on the unix build). Lines go into one preallocated buffer; a line over
# the maximum is dropped whole and answered -32600. A raw Ctrl-C (0x03, never part of a JSON
# text) leaves the app for the REPL.
import sys
import select
import asyncio
from . import server

_stdin = sys.stdin.buffer
try:
    from vboard import console_readinto as _readinto  # the unix build: one read(2)
except ImportError:
    _poll = select.poll()
    _poll.register(_stdin, select.POLLIN)
    _one = bytearray(1)

    def _readinto(mv):
        # A board's console read blocks until it has every byte asked for: take what is there.
        k = 0
        while k < len(mv) and _poll.poll(0):
            _stdin.readinto(_one)
            mv[k] = _one[0]
            k += 1
        return k


def _readable():
    yield asyncio.core._io_queue.queue_read(_stdin)


async def serve(max_line):
    buf = bytearray(max_line + 1)
    mv = memoryview(buf)
    out = sys.stdout.buffer

    def write(b):
        out.write(b)
        out.write(b"\n")

    s = server.open_session(write)
    n = 0  # bytes held in buf
    overlong = False  # dropping the rest of a line that was too long
    try:
        while True:
            if n == len(buf):  # full and no newline: drop what we have, keep dropping to the newline
                overlong = True
                n = 0
            await _readable()
            k = _readinto(mv[n:])
            if not k:
                return  # end of input: the host closed the link
            if buf.find(b"\x03", n, n + k) >= 0:
                raise KeyboardInterrupt
            start = 0
            i = buf.find(b"\n", n, n + k)
            n += k
            while i >= 0:
                if overlong:
                    overlong = False
                    server.error(s, None, server.INVALID_REQUEST, "message longer than %d bytes dropped" % max_line)
                elif i > start and not (i == start + 1 and buf[start] == 13):  # skip empty lines
                    server.receive(s, mv[start:i])
                start = i + 1
                i = buf.find(b"\n", start, n)
            if start:
                mv[0:n - start] = mv[start:n]
                n -= start
    finally:
        server.close_session(s)
