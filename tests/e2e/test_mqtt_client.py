"""The device's MQTT 5 client (edgemcp.mqtt on the virtual device) against a real mosquitto,
with paho-mqtt as the peer: No Local, QoS 0/1 both ways, user properties, the will on an
abrupt end, keep-alive pings, password auth and a refused CONNACK, and resending an
unacknowledged QoS 1 publish with DUP after the broker is killed and restarted."""
import os
import queue
import signal
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from support import DEVICE_BIN, ROOT
from mqtt_broker import Broker

# The device side: an echo agent. Messages on t/in/<x> come back on t/out/<x> with the same
# QoS and user properties; every event is printed as one line for the test to follow.
AGENT = r"""
import sys, os, asyncio
from edgemcp import mqtt
url, cid = sys.argv[1], sys.argv[2]
ca = os.getenv("AGENT_CA")
if ca:
    with open(ca, "rb") as f:
        ca = f.read()
user = sys.argv[3] if len(sys.argv) > 3 else None
pw = sys.argv[4] if len(sys.argv) > 4 else None

def out(*a):
    print(*a)
    sys.stdout.flush()

async def nokeep(c):
    # how a flash-queue drain publishes: the caller keeps the record, the client does not
    try:
        await c.publish("t/out/nokeep", b"caller-keeps-me", qos=1, retain=True, keep=False)
        out("NOKEEP acked")
    except mqtt.MQTTError as e:
        out("NOKEEP raised", e.code)

async def main():
    c = mqtt.Client(url, client_id=cid, username=user, password=pw, keepalive=2,
                    will=("t/will", b"gone", 1, False, {mqtt.WILL_DELAY: 0}, [("why", "abrupt")]),
                    user=[("MCP-COMPONENT-TYPE", "mcp-server")], pub_user=[("from", "device")],
                    backoff=(100, 800), ca=ca)
    echo = []
    def on_msg(topic, payload, props, retain):
        u = props.get(mqtt.USER, []) if props else []
        out("MSG", topic, bytes(payload).decode(), retain, u)
        if topic.startswith("t/in/"):
            echo.append((topic, bytes(payload), u))
    c.on_message = on_msg
    c.on_connect = lambda: out("UP", c.connects)
    c.on_disconnect = lambda: out("DOWN", repr(c.last_error))
    asyncio.create_task(c.run())
    await c.subscribe(["t/in/#", "t/cmd"], qos=1)
    await c.subscribe("t/loop", qos=1, no_local=True)
    last = None
    while True:
        await asyncio.sleep_ms(10)
        if c.last_error is not last:
            last = c.last_error
            if last is not None:
                out("ERR", last.code if isinstance(last, mqtt.MQTTError) else "-", repr(last))
        while echo:
            t, p, u = echo.pop(0)
            q = 1 if t.endswith("/q1") else 0
            u = [x for x in u if x[0] != "from"]
            await c.publish("t/out/" + t[5:], p, qos=q, user=u or None)
            out("ECHOED", t)
            if p == b"loop":
                await c.publish("t/loop", b"own", qos=1)
                out("LOOPED")
            if p == b"pub-while-down":
                await asyncio.sleep_ms(500)
                asyncio.create_task(c.publish("t/out/dup", b"resend-me", qos=1, retain=True))
                asyncio.create_task(nokeep(c))
                await asyncio.sleep_ms(100)
                out("QUEUED")

asyncio.run(main())
"""


class Device:
    """The agent on the virtual device; its stdout lines arrive on a queue."""

    def __init__(self, tmp_path, *args, env=None):
        script = tmp_path / "agent.py"
        script.write_text(AGENT)
        self.proc = subprocess.Popen([str(DEVICE_BIN), "-X", "heapsize=256k", str(script), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=ROOT, env={**os.environ, **(env or {})})
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, prefix, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError("device never printed %r; saw:\n%s\nstderr:\n%s" % (
            prefix, "\n".join(self.seen[-40:]), self._stderr()))

    def _stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self):
        self.kill()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Peer:
    """A paho MQTT 5 client that records what it receives."""

    def __init__(self, broker, topics=("t/#",), cid="peer", user=None, pw=None, ca=None):
        self.msgs = queue.Queue()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5)
        if ca:
            self.c.tls_set(ca_certs=str(ca))
        if user:
            self.c.username_pw_set(user, pw)
        ready = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: (c.subscribe([(t, 1) for t in topics]), None)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.connect(broker.host, broker.port, keepalive=30)
        self.c.loop_start()
        assert ready.wait(10), "paho peer did not subscribe"

    def publish(self, topic, payload, qos=1, user=()):
        props = Properties(PacketTypes.PUBLISH)
        if user:
            props.UserProperty = list(user)
        self.c.publish(topic, payload, qos=qos, properties=props).wait_for_publish(10)

    def get(self, topic, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.msgs.get(timeout=0.1)
            except queue.Empty:
                continue
            if m.topic == topic:
                return m
        raise AssertionError("peer received nothing on " + topic)

    def none_on(self, topic, wait=1.0):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                m = self.msgs.get(timeout=0.1)
            except queue.Empty:
                continue
            assert m.topic != topic, "unexpected message on %s: %r" % (topic, m.payload)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def user_props(m):
    return [tuple(x) for x in getattr(m.properties, "UserProperty", [])]


@pytest.fixture
def device_factory(tmp_path, device_bin):
    made = []

    def make(*args, env=None):
        d = Device(tmp_path, *args, env=env)
        made.append(d)
        return d
    yield make
    for d in made:
        d.close()


def test_qos_both_ways_no_local_properties_will_and_keepalive(mqtt_broker, device_factory):
    peer = Peer(mqtt_broker)
    try:
        dev = device_factory(mqtt_broker.url, "dev-a")
        dev.expect("UP 1")
        # host -> device at QoS 0 and 1, with user properties; device -> host at the same QoS
        for q in (0, 1):
            peer.publish("t/in/q%d" % q, "héllo %d" % q, qos=q, user=[("trace", "abc%d" % q)])
            line = dev.expect("MSG t/in/q%d" % q)
            assert "héllo %d" % q in line and "('trace', 'abc%d')" % q in line
            m = peer.get("t/out/q%d" % q)
            assert m.payload.decode() == "héllo %d" % q and m.qos == q
            assert ("trace", "abc%d" % q) in user_props(m) and ("from", "device") in user_props(m)
        # No Local: the device publishes on t/loop, which it subscribes to with No Local; it
        # must not get its own message, but gets the peer's.
        peer.publish("t/in/q1", "loop")
        dev.expect("LOOPED")
        assert peer.get("t/loop").payload == b"own"
        peer.publish("t/loop", "from-peer")
        line = dev.expect("MSG t/loop")
        assert "from-peer" in line, "the device received its own message despite No Local: " + line
        # keep-alive 2 s: idle for 3 s, the broker sees PINGREQs and keeps the device
        time.sleep(3)
        assert "Received PINGREQ from dev-a" in mqtt_broker.log()
        peer.publish("t/in/q1", "still-there")
        assert peer.get("t/out/q1").payload == b"still-there"
        # abrupt end: the broker publishes the will, with its user property
        dev.kill()
        m = peer.get("t/will")
        assert m.payload == b"gone" and ("why", "abrupt") in user_props(m)
    finally:
        peer.close()


def test_password_auth_and_refused_connack(tmp_path, device_factory):
    with Broker(tmp_path / "auth", users={"dev": "s3cret"}) as b:
        good = device_factory(b.url, "dev-good", "dev", "s3cret")
        good.expect("UP 1")
        bad = device_factory(b.url, "dev-bad", "dev", "wrong")
        # mosquitto 2.0 refuses a wrong password with reason 0x87 (135, not authorized);
        # the client reports it and keeps retrying with backoff
        line = bad.expect("ERR 135")
        assert "CONNACK refused: 0x87" in line
        time.sleep(1.5)
        assert bad.proc.poll() is None
        lines = bad.seen + list(iter_queue(bad.lines))
        assert not [x for x in lines if x.startswith("UP")] and len(lines) >= 2, lines
        assert b.log().count("Sending CONNACK to 127.0.0.1 (0, 135)") >= 2, "the refused client did not try again"
        peer = Peer(b, user="dev", pw="s3cret", cid="peer-auth")
        try:
            peer.publish("t/in/q1", "authed")
            assert peer.get("t/out/q1").payload == b"authed"
        finally:
            peer.close()


def iter_queue(q):
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return


def test_reconnect_resends_unacked_qos1_with_dup(tmp_path, device_factory):
    b = Broker(tmp_path / "restart").start()
    try:
        dev = device_factory(b.url, "dev-r")
        dev.expect("UP 1")
        peer = Peer(b, cid="peer-1")
        peer.publish("t/in/q1", "before")
        assert peer.get("t/out/q1").payload == b"before"
        peer.close()
        # The trigger makes the device publish (QoS 1, retained) 0.5 s later: by then the broker
        # is frozen, so the PUBLISH is written but never acknowledged; then the broker dies.
        peer = Peer(b, cid="peer-2")
        peer.publish("t/in/q0", "pub-while-down", qos=0)
        dev.expect("MSG t/in/q0 pub-while-down")
        b.proc.send_signal(signal.SIGSTOP)
        peer.c.loop_stop()
        dev.expect("QUEUED")
        time.sleep(0.3)
        b.kill()  # SIGKILL: the device's connection resets with the publish unacknowledged
        dev.expect("DOWN")
        assert dev.expect("NOKEEP") == "NOKEEP raised -1"
        b.start()
        dev.expect("UP 2", timeout=15)
        peer = Peer(b, topics=("t/out/#",), cid="peer-3")
        assert peer.get("t/out/dup").payload == b"resend-me"
        peer.none_on("t/out/nokeep", wait=0.5)
        peer.publish("t/in/q1", "after")
        assert peer.get("t/out/q1").payload == b"after"
        log = b.log()
        assert "Received PUBLISH from dev-r (d1, q1, r1, m" in log and "'t/out/dup'" in log, log[-3000:]
        # the frozen broker never read it, and the device did not resend it
        assert "'t/out/nokeep'" not in log, "a keep=False publish was resent"
        peer.close()
    finally:
        b.stop()


def make_certs(folder):
    """A CA and a server certificate for 127.0.0.1 signed by it, plus an unrelated CA."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    pem = serialization.Encoding.PEM

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(cn):
        k = ec.generate_private_key(ec.SECP256R1())
        c = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(k, hashes.SHA256()))
        return k, c

    ca_key, ca_cert = ca("edgemcp test CA")
    _, other = ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            # the device's mbedTLS matches the host name against DNS names, Python's ssl against IPs
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("127.0.0.1")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {}
    for n, data in (("ca.pem", ca_cert.public_bytes(pem)), ("other-ca.pem", other.public_bytes(pem)),
                    ("server.pem", cert.public_bytes(pem)),
                    ("server.key", key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))):
        files[n] = folder / n
        files[n].write_bytes(data)
    return files


def test_mqtts_with_server_verification(tmp_path, device_factory):
    certs = make_certs(tmp_path)
    with Broker(tmp_path / "tls", tls=(certs["server.pem"], certs["server.key"])) as b:
        assert b.url.startswith("mqtts://")
        good = device_factory(b.url, "dev-tls", env={"AGENT_CA": str(certs["ca.pem"])})
        good.expect("UP 1")
        peer = Peer(b, cid="peer-tls", ca=certs["ca.pem"])
        try:
            peer.publish("t/in/q1", "over tls")
            assert peer.get("t/out/q1").payload == b"over tls"
        finally:
            peer.close()
        # a broker whose certificate our CA did not sign: the handshake fails, no connection
        wrong = device_factory(b.url, "dev-wrong-ca", env={"AGENT_CA": str(certs["other-ca.pem"])})
        line = wrong.expect("ERR")
        assert "CA" in line or "certificate" in line, line
        time.sleep(1)
        lines = wrong.seen + list(iter_queue(wrong.lines))
        assert not [x for x in lines if x.startswith("UP")], lines
        assert "dev-wrong-ca" not in b.log()


BURST = r"""
import sys, asyncio, time
from edgemcp import mqtt

async def main():
    c = mqtt.Client(sys.argv[1], client_id="dev-burst", keepalive=30)
    asyncio.create_task(c.run())
    await c.up.wait()
    n = int(sys.argv[2])
    peak = 0
    t0 = time.ticks_ms()
    for i in range(n):  # fire and forget: bounded by the broker's Receive Maximum
        await c.publish("b/fast", b"%d" % i, qos=1, wait=False)
        peak = max(peak, len(c._inflight))
    while c._inflight:
        await asyncio.sleep_ms(1)
    t1 = time.ticks_ms()
    for i in range(n):  # one at a time, each after its PUBACK (how a queue drain publishes)
        await c.publish("b/acked", b"%d" % i, qos=1)
    t2 = time.ticks_ms()
    big = bytearray(100000)  # written in slices: no copy of it is made
    for i in range(len(big)):
        big[i] = i % 251
    await c.publish("b/big", big, qos=1)
    print("RESULT", c._rmax, peak, time.ticks_diff(t1, t0), time.ticks_diff(t2, t1))
    await c.disconnect()

asyncio.run(main())
"""


def test_qos1_flow_control_and_order(mqtt_broker, tmp_path, device_bin):
    n = 500
    peer = Peer(mqtt_broker, topics=("b/#",), cid="peer-burst")
    script = tmp_path / "burst.py"
    script.write_text(BURST)
    try:
        r = subprocess.run([str(DEVICE_BIN), "-X", "heapsize=256k", str(script), mqtt_broker.url, str(n)],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        rmax, peak, fast_ms, acked_ms = map(int, r.stdout.split("RESULT")[1].split())
        got = {"b/fast": [], "b/acked": [], "b/big": []}
        deadline = time.monotonic() + 20
        while sum(map(len, got.values())) < 2 * n + 1 and time.monotonic() < deadline:
            try:
                m = peer.msgs.get(timeout=0.2)
            except queue.Empty:
                continue
            got[m.topic].append(m.payload if m.topic == "b/big" else int(m.payload))
        assert got.pop("b/big") == [bytes(i % 251 for i in range(100000))]
        assert got["b/fast"] == list(range(n)) and got["b/acked"] == list(range(n))
        assert 0 < peak <= rmax, (peak, rmax)  # never more in flight than the broker allows
        # (how fast is for bench/mqtt.py to say, not a test: Nagle's delay once made each 40 ms)
        print("QoS 1 device->mosquitto: %d msgs pipelined in %d ms (%.0f/s, peak in flight %d of %d);"
              " one at a time after PUBACK in %d ms (%.0f/s)" % (
                  n, fast_ms, n * 1000 / max(fast_ms, 1), peak, rmax, acked_ms, n * 1000 / max(acked_ms, 1)))
    finally:
        peer.close()
