# The serial link: one JSON-RPC message per line on the console (the board's USB-CDC REPL
# console, stdin/stdout on the unix build). Lines go into one preallocated buffer; a line over
# the maximum is dropped whole and answered -32600. A raw Ctrl-C (0x03, never part of a JSON
# text) leaves the app for the REPL.
import sys
import asyncio
from . import server


async def serve(max_line):
    buf = bytearray(max_line + 1)
    mv = memoryview(buf)
    out = sys.stdout.buffer

    def write(b):
        out.write(b)
        out.write(b"\n")

    s = server.open_session(write)
    inp = asyncio.StreamReader(sys.stdin.buffer)
    n = 0  # bytes held in buf
    overlong = False  # dropping the rest of a line that was too long
    try:
        while True:
            if n == len(buf):  # full and no newline: drop what we have, keep dropping to the newline
                overlong = True
                n = 0
            k = await inp.readinto(mv[n:])
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
