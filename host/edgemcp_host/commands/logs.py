"""`edgemcp logs`: the board's log records, live. An MCP client on the serial link: it
initializes, sets the logging level, prints the records the board kept (device://log) and
then every notifications/message as it comes, plus any console text that is not JSON-RPC
(tracebacks, boot messages)."""
import argparse
import json
import sys
import time

from .. import __version__, console
from ..protocol import LATEST_VERSION

EXAMPLES = """examples:
  edgemcp logs --port /dev/ttyACM0                  info and above, until Ctrl-C
  edgemcp logs --port /dev/ttyACM0 --level debug
  edgemcp logs --port virtual --json --count 10     10 records as JSON lines, then exit

The serial link is the board's only console: stop the bridge for that board first. If the app
does not answer (the board sits at the REPL), it is soft-reset so that it starts.
"""

LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


class LogsError(Exception):
    pass


class _Done(Exception):  # --count reached
    pass


class Link:
    """JSON-RPC lines on the console; text that is not JSON-RPC goes to on_text."""

    def __init__(self, ser, on_text):
        self.ser = ser
        self.on_text = on_text
        self.buf = b""
        self.next_id = 1

    def send(self, msg):
        self.ser.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def lines(self, timeout):
        """Messages (dicts) until timeout seconds pass without a full line."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            i = self.buf.find(b"\n")
            if i < 0:
                data = self.ser.read(self.ser.in_waiting or 1)
                if data:
                    self.buf += data
                continue
            line, self.buf = self.buf[:i].rstrip(b"\r"), self.buf[i + 1:]
            msg = None
            if line.startswith(b"{"):
                try:
                    msg = json.loads(line)
                except ValueError:
                    pass
            if isinstance(msg, dict) and msg.get("jsonrpc") == "2.0":
                end = time.monotonic() + timeout
                yield msg
            elif line.strip():
                self.on_text(line.decode("utf-8", "replace"))

    def request(self, method, params, timeout=3.0, on_other=None):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        for msg in self.lines(timeout):
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise LogsError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result") or {}
            if on_other:
                on_other(msg)
        return None


def restart_app(ser):
    """Whatever the board is doing (app, REPL, raw REPL): Ctrl-C, Ctrl-B to the friendly REPL,
    Ctrl-D soft reset: the app starts afresh."""
    ser.write(b"\r\x03")
    time.sleep(0.2)
    ser.write(b"\x02\x04")


def fmt(rec, as_json):
    if as_json:
        return json.dumps(rec)
    data = rec.get("data")
    text = data if isinstance(data, str) else json.dumps(data)
    stamp = time.strftime("%H:%M:%S")
    return f"{stamp} {rec.get('level', '?'):<9} {rec.get('logger') or '-'}: {text}"


def run(args):
    import serial
    shown = 0

    def show(rec):
        nonlocal shown
        print(fmt(rec, args.json), flush=True)
        shown += 1
        return args.count and shown >= args.count

    def on_text(text):
        if show({"level": "console", "logger": "console", "data": text}):
            raise _Done

    def on_msg(msg):
        if msg.get("method") == "notifications/message":
            if show(msg.get("params") or {}):
                raise _Done

    init = {"protocolVersion": LATEST_VERSION, "capabilities": {},
            "clientInfo": {"name": "edgemcp-logs", "version": __version__}}
    try:
        with console.console_path(args) as path:
            try:
                ser = serial.serial_for_url(path, baudrate=args.baud, timeout=0.1, exclusive=True)
            except (serial.SerialException, OSError) as e:
                raise LogsError(f"cannot open {args.port}: {e}") from e
            with ser:
                quiet = Link(ser, lambda text: None)  # REPL echo while starting: not log records
                result = None if args.restart else quiet.request("initialize", init, 2.0)
                if result is None:
                    restart_app(ser)
                    time.sleep(0.5)
                    result = quiet.request("initialize", init, 10.0)
                if result is None:
                    raise LogsError(f"no edgemcp app answered on {args.port}")
                link = Link(ser, on_text)
                link.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
                name = (result.get("serverInfo") or {}).get("name", "device")
                try:
                    if "logging" in (result.get("capabilities") or {}):
                        link.request("logging/setLevel", {"level": args.level}, on_other=on_msg)
                    # from here on the board sends every record at that level
                    print(f"# {name} on {args.port}: log records at {args.level} and above "
                          f"(Ctrl-C to stop)", file=sys.stderr, flush=True)
                    if args.history:
                        r = link.request("resources/read", {"uri": "device://log"}, on_other=on_msg)
                        for c in (r or {}).get("contents", []):
                            try:
                                recs = json.loads(c.get("text") or "[]")
                            except ValueError:
                                continue
                            for rec in recs:
                                if LEVELS.index(rec.get("level", "info")) >= LEVELS.index(args.level):
                                    if show(rec):
                                        raise _Done
                    deadline = time.monotonic() + args.duration if args.duration else None
                    while deadline is None or time.monotonic() < deadline:
                        for msg in link.lines(0.5 if deadline is None else max(0.1, deadline - time.monotonic())):
                            on_msg(msg)
                except _Done:
                    pass
    except (LogsError, console.ConsoleError) as e:
        print(f"edgemcp logs: {e}", file=sys.stderr)
        return 2
    except (serial.SerialException, OSError) as e:
        print(f"edgemcp logs: the board went away: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub):
    p = sub.add_parser("logs", help="the board's log records, live",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    console.add_port_arguments(p)
    p.add_argument("--level", "-l", choices=LEVELS, default="info",
                   help="the least severe level shown (default info)")
    p.add_argument("--no-history", dest="history", action="store_false",
                   help="only new records, not those the board kept (device://log)")
    p.add_argument("--json", action="store_true", help="one JSON record per line")
    p.add_argument("--count", type=int, default=0, help="exit after N records")
    p.add_argument("--duration", type=float, default=0, help="exit after SECONDS")
    p.add_argument("--restart", action="store_true", help="soft-reset the board first")
    p.set_defaults(func=run)
