# An asyncio MQTT 5.0 client for the device: one task owns the connection and reconnects with
# exponential backoff and jitter; publishers and subscribers never block the loop. Incoming
# packets are read into one preallocated buffer whose size is announced to the broker as our
# Maximum Packet Size; on_message gets memoryviews into it, valid only during the call.
import asyncio
import struct
import random
from time import ticks_ms, ticks_diff

# const(): folded by MicroPython's compiler (no import needed); a public name stays a global.
# Property identifiers (MQTT 5.0, 2.2.2.2): the public ones are for callers' will and
# user properties.
USER = const(0x26)
WILL_DELAY = const(0x18)
_ASSIGNED_ID = const(0x12)
_SERVER_KEEPALIVE = const(0x13)
_REASON_STRING = const(0x1F)
_RECEIVE_MAX = const(0x21)
_TOPIC_ALIAS = const(0x23)
_MAX_PACKET = const(0x27)
_SUB_ID = const(0x0B)  # a variable byte integer

# Reason codes we send or raise ourselves (MQTTError.code).
NOT_CONNECTED = const(-1)
MALFORMED = const(0x81)
PROTOCOL_ERROR = const(0x82)
TOO_LARGE = const(0x95)
KEEPALIVE_TIMEOUT = const(0x8D)

_SLICE = const(1024)  # bytes written to the socket at a time

_BYTE = b"\x01\x17\x19\x24\x25\x28\x29\x2a"
_U16 = b"\x13\x21\x22\x23"
_U32 = b"\x02\x11\x18\x27"
_BIN = b"\x09\x16"
_STR = b"\x03\x08\x12\x15\x1a\x1c\x1f"


class MQTTError(Exception):
    # args: (reason code, text); code NOT_CONNECTED when there is no connection to use.
    @property
    def code(self):
        return self.args[0]


def _vbi(out, n):
    while True:
        b = n & 127
        n >>= 7
        out.append(b | 128 if n else b)
        if not n:
            return


def _str(out, s):
    b = s.encode() if isinstance(s, str) else s
    out += struct.pack("!H", len(b))
    out += b


def encode_props(props=None, user=None):
    """Properties {id: value} and user properties [(name, value)] -> bytes with length prefix."""
    p = bytearray()
    for k, v in (props or {}).items():
        p.append(k)
        if k in _BYTE:
            p.append(v)
        elif k in _U16:
            p += struct.pack("!H", v)
        elif k in _U32:
            p += struct.pack("!I", v)
        elif k == _SUB_ID:
            _vbi(p, v)
        else:  # strings and binary data
            _str(p, v)
    for k, v in user or ():
        p.append(USER)
        _str(p, k)
        _str(p, v)
    out = bytearray()
    _vbi(out, len(p))
    return bytes(out + p)


def _malformed(what):
    return MQTTError(MALFORMED, "malformed packet: " + what)


def _read_vbi(mv, i, end):
    n = 0
    for sh in (0, 7, 14, 21):
        if i >= end:
            raise _malformed("truncated")
        b = mv[i]
        i += 1
        n |= (b & 127) << sh
        if not b & 128:
            return n, i
    raise _malformed("variable byte integer")


def _read_str(mv, i, end, binary=False):
    if i + 2 > end:
        raise _malformed("truncated")
    n = mv[i] << 8 | mv[i + 1]
    i += 2
    if i + n > end:
        raise _malformed("truncated")
    v = bytes(mv[i:i + n]) if binary else str(mv[i:i + n], "utf-8")
    return v, i + n


def decode_props(mv, i, limit):
    """-> (props dict, next index); user properties as a list under USER."""
    n, i = _read_vbi(mv, i, limit)
    end = i + n
    if end > limit:
        raise _malformed("properties")
    d = {}
    while i < end:
        k = mv[i]
        i += 1
        w = 1 if k in _BYTE else 2 if k in _U16 else 4 if k in _U32 else 0
        if w:  # a fixed-size integer
            if i + w > end:
                raise _malformed("properties")
            v = 0
            for j in range(i, i + w):
                v = v << 8 | mv[j]
            i += w
        elif k == _SUB_ID:
            v, i = _read_vbi(mv, i, end)
        elif k in _STR or k in _BIN:
            v, i = _read_str(mv, i, end, k in _BIN)
        elif k == USER:
            a, i = _read_str(mv, i, end)
            b, i = _read_str(mv, i, end)
            d.setdefault(USER, []).append((a, b))
            continue
        else:
            raise _malformed("unknown property 0x%02x" % k)
        d[k] = v
    return d, end


def parse_url(url):
    """mqtt://host[:port] or mqtts://host[:port] -> (host, port, tls)."""
    tls = url.startswith("mqtts://")
    if not (tls or url.startswith("mqtt://")):
        raise ValueError("broker URL must start with mqtt:// or mqtts://: " + url)
    hp = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hp, 8883 if tls else 1883
    if hp.startswith("["):  # [v6 address]:port
        host, _, rest = hp[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif ":" in hp:
        host, p = hp.rsplit(":", 1)
        port = int(p)
    if not host:
        raise ValueError("broker URL has no host: " + url)
    return host, port, tls


class Client:
    """MQTT 5.0 client. Start `run()` as a task; it connects and reconnects until `disconnect()`.

    on_message(topic, payload, props, retain) is called for each PUBLISH received (payload
    a memoryview valid only during the call; props a dict or None). on_connect() (may be
    async) runs after each successful connect, once subscriptions and unacknowledged QoS 1
    publishes are restored; on_disconnect() when a connection ends; on_error(e) with what ended
    a connection or a connection attempt.
    will = (topic, payload, qos, retain, props dict or None, user list or None)."""

    def __init__(self, url, client_id="", username=None, password=None, keepalive=60,
                 will=None, user=None, pub_user=None,
                 max_packet=8192, ca=None, backoff=(500, 60000), timeout_ms=10000):
        self.host, self.port, self.tls = parse_url(url)
        self.client_id = client_id
        self.username = username
        self.password = password
        self.keepalive = keepalive
        self.will = will
        self.user = user  # CONNECT user properties
        self.pub_user = pub_user or []  # user properties on every PUBLISH
        self._pub_props = encode_props(None, pub_user)
        self.ca = ca  # PEM/DER CA data for mqtts://; None: no server verification
        self.backoff = backoff
        self.timeout_ms = timeout_ms
        self.on_message = self.on_connect = self.on_disconnect = self.on_error = None
        self._rx = bytearray(max_packet)
        self._rxv = memoryview(self._rx)
        self._hb = bytearray(5)
        self._lock = asyncio.Lock()
        self._down = asyncio.Event()
        self._slot = asyncio.Event()  # a QoS 1 publish slot or the connection became free
        self.up = asyncio.Event()  # connected and restored
        self._s = None  # the Stream while a connection exists (CONNACK accepted)
        self._inflight = {}  # packet id -> _Out
        self._acks = {}  # packet id -> [Event, result] for SUBSCRIBE / UNSUBSCRIBE
        self.subs = {}  # topic filter -> options byte, (re)subscribed on every connect
        self._pid = 0
        self._seq = 0
        self._conn = 0  # connection number, to know which publishes went out on this one
        self._drainer = None
        self._tasks = ()
        self._stop = False
        self.connected = False
        self.connects = 0
        self.last_error = None
        self.connack = None  # last CONNACK properties
        self.max_out = 0  # broker's Maximum Packet Size (0: no limit)
        self._rmax = 65535

    # ---- public API ----

    async def run(self):
        fails = 0
        while not self._stop:
            t0 = ticks_ms()
            self.last_error = None
            try:
                await self._connection()
            except Exception as e:  # refused, timeout, socket error: try again later
                self.last_error = e
            finally:
                self._teardown()
            if self.on_error and self.last_error is not None and not self._stop:
                self.on_error(self.last_error)
            if self._stop:
                break
            # the backoff grows until a connection lasts: a broker that accepts and then
            # drops us at once is not hammered
            fails = 0 if ticks_diff(ticks_ms(), t0) > 30000 else fails + 1
            lo, hi = self.backoff
            d = min(hi, lo << min(fails, 16))
            d = d // 2 + (d // 2) * random.getrandbits(12) // 4096
            await asyncio.sleep_ms(d)

    async def publish(self, topic, payload, qos=0, retain=False, user=None, keep=True, wait=True):
        """QoS 0: raises MQTTError(NOT_CONNECTED) without a connection. QoS 1 returns after the
        PUBACK (wait=False: once written). If the connection drops first, the message is
        resent with DUP after the reconnect and the call keeps waiting; with keep=False it
        raises MQTTError instead and the message is dropped (for callers that keep their own
        copy). A PUBACK with an error reason raises MQTTError."""
        pl = len(memoryview(payload))
        if qos == 0:
            if not self.connected:
                raise MQTTError(NOT_CONNECTED, "not connected")
            await self._send_pub(topic, payload, pl, 0, retain, user, 0, False)
            return
        if qos != 1:
            raise ValueError("qos must be 0 or 1")
        if not keep and not self.connected:
            raise MQTTError(NOT_CONNECTED, "not connected")
        while len(self._inflight) >= self._rmax:  # the broker's Receive Maximum
            self._slot.clear()
            await self._slot.wait()
            if not keep and not self.connected:
                raise MQTTError(NOT_CONNECTED, "not connected")
        if self.max_out and 7 + len(topic) + len(self._pub_props) + pl > self.max_out:
            raise MQTTError(TOO_LARGE, "message over the broker's maximum packet size")
        m = _Out(self._next_pid(), topic, payload, pl, retain, user, keep)
        self._seq += 1
        m.seq = self._seq
        self._inflight[m.pid] = m
        if self.connected:
            try:
                await self._send_out(m)
            except MQTTError:
                if not keep:
                    self._drop(m)
                    raise
        if wait:
            await m.ev.wait()
            if m.err:
                raise m.err

    async def subscribe(self, topics, qos=1, no_local=False):
        """Subscribe (and resubscribe after every reconnect). topics: a filter or a list.
        Connected: waits for the SUBACK and raises MQTTError if the broker refuses one."""
        if isinstance(topics, str):
            topics = (topics,)
        o = qos | (4 if no_local else 0)
        for t in topics:
            self.subs[t] = o
        if self._s:
            await self._sub_packet(0x82, topics, o)

    async def unsubscribe(self, topics):
        if isinstance(topics, str):
            topics = (topics,)
        for t in topics:
            self.subs.pop(t, None)
        if self._s:
            await self._sub_packet(0xA2, topics, None)

    async def disconnect(self, reason=0):
        """Send DISCONNECT with the reason (0: normal, the will is discarded; 4: send the will)
        and stop reconnecting."""
        self._stop = True
        if self._s:
            try:
                await self._write(b"\xe0\x01" + bytes((reason,)))
            except MQTTError:
                pass
        self._down.set()

    # ---- the connection ----

    async def _connection(self):
        ssl = None
        if self.tls:
            import tls
            ssl = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
            if self.ca:
                ssl.load_verify_locations(self.ca)  # PEM or DER
            else:
                ssl.verify_mode = tls.CERT_NONE
        self._down.clear()
        r, w = await asyncio.wait_for_ms(asyncio.open_connection(self.host, self.port), self.timeout_ms)
        self._sock = w
        import socket
        try:  # a PUBLISH is two writes (header, payload): without this Nagle holds the second
            w.s.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
        except OSError:
            pass
        if ssl:  # wrapped here, not by open_connection, so the option above is on the TCP socket
            w.s = ssl.wrap_socket(w.s, server_hostname=self.host, do_handshake_on_connect=False)
            w.s.setblocking(False)
        w.write(self._connect_packet())
        await asyncio.wait_for_ms(w.drain(), self.timeout_ms)
        t, n = await asyncio.wait_for_ms(self._read_packet(r), self.timeout_ms)
        if t >> 4 != 2:
            raise MQTTError(PROTOCOL_ERROR, "expected CONNACK")
        try:
            self._on_connack(n)
        except (IndexError, ValueError) as e:  # read past the packet's end, bad UTF-8
            raise _malformed(repr(e))
        self._s = w
        self._conn += 1
        self.connects += 1
        self._rx_t = self._tx_t = ticks_ms()
        self._tasks = (asyncio.create_task(self._reader(r)), asyncio.create_task(self._restore()),
                       asyncio.create_task(self._pinger()))
        await self._down.wait()
        if isinstance(self.last_error, MQTTError) and self.last_error.code in (MALFORMED, PROTOCOL_ERROR, TOO_LARGE):
            try:  # tell the broker why we leave; the will is published
                await asyncio.wait_for_ms(self._write(b"\xe0\x01" + bytes((self.last_error.code,))), 1000)
            except Exception:
                pass

    def _connect_packet(self):
        flags = 2  # clean start; no session expiry: a session ends with its connection
        pl = bytearray()
        _str(pl, self.client_id)
        if self.will:
            wt, wp, wq, wr = self.will[:4]
            flags |= 4 | wq << 3 | (32 if wr else 0)
            pl += encode_props(*self.will[4:6]) if len(self.will) > 4 else b"\x00"
            _str(pl, wt)
            _str(pl, wp)
        if self.username is not None:
            flags |= 128
            _str(pl, self.username)
        if self.password is not None:
            flags |= 64
            _str(pl, self.password)
        props = {_MAX_PACKET: len(self._rx)}
        vh = bytearray(b"\x00\x04MQTT\x05")
        vh.append(flags)
        vh += struct.pack("!H", self.keepalive)
        vh += encode_props(props, self.user)
        out = bytearray(b"\x10")
        _vbi(out, len(vh) + len(pl))
        return out + vh + pl

    def _on_connack(self, n):
        mv = self._rxv
        if n < 3:
            raise _malformed("CONNACK")
        rc = mv[1]
        props, _ = decode_props(mv, 2, n)
        self.connack = props
        if rc >= 0x80:
            raise MQTTError(rc, "CONNACK refused: 0x%02x %s" % (rc, props.get(_REASON_STRING, "")))
        if _ASSIGNED_ID in props:
            self.client_id = props[_ASSIGNED_ID]
        self._ka = props.get(_SERVER_KEEPALIVE, self.keepalive)
        self.max_out = props.get(_MAX_PACKET, 0)
        self._rmax = props.get(_RECEIVE_MAX, 65535)

    def _teardown(self):
        was = self.connected or self._s
        self.connected = False
        self.up.clear()
        self._s = None
        me = asyncio.current_task()
        d = self._drainer
        self._drainer = None
        for t in self._tasks:
            if t is not me and t is not d:
                t.cancel()
        self._tasks = ()
        if d is not None and d is not me:
            d.cancel()  # a writer stuck on the dead socket: _write turns this into MQTTError
        s = getattr(self, "_sock", None)
        self._sock = None
        if s:
            try:
                s.s.close()
            except OSError:
                pass
        err = MQTTError(NOT_CONNECTED, "connection lost")
        for a in self._acks.values():
            a[1] = err
            a[0].set()
        self._acks.clear()
        for m in list(self._inflight.values()):
            if not m.keep or self._stop:
                m.err = err
                self._drop(m)
        self._slot.set()
        if was and self.on_disconnect:
            try:
                self.on_disconnect()
            except Exception as e:
                self.last_error = e

    def _fail(self, e):
        if not self._down.is_set():
            self.last_error = e
            self._down.set()

    async def _restore(self):
        try:
            if self.subs:
                subs = list(self.subs.items())
                for t, o in subs:
                    await self._sub_packet(0x82, (t,), o)
            conn = self._conn
            while True:  # oldest first; publishes made meanwhile wait for connected
                todo = sorted((m for m in self._inflight.values() if m.conn != conn), key=_seq)
                if not todo:
                    break
                for m in todo:
                    if m.pid in self._inflight:
                        await self._send_out(m)
            self.connected = True
            self.up.set()
            self._slot.set()
            if self.on_connect:
                r = self.on_connect()
                if hasattr(r, "send"):
                    await r
        except MQTTError as e:
            self._fail(e)
        except Exception as e:  # on_connect's bug: reported, the connection stays
            self.last_error = e

    async def _pinger(self):
        ka = self._ka * 1000
        if not ka:
            return
        while True:
            await asyncio.sleep_ms(ka // 4)
            now = ticks_ms()
            if ticks_diff(now, self._rx_t) > ka * 3 // 2:
                self._fail(MQTTError(KEEPALIVE_TIMEOUT, "keep alive timeout"))
                return
            if ticks_diff(now, self._tx_t) >= ka // 2 or ticks_diff(now, self._rx_t) >= ka // 2:
                try:
                    await self._write(b"\xc0\x00")
                except MQTTError:
                    return

    # ---- sending ----

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self._inflight and self._pid not in self._acks:
                return self._pid

    async def _write(self, *parts):
        # One packet from several buffers, written whole before any other packet. Big ones go
        # a slice at a time: what the socket cannot take at once is copied, one slice at most.
        async with self._lock:
            s = self._s
            if s is None:
                raise MQTTError(NOT_CONNECTED, "not connected")
            self._drainer = asyncio.current_task()
            try:
                for p in parts:
                    if len(p) <= _SLICE:
                        s.write(p)
                        continue
                    mv = memoryview(p)
                    for i in range(0, len(mv), _SLICE):
                        s.write(mv[i:i + _SLICE])
                        await s.drain()
                await s.drain()
            except asyncio.CancelledError:
                if self._drainer is None:  # cancelled by _teardown, not by our caller
                    raise MQTTError(NOT_CONNECTED, "connection lost")
                # The caller was cancelled mid-packet: the stream is unusable, reconnect.
                self._fail(MQTTError(NOT_CONNECTED, "write interrupted"))
                raise
            except OSError as e:
                self._fail(e)
                raise MQTTError(NOT_CONNECTED, "connection lost: %s" % e)
            finally:
                self._drainer = None
            self._tx_t = ticks_ms()

    async def _send_out(self, m):
        dup = m.conn != 0
        m.conn = self._conn
        try:
            await self._send_pub(m.topic, m.payload, m.pl, 1, m.retain, m.user, m.pid, dup)
        except MQTTError as e:
            if e.code != TOO_LARGE:  # the broker's limit may have changed since publish()
                raise
            m.err = e
            self._drop(m)

    async def _send_pub(self, topic, payload, pl, qos, retain, user, pid, dup):
        t = topic.encode()
        pp = encode_props(None, self.pub_user + user) if user else self._pub_props
        vh = 2 + len(t) + (2 if qos else 0) + len(pp)
        n = vh + pl
        h = bytearray()
        h.append(0x30 | (8 if dup else 0) | qos << 1 | (1 if retain else 0))
        _vbi(h, n)
        if self.max_out and len(h) + n > self.max_out:
            raise MQTTError(TOO_LARGE, "packet of %d bytes over the broker's maximum" % (len(h) + n))
        h += struct.pack("!H", len(t))
        h += t
        if qos:
            h += struct.pack("!H", pid)
        h += pp
        await self._write(h, payload)

    async def _sub_packet(self, kind, topics, o):
        pid = self._next_pid()
        a = self._acks[pid] = [asyncio.Event(), None]
        b = bytearray(struct.pack("!H", pid))
        b.append(0)  # no properties
        for t in topics:
            _str(b, t)
            if o is not None:
                b.append(o)
        h = bytearray((kind,))
        _vbi(h, len(b))
        try:
            await self._write(h, b)
        except MQTTError:
            self._acks.pop(pid, None)
            raise
        await a[0].wait()
        if isinstance(a[1], Exception):
            raise a[1]
        for rc in a[1]:
            if rc >= 0x80:
                raise MQTTError(rc, "subscription refused: 0x%02x" % rc)

    def _drop(self, m):
        self._inflight.pop(m.pid, None)
        m.ev.set()
        self._slot.set()

    # ---- receiving ----

    async def _read_into(self, r, mv):
        i = 0
        while i < len(mv):
            k = await r.readinto(mv[i:])
            if k is None:
                continue
            if not k:
                raise EOFError("connection closed by the broker")
            i += k

    async def _read_packet(self, r):
        # -> (first byte, body length); the body is in self._rx. Oversized: TOO_LARGE.
        hb = memoryview(self._hb)
        await self._read_into(r, hb[:2])
        n, sh, i = 0, 0, 1
        while True:
            b = hb[i]
            n |= (b & 127) << sh
            if not b & 128:
                break
            sh += 7
            i += 1
            if i > 4:
                raise _malformed("remaining length")
            await self._read_into(r, hb[i:i + 1])
        if n > len(self._rx):
            raise MQTTError(TOO_LARGE, "packet of %d bytes over our maximum %d" % (n, len(self._rx)))
        await self._read_into(r, self._rxv[:n])
        return hb[0], n

    async def _reader(self, r):
        try:
            while True:
                t, n = await self._read_packet(r)
                self._rx_t = ticks_ms()
                await self._handle(t, n)
        except (IndexError, ValueError) as e:  # read past the packet's end, bad UTF-8
            self._fail(_malformed(repr(e)))
        except Exception as e:  # socket errors, EOF, MQTTError
            self._fail(e)

    async def _handle(self, t, n):
        mv = self._rxv
        k = t >> 4
        if k == 3:
            await self._on_publish(t, n)
        elif k == 4:  # PUBACK
            if n < 2:
                raise _malformed("PUBACK")
            m = self._inflight.get(mv[0] << 8 | mv[1])
            if m:
                if n > 2 and mv[2] >= 0x80:
                    m.err = MQTTError(mv[2], "publish refused: 0x%02x" % mv[2])
                self._drop(m)
        elif k == 9 or k == 11:  # SUBACK, UNSUBACK
            if n < 3:
                raise _malformed("SUBACK")
            a = self._acks.pop(mv[0] << 8 | mv[1], None)
            _, i = decode_props(mv, 2, n)
            if a:
                a[1] = bytes(mv[i:n])
                a[0].set()
        elif k == 13:  # PINGRESP
            pass
        elif k == 14:  # DISCONNECT from the broker
            rc = mv[0] if n else 0
            props = decode_props(mv, 1, n)[0] if n > 1 else {}
            raise MQTTError(rc, "disconnected by the broker: 0x%02x %s" % (rc, props.get(_REASON_STRING, "")))
        else:
            raise MQTTError(PROTOCOL_ERROR, "unexpected packet type %d" % k)

    async def _on_publish(self, t, n):
        mv = self._rxv
        qos = t >> 1 & 3
        if qos > 1:
            raise MQTTError(PROTOCOL_ERROR, "QoS %d publish: we subscribe at QoS 1 at most" % qos)
        if n < 2:
            raise _malformed("PUBLISH")
        tl = mv[0] << 8 | mv[1]
        i = 2 + tl
        if i + (2 if qos else 0) > n:
            raise _malformed("PUBLISH topic")
        topic = str(mv[2:i], "utf-8")
        pid = 0
        if qos:
            pid = mv[i] << 8 | mv[i + 1]
            i += 2
        if i < n and mv[i] == 0:  # the usual case: no properties
            props = None
            i += 1
        else:
            props, i = decode_props(mv, i, n)
            if _TOPIC_ALIAS in props:
                raise MQTTError(PROTOCOL_ERROR, "topic alias: we allow none")
        if not topic:
            raise MQTTError(PROTOCOL_ERROR, "empty topic")
        if self.on_message:
            try:
                self.on_message(topic, mv[i:n], props, t & 1)
            except Exception as e:  # the handler's bug must not drop the connection
                self.last_error = e
        if qos:
            await self._write(b"\x40\x02" + struct.pack("!H", pid))


def _seq(m):
    return m.seq


class _Out:
    # A QoS 1 publish until its PUBACK.
    def __init__(self, pid, topic, payload, pl, retain, user, keep):
        self.pid = pid
        self.topic = topic
        self.payload = payload
        self.pl = pl
        self.retain = retain
        self.user = user
        self.keep = keep
        self.conn = 0  # connection number it was last sent on (0: not yet)
        self.err = None
        self.ev = asyncio.Event()
