# A power-loss-safe FIFO of byte records in a raw flash partition: a ring of 4 KiB sectors.
#
# Sector: [0:4] magic, [4:8] erase count, [8:12] crc  -- written right after the erase ("A")
#         [16:24] base seq, [24:28] serial, [28:32] crc -- written when the sector is opened ("B")
#         records from offset 32.
# Record: [0] commit (0 = committed), [1] ack (0 = acked up to here), [2:6] crc of [6:8+n],
#         [6:8] n, [8:8+n] data. Its seq is the sector's base plus its index in the sector.
# Sectors are opened in ring order with consecutive serials: mount follows the chain back from
# the highest serial. Acks only program (ack marks, B zeroed when a sector is retired); a
# sector is erased when the writer comes round to it, its B zeroed first so that a cut erase
# cannot bring a valid header back. Records never span sectors.
import binascii
import struct

SECTOR = 4096
_HDR = 32
_REC = 8
MAX_RECORD = SECTOR - _HDR - _REC  # 4056 bytes
_MAGIC = 0x31514D45  # b"EMQ1"
_CM = binascii.crc32(b"EMQ1")
_Z1 = b"\x00"
_Z16 = bytes(16)
_BLANK16 = b"\xff" * 16


class QueueFull(Exception):
    """append() under the "reject" policy with no free sector for the record."""


def _le(b, o, n):
    # Little-endian unsigned int from n bytes at b[o] (no allocation while it is small).
    v = 0
    for i in range(o + n - 1, o - 1, -1):
        v = v << 8 | b[i]
    return v


class FlashQueue:
    def __init__(self, bdev, policy="reject"):
        if policy not in ("reject", "drop_oldest"):
            raise ValueError("policy must be 'reject' or 'drop_oldest'")
        if bdev.ioctl(5, 0) != SECTOR:
            raise ValueError("block size must be 4096")
        self._dev = bdev
        self._n = bdev.ioctl(4, 0)
        if self._n < 2:
            raise ValueError("the queue needs at least 2 sectors")
        self._drop = policy == "drop_oldest"
        self._buf = bytearray(SECTOR)
        self._mv = memoryview(self._buf)
        self._sh = h = bytearray(_HDR)
        m = memoryview(h)
        self._a8, self._a12, self._b12, self._b16 = m[:8], m[:12], m[16:28], m[16:32]
        self._rest = self._mv[12:]
        self._rh = bytearray(_REC)
        self._appends = self._acks = self._drops = self._erases = self._prog = 0
        self._mount()

    def _wr(self, s, buf, off):
        self._prog += len(buf)
        self._dev.writeblocks(s, buf, off)

    def _sector(self, s):
        # -> (erase count or -1, base, serial); base -1: B blank, -2: B not valid.
        h = self._sh
        self._dev.readblocks(s, h, 0)
        w = _le(h, 4, 4) if _le(h, 0, 4) == _MAGIC and binascii.crc32(self._a8) == _le(h, 8, 4) else -1
        if self._b16 == _BLANK16:
            return w, -1, 0
        # base < 2**62 and serial < 2**30 (top bits clear: no big ints), checksum right
        if h[23] < 64 and h[27] < 64 and _le(h, 28, 4) == binascii.crc32(self._b12, _CM):
            return w, _le(h, 16, 8), _le(h, 24, 4)
        return w, -2, 0

    def _scan(self, s):
        # Reads sector s whole; -> (records, end, acked records, end of the acked ones),
        # counting committed, checksummed records from the start.
        b = self._buf
        m = self._mv
        self._dev.readblocks(s, b, 0)
        o = ao = _HDR
        k = a = 0
        while o + _REC <= SECTOR and b[o] == 0:
            e = o + _REC + (b[o + 6] | b[o + 7] << 8)
            if e > SECTOR or binascii.crc32(m[o + 6:e]) != _le(b, o + 2, 4):
                break
            k += 1
            if b[o + 1] == 0:
                a = k
                ao = e
            o = e
        return k, o, a, ao

    def _mount(self):
        n = self._n
        bases = [0] * n
        sers = [0] * n
        t = -1
        self._wmax = 0
        for s in range(n):
            w, b, r = self._sector(s)
            self._wmax = max(self._wmax, w)
            bases[s] = b
            sers[s] = r
            if b >= 0 and (t < 0 or r > sers[t]):
                t = s
        self._ready = 0
        if t < 0:  # no queue here
            self._h = self._t = n - 1
            self._seq = 0
            self._ser = -2
            self.format()
            return
        h = t
        while True:
            p = (h - 1) % n
            if p == t or bases[p] < 0 or sers[p] != sers[h] - 1 or bases[p] > bases[h]:
                break
            h = p
        self._t = t
        self._h = h
        self._ser = sers[t]
        self._hnb = bases[(h + 1) % n]
        k, o, a, ao = self._scan(h)
        self._hseq = bases[h] + a
        self._hoff = ao
        if h != t:
            self._hseq = min(self._hseq, self._hnb)
            k, o, _, _ = self._scan(t)
        self._seq = bases[t] + k
        # Appending goes on in this sector only if nothing was ever programmed past its end.
        self._toff = o if o >= SECTOR or min(self._mv[o:]) == 255 else SECTOR

    def _prep(self, s):
        # Leaves sector s erased with a valid A header (erases unless it is so already).
        w, b, _ = self._sector(s)
        if b == -1 and w >= 0:
            self._dev.readblocks(s, self._buf, 0)
            if min(self._rest) == 255:
                return
        if b >= 0:  # retire first: a cut erase must not leave a valid header behind
            self._wr(s, _Z16, 16)
        self._dev.ioctl(6, s)
        self._erases += 1
        w = (w if w >= 0 else self._wmax) + 1  # a lost count: the highest seen at mount
        h = self._sh
        struct.pack_into("<II", h, 0, _MAGIC, w)
        struct.pack_into("<I", h, 8, binascii.crc32(self._a8))
        self._wr(s, self._a12, 0)

    def _open(self, s):
        h = self._sh
        struct.pack_into("<QI", h, 16, self._seq, self._ser)
        struct.pack_into("<I", h, 28, binascii.crc32(self._b12, _CM))
        self._wr(s, self._b16, 16)
        if self._t == self._h:
            self._hnb = self._seq
        self._t = s
        self._toff = _HDR

    def _release(self):
        # The head sector holds nothing wanted any more: zero its B header (no erase).
        self._wr(self._h, _Z16, 16)
        self._h = h = (self._h + 1) % self._n
        self._hseq = max(self._hseq, self._hnb)
        self._hoff = _HDR
        if h != self._t:
            self._hnb = self._sector((h + 1) % self._n)[1]

    def _next(self):
        s = (self._t + 1) % self._n
        if s == self._h:
            if self._hseq < self._hnb:
                if not self._drop:
                    raise QueueFull
                self._drops += self._hnb - self._hseq
            self._release()
        if self._ready:
            self._ready = 0
        else:
            self._prep(s)
        self._ser += 1
        self._open(s)

    def _rec(self, s, o):
        # Length of the committed record at offset o of sector s, or -1.
        if o + _REC > SECTOR:
            return -1
        r = self._rh
        self._dev.readblocks(s, r, o)
        n = r[6] | r[7] << 8
        return n if r[0] == 0 and o + _REC + n <= SECTOR else -1

    def erase_ahead(self):
        """Erases the sector the writer needs next, if not done yet (an erase takes up to
        400 ms: call this when idle so that append does not wait). True if it did work."""
        s = (self._t + 1) % self._n
        if self._ready or s == self._h:
            return False
        self._prep(s)
        self._ready = 1
        return True

    def append(self, data):
        """Stores data (up to MAX_RECORD bytes); durable when this returns. -> its seq."""
        n = len(data)
        if n > MAX_RECORD:
            raise ValueError("record larger than %d bytes" % MAX_RECORD)
        if self._toff + _REC + n > SECTOR:
            self._next()
        b = self._buf
        m = self._mv
        o = self._toff
        b[6] = n & 255
        b[7] = n >> 8
        b[8:8 + n] = data
        struct.pack_into("<I", b, 2, binascii.crc32(m[6:8 + n]))
        self._wr(self._t, m[2:8 + n], o + 2)
        self._wr(self._t, _Z1, o)  # the commit mark, after the body
        self._toff = o + _REC + n
        q = self._seq
        self._seq = q + 1
        self._appends += 1
        return q

    def peek(self, n=1):
        """The oldest unacknowledged records, oldest first: [(seq, bytes)]. A record that
        fails its checksum is skipped; while nothing precedes it, it is dropped."""
        out = []
        s, o, q, nb = self._h, self._hoff, self._hseq, self._hnb
        m = self._mv
        while len(out) < n and q < self._seq:
            ln = -1 if s != self._t and q >= nb else self._rec(s, o)
            if ln < 0:
                if s == self._t:
                    break
                if not out:  # nothing left to read in the head sector: retire it
                    self._drops += max(0, nb - q)
                    self._release()
                    s, o, q, nb = self._h, self._hoff, self._hseq, self._hnb
                    continue
                s = (s + 1) % self._n
                o = _HDR
                q = max(q, nb)
                if s != self._t:
                    nb = self._sector((s + 1) % self._n)[1]
                continue
            crc = _le(self._rh, 2, 4)
            c = binascii.crc32(self._rh[6:8])
            if ln:
                self._dev.readblocks(s, m[:ln], o + _REC)
            q += 1
            o += _REC + ln
            if binascii.crc32(m[:ln], c) == crc:
                out.append((q - 1, bytes(m[:ln])))
            elif not out:
                self._drops += 1
                self._hseq, self._hoff = q, o
        return out

    def ack(self, seq):
        """Acknowledges every record up to seq (cumulative)."""
        if seq >= self._seq:
            raise ValueError("seq %d not appended yet" % seq)
        while seq >= self._hseq:
            if self._h != self._t and seq >= self._hnb - 1:
                self._acks += self._hnb - self._hseq
                self._release()
                continue
            o, q = self._hoff, self._hseq
            while True:
                ln = self._rec(self._h, o)
                if ln < 0 or q == seq:
                    break
                q += 1
                o += _REC + ln
            if ln < 0:  # records lost to corruption: the rest of this sector goes
                if self._h == self._t:
                    return
                self._hseq = self._hnb
                continue
            self._wr(self._h, _Z1, o + 1)
            self._acks += seq + 1 - self._hseq
            self._hseq = seq + 1
            self._hoff = o + _REC + ln

    def __len__(self):
        return self._seq - self._hseq

    @property
    def next_seq(self):
        """The seq the next append gets (so a record can carry its own seq)."""
        return self._seq

    def format(self):
        """Empties the queue; seqs carry on from where they were. Cut short, it leaves the
        queue as it was, or empty, or (on a full ring) without its oldest sector."""
        s = (self._t + 1) % self._n
        self._prep(s)
        self._ser += 2  # a gap in the serial chain cuts the old sectors off
        self._open(s)
        self._h = s
        self._hseq = self._seq
        self._hoff = _HDR
        self._ready = 0

    def stats(self):
        lo = hi = None
        for s in range(self._n):
            w = self._sector(s)[0]
            if w >= 0:
                lo = w if lo is None else min(lo, w)
                hi = w if hi is None else max(hi, w)
        n, h, t = self._n, self._h, self._t
        if h == t:
            used = self._toff - self._hoff
        else:
            used = SECTOR - self._hoff + ((t - h - 1) % n) * (SECTOR - _HDR) + self._toff - _HDR
        return {"capacity": n * (SECTOR - _HDR), "used": used, "records": len(self),
                "appends": self._appends, "acks": self._acks, "drops": self._drops,
                "erases": self._erases, "erases_min": lo, "erases_max": hi,
                "programmed": self._prog, "max_record": MAX_RECORD, "sectors": n}


def open_partition(policy="reject", label="queue"):
    """The queue in the board's raw data partition (esp32.Partition; a file on the unix build)."""
    import esp32
    p = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=label, block_size=SECTOR)
    if not p:
        raise OSError("no '%s' data partition" % label)
    return FlashQueue(p[0], policy)
