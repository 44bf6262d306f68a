"""The device's MQTT client against a broker that misbehaves in every way a fake TCP server here
can: it drops the connection at each stage, refuses the CONNACK, sends malformed, oversized and
forbidden packets, and stalls mid-packet. Each time the device closes cleanly (with the right
DISCONNECT reason where one is due), keeps its loop running and its unacknowledged QoS 1
publish, and finally delivers that publish (with DUP) to a broker that behaves."""
import json
import socket
import subprocess
import threading
import time

from _support.mqtt_wire import packet, read_packet, read_vbi, vbi
from support import DEVICE_BIN, ROOT

CONNACK_OK = packet(0x20, b"\x00\x00\x03\x13\x00\x01")  # accepted, Server Keep Alive 1 s


# (The fake sends nothing the device will not read: closing a socket with unread data makes
# the kernel send a reset, which would discard the device's DISCONNECT before we read it.)
# Each connection gets the next scenario: (name, what the server does, reason code the device
# must send in its DISCONNECT, or None when it just closes).
def s_close_at_once(c):
    return "closed"


def s_close_after_connect(c):
    read_packet(c)
    return "closed"


def s_refused(c):
    read_packet(c)
    c.sendall(packet(0x20, b"\x00\x87" + vbi(8) + b"\x1f\x00\x05nope!"))


def s_close_after_connack(c):
    read_packet(c)
    c.sendall(CONNACK_OK)
    return "closed"


def s_drop_unacked(c):
    read_packet(c)
    c.sendall(CONNACK_OK)
    first, body = read_packet(c)  # SUBSCRIBE
    c.sendall(packet(0x90, body[:2] + b"\x00\x01"))
    f = read_packet(c)[0]
    assert f >> 4 == 3 and f & 6 == 2 and not f & 8  # a QoS 1 PUBLISH, first time: no DUP
    return "closed"  # never acknowledged


def connack_then(data):
    def f(c):
        read_packet(c)
        c.sendall(CONNACK_OK + data)
    return f


def s_bad_connack_props(c):
    read_packet(c)
    c.sendall(packet(0x20, b"\x00\x00\x05"))  # properties longer than the packet


def s_unknown_property(c):
    read_packet(c)
    c.sendall(packet(0x20, b"\x00\x00\x02\x7f\x00"))


def s_not_connack(c):
    read_packet(c)
    c.sendall(packet(0x90, b"\x00\x01\x00\x00"))  # a SUBACK before the CONNACK


SCENARIOS = [
    ("close at once", s_close_at_once, None),
    ("close after CONNECT", s_close_after_connect, None),
    ("refused CONNACK 0x87", s_refused, None),
    ("close after CONNACK", s_close_after_connack, None),
    ("close with the PUBLISH unacknowledged", s_drop_unacked, None),
    ("CONNACK properties overrun", s_bad_connack_props, None),
    ("CONNACK unknown property", s_unknown_property, None),
    ("SUBACK instead of CONNACK", s_not_connack, None),
    ("PUBLISH topic overruns the packet", connack_then(packet(0x30, b"\x00\xc8abc")), 0x81),
    ("remaining length over 4 bytes", connack_then(b"\x30\xff\xff\xff\xff"), 0x81),
    ("oversized packet (10 MB announced)", connack_then(b"\x30" + vbi(10_000_000)), 0x95),
    ("QoS 2 PUBLISH (never subscribed so)", connack_then(packet(0x34, b"\x00\x01t\x00\x01\x00x")), 0x82),
    ("PUBLISH with a topic alias", connack_then(packet(0x30, b"\x00\x01t\x03\x23\x00\x01x")), 0x82),
    ("AUTH packet", connack_then(packet(0xF0, b"\x00\x00")), 0x82),
    ("bad UTF-8 topic", connack_then(packet(0x30, b"\x00\x02\xff\xfe\x00x")), 0x81),
    ("stall mid-packet (keep-alive 1 s)", connack_then(b"\x30\x20\x00"), None),
]


class FakeBroker:
    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.results = []  # per scenario: (name, packets the device sent after our move, seconds to close)
        self.good = []  # packets the device sent to the well-behaved broker at the end
        self.done = threading.Event()
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.srv.settimeout(0.5)
        i = 0
        while not self.stop:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            c.settimeout(10)
            with c:
                if i < len(SCENARIOS):
                    name, act, _ = SCENARIOS[i]
                    t0 = time.monotonic()
                    got = []
                    closed = act(c) == "closed"
                    while not closed:  # what the device sends until it closes
                        p = read_packet(c)
                        if p is None:
                            break
                        got.append(p)
                    self.results.append((name, got, time.monotonic() - t0))
                else:
                    self.behave(c)
            i += 1

    def behave(self, c):
        read_packet(c)  # CONNECT
        c.sendall(packet(0x20, b"\x00\x00\x00"))
        c.settimeout(0.5)
        while not self.stop:
            try:
                p = read_packet(c)
            except socket.timeout:
                continue
            if p is None:
                return
            first, body = p
            self.good.append(p)
            if first >> 4 == 8:  # SUBSCRIBE -> SUBACK granting QoS 1
                c.sendall(packet(0x90, body[:2] + b"\x00\x01"))
                c.sendall(packet(0x30, b"\x00\x03x/y\x00hello device"))
            elif first >> 4 == 3 and first & 6:  # QoS 1 PUBLISH -> PUBACK
                c.sendall(packet(0x40, body[2 + (body[0] << 8 | body[1]):][:2]))
                self.done.set()
            elif first >> 4 == 12:
                c.sendall(b"\xd0\x00")


DEVICE = r"""
import sys, asyncio, time
from edgemcp import mqtt

def out(*a):
    print(*a)
    sys.stdout.flush()

async def main():
    c = mqtt.Client(sys.argv[1], client_id="dev-bad", keepalive=5, backoff=(50, 200), max_packet=1024)
    c.on_message = lambda t, p, props, r: out("MSG", t, bytes(p).decode())
    asyncio.create_task(c.run())
    await c.subscribe("x/#")
    gap = 0
    last = None
    done = [False]
    async def pub():
        await c.publish("x/out", b"kept through every failure", qos=1)
        done[0] = True
    asyncio.create_task(pub())
    t = time.ticks_ms()
    while not done[0]:
        await asyncio.sleep_ms(5)
        now = time.ticks_ms()
        gap = max(gap, time.ticks_diff(now, t))
        t = now
        if c.last_error is not last:
            last = c.last_error
            out("ERR", repr(last))
    import gc
    gc.collect()
    out("PUBLISHED maxgap_ms=%d connects=%d heap=%d" % (gap, c.connects, gc.mem_alloc()))
    await asyncio.sleep_ms(300)

asyncio.run(main())
"""


def test_device_client_survives_bad_brokers(tmp_path, device_bin):
    fb = FakeBroker()
    script = tmp_path / "dev.py"
    script.write_text(DEVICE)
    try:
        r = subprocess.run([str(DEVICE_BIN), "-X", "heapsize=256k", str(script), "mqtt://127.0.0.1:%d" % fb.port],
                           capture_output=True, text=True, timeout=90, cwd=ROOT)
    finally:
        fb.stop = True
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert len(fb.results) == len(SCENARIOS), (fb.results, out)
    for (name, act, code), (rname, got, secs) in zip(SCENARIOS, fb.results):
        assert name == rname
        # besides its SUBSCRIBE and the resent PUBLISH, the device sends a DISCONNECT with the
        # reason code where one is due, as its last packet, and then closes
        disc = [p for p in got if p[0] >> 4 == 14]
        if code is None:
            assert disc == [], (name, got)
        else:
            assert disc == [(0xE0, bytes((code,)))] and got[-1] == disc[0], (name, got, out)
        assert all(p[0] >> 4 in (3, 8, 12, 14) for p in got), (name, got)
        limit = 5 if "stall" in name else 3  # generous: other jobs may share the CPU
        assert secs < limit, "%s: the device took %.1f s to close" % (name, secs)
    assert "refused: 0x87 nope!" in out
    assert "remaining length" in out and "over our maximum 1024" in out and "keep alive timeout" in out
    assert "MSG x/y hello device" in out
    # the QoS 1 publish made before the failures reached the good broker, resent with DUP
    pubs = [(f, b) for f, b in fb.good if f >> 4 == 3]
    assert pubs and pubs[-1][1].endswith(b"kept through every failure") and pubs[-1][0] & 8, fb.good
    line = [x for x in out.splitlines() if x.startswith("PUBLISHED")][0]
    gap = int(line.split("maxgap_ms=")[1].split()[0])
    # a blocking connect or read would stall it for seconds (timeouts are 10 s); this run
    # measured under 10 ms, the margin is for a loaded machine
    assert gap < 1000, "the loop was blocked for %d ms" % gap


def mqtt_str(b, i):
    n = b[i] << 8 | b[i + 1]
    return b[i + 2:i + 2 + n].decode(), i + 2 + n


def connect_will_topic(body):
    i = 10  # protocol name, level, flags, keep-alive
    n, i = read_vbi(body, i)
    _, i = mqtt_str(body, i + n)  # client id
    n, i = read_vbi(body, i)  # will properties
    return mqtt_str(body, i + n)[0]


def test_broker_suggested_server_name(tmp_path, device_bin):
    # An EMQX-style broker names the MCP server in its CONNACK (user property MCP-SERVER-NAME):
    # the device must take that name, with its will on the matching presence topic.
    from vdevice import board_root, device_cmd, device_env
    import os
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    srv.settimeout(20)
    port = srv.getsockname()[1]
    root = board_root(tmp_path, {"name": "n1", "mqtt": {"url": "mqtt://127.0.0.1:%d" % port,
                                                         "backoff_min_ms": 50, "backoff_max_ms": 200}})
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, **device_env(root, "namedev")}, cwd=ROOT)
    sid = b"namedev".hex()
    name = "plant/line1/sensor"
    prop = b"\x26" + bytes((0, 15)) + b"MCP-SERVER-NAME" + bytes((0, len(name))) + name.encode()
    connack = packet(0x20, b"\x00\x00" + vbi(len(prop)) + prop)
    wills = []
    try:
        for attempt in range(2):
            c, _ = srv.accept()
            with c:
                c.settimeout(10)
                first, body = read_packet(c)
                assert first == 0x10
                wills.append(connect_will_topic(body))
                c.sendall(connack)
                while True:
                    pk = read_packet(c)
                    if pk is None:
                        break
                    first, body = pk
                    if first >> 4 == 8:
                        topic = mqtt_str(body, 3)[0]
                        c.sendall(packet(0x90, body[:2] + b"\x00\x01"))
                        if attempt == 1:
                            assert topic == "$mcp-server/%s/%s" % (sid, name)
                    elif first >> 4 == 3:
                        topic, i = mqtt_str(body, 0)
                        assert attempt == 1, "announced before taking the broker's name"
                        assert topic == "$mcp-server/presence/%s/%s" % (sid, name) and first & 1
                        pid = body[i:i + 2]
                        n, i = read_vbi(body, i + 2)
                        online = json.loads(body[i + n:])
                        assert online["params"]["server_name"] == name
                        c.sendall(packet(0x40, pid))
                        break
        assert wills == ["$mcp-server/presence/%s/edgemcp/linux/n1" % sid,
                         "$mcp-server/presence/%s/%s" % (sid, name)]
    finally:
        p.kill()
        p.wait(10)
        p.stdin.close()
        p.stderr.close()
        srv.close()


def reply(p):
    # the next response on the serial link; the link's log notifications are passed over
    while True:
        m = json.loads(p.stdout.readline())
        if "id" in m:
            return m


def test_app_keeps_serving_serial_through_bad_brokers(tmp_path, device_bin):
    # The device app with its MQTT link pointed at the misbehaving broker: while the link goes
    # through every failure above, requests on the serial link are answered promptly.
    from vdevice import board_root, device_cmd, device_env
    import os
    fb = FakeBroker()
    root = board_root(tmp_path, {"name": "bad", "test_tools": True,
                                 "mqtt": {"url": "mqtt://127.0.0.1:%d" % fb.port, "keepalive": 5,
                                          "backoff_min_ms": 50, "backoff_max_ms": 200}})
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, **device_env(root, "baddev")}, cwd=ROOT)
    try:
        p.stdin.write(b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
                      b'"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n')
        p.stdin.flush()
        assert reply(p)["id"] == 0
        slowest = 0
        answered = 0
        deadline = time.monotonic() + 30
        i = 0
        while (len(fb.results) < len(SCENARIOS) or not fb.good) and time.monotonic() < deadline:
            i += 1
            t0 = time.monotonic()
            p.stdin.write(b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"add","arguments":{"a":%d,"b":1}}}\n' % (i, i))
            p.stdin.flush()
            r = reply(p)
            slowest = max(slowest, time.monotonic() - t0)
            assert r["id"] == i and r["result"]["structuredContent"] == {"sum": i + 1}
            answered += 1
            time.sleep(0.05)
        assert len(fb.results) == len(SCENARIOS), [r[0] for r in fb.results]
        pubs = [b for f, b in fb.good if f >> 4 == 3]
        assert pubs and b"notifications/server/online" in pubs[0], "the link never announced itself"
        assert answered > 20 and slowest < 1.0, (answered, slowest)
    finally:
        fb.stop = True
        p.kill()
        p.wait(10)
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()
