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
# On a 32-bit board small ints stop at 2**30: 3 CRC-32 values in 4 (and seqs from 2**30 on) are
# big ints that cost heap. CRCs are checked whole (a header and its own CRC give a fixed CRC)
# or compared as bytes, and loops count small ints, never seqs.
import binascii
import struct

# const(): folded by MicroPython's compiler (no import needed); a public name stays a global.
SECTOR = const(4096)
_HDR = const(32)  # the sector headers A and B; records follow
_B = const(16)  # where B starts
_REC = const(8)  # a record's header
MAX_RECORD = const(SECTOR - _HDR - _REC)  # 4056 bytes
_MAGIC = b"EMQ1"
_B_SEED = binascii.crc32(b"EMQ1")  # B's crc starts from this (A's from 0)
_RESIDUE = const(0x2144DF1C)  # CRC-32 of any bytes followed by their own CRC-32, little-endian
_ZERO1 = b"\x00"
_ZERO16 = bytes(16)
_BLANK16 = b"\xff" * 16
_IOCTL_BLOCKS = const(4)  # the block device protocol's ioctl ops
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_ERASE = const(6)


class QueueFull(Exception):
    """append() under the "reject" policy with no free sector for the record."""


def _le(b, o, n):
    # Little-endian unsigned int from n bytes at b[o] (no allocation while it is small).
    v = 0
    for i in range(o + n - 1, o - 1, -1):
        v = v << 8 | b[i]
    return v


def _u64(b, o):
    # Little-endian u64 at b[o]: while below 2**30 without allocating, else one unpack.
    if b[o + 3] < 64 and not (b[o + 4] | b[o + 5] | b[o + 6] | b[o + 7]):
        return _le(b, o, 4)
    return struct.unpack_from("<Q", b, o)[0]


class FlashQueue:
    def __init__(self, bdev, policy="reject"):
        if policy not in ("reject", "drop_oldest"):
            raise ValueError("policy must be 'reject' or 'drop_oldest'")
        if bdev.ioctl(_IOCTL_BLOCK_SIZE, 0) != SECTOR:
            raise ValueError("block size must be 4096")
        self._dev = bdev
        self._sectors = bdev.ioctl(_IOCTL_BLOCKS, 0)
        if self._sectors < 2:
            raise ValueError("the queue needs at least 2 sectors")
        self._drop_oldest = policy == "drop_oldest"
        self._buf = bytearray(SECTOR)  # one sector read whole, or a record being built
        self._mv = memoryview(self._buf)
        self._after_a = self._mv[12:]  # what follows A: all 0xff in a freshly erased sector
        # A sector's headers, read or built; each header as programmed and the part its crc covers.
        self._hdr = h = bytearray(_HDR)
        m = memoryview(h)
        self._a_body, self._a_hdr, self._b_body, self._b_hdr = m[:8], m[:12], m[16:28], m[16:32]
        self._rec_hdr = bytearray(_REC)
        self._crc = bytearray(4)  # a computed CRC, packed to compare as bytes
        # Set by mount, kept up to date after:
        #   _head, _tail: the oldest sector and the one appended to (the same when one is in use)
        #   _head_seq, _head_off: the oldest unacknowledged seq and its offset in the head sector
        #   _head_end: the first seq after the head sector (the base of the sector after it)
        #   _seq, _tail_off: the seq and the offset the next append gets
        #   _serial: the tail's serial; _max_erases: the highest erase count seen at mount
        #   _erased_ahead: 1 when the sector after the tail is already erased with its A written
        self._appends = self._acks = self._drops = self._erases = self._programmed = 0
        self._mount()

    def _program(self, s, buf, off):
        self._programmed += len(buf)
        self._dev.writeblocks(s, buf, off)

    def _crc_is(self, data, b, o):
        # True when the CRC-32 of data is the little-endian u32 at b[o] (compared as bytes).
        c = self._crc
        struct.pack_into("<I", c, 0, binascii.crc32(data))
        return c[0] == b[o] and c[1] == b[o + 1] and c[2] == b[o + 2] and c[3] == b[o + 3]

    def _headers(self, s):
        # -> (erase count or -1, base, serial); base -1: B blank, -2: B not valid.
        h = self._hdr
        self._dev.readblocks(s, h, 0)
        ok = h[0] == 69 and h[1] == 77 and h[2] == 81 and h[3] == 49  # EMQ1
        w = _le(h, 4, 4) if ok and binascii.crc32(self._a_hdr) == _RESIDUE else -1
        if self._b_hdr == _BLANK16:
            return w, -1, 0
        # base < 2**62 and serial < 2**30 (top bits clear), checksum right
        if h[23] < 64 and h[27] < 64 and binascii.crc32(self._b_hdr, _B_SEED) == _RESIDUE:
            return w, _u64(h, 16), _le(h, 24, 4)
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
            if e > SECTOR or not self._crc_is(m[o + 6:e], b, o + 2):
                break
            k += 1
            if b[o + 1] == 0:
                a = k
                ao = e
            o = e
        return k, o, a, ao

    def _mount(self):
        n = self._sectors
        bases = [0] * n
        sers = [0] * n
        t = -1
        self._max_erases = 0
        for s in range(n):
            w, b, r = self._headers(s)
            self._max_erases = max(self._max_erases, w)
            bases[s] = b
            sers[s] = r
            if b >= 0 and (t < 0 or r > sers[t]):
                t = s
        self._erased_ahead = 0
        if t < 0:  # no queue here
            self._head = self._tail = n - 1
            self._seq = 0
            self._serial = -2
            self.format()
            return
        h = t
        while True:
            p = (h - 1) % n
            if p == t or bases[p] < 0 or sers[p] != sers[h] - 1 or bases[p] > bases[h]:
                break
            h = p
        self._tail = t
        self._head = h
        self._serial = sers[t]
        self._head_end = bases[(h + 1) % n]
        k, o, a, ao = self._scan(h)
        self._head_seq = bases[h] + a
        self._head_off = ao
        if h != t:
            self._head_seq = min(self._head_seq, self._head_end)
            k, o, _, _ = self._scan(t)
        self._seq = bases[t] + k
        # Appending goes on in this sector only if nothing was ever programmed past its end.
        self._tail_off = o if o >= SECTOR or min(self._mv[o:]) == 255 else SECTOR

    def _prepare(self, s):
        # Leaves sector s erased with a valid A header (erases unless it is so already).
        w, b, _ = self._headers(s)
        if b == -1 and w >= 0:
            self._dev.readblocks(s, self._buf, 0)
            if min(self._after_a) == 255:
                return
        if b >= 0:  # retire first: a cut erase must not leave a valid header behind
            self._program(s, _ZERO16, _B)
        self._dev.ioctl(_IOCTL_ERASE, s)
        self._erases += 1
        w = (w if w >= 0 else self._max_erases) + 1  # a lost count: the highest seen at mount
        h = self._hdr
        struct.pack_into("<4sI", h, 0, _MAGIC, w)
        struct.pack_into("<I", h, 8, binascii.crc32(self._a_body))
        self._program(s, self._a_hdr, 0)

    def _open(self, s):
        h = self._hdr
        struct.pack_into("<QI", h, _B, self._seq, self._serial)
        struct.pack_into("<I", h, 28, binascii.crc32(self._b_body, _B_SEED))
        self._program(s, self._b_hdr, _B)
        if self._tail == self._head:
            self._head_end = self._seq
        self._tail = s
        self._tail_off = _HDR

    def _release(self):
        # The head sector holds nothing wanted any more: zero its B header (no erase).
        self._program(self._head, _ZERO16, _B)
        self._head = h = (self._head + 1) % self._sectors
        self._head_seq = max(self._head_seq, self._head_end)
        self._head_off = _HDR
        if h != self._tail:
            self._head_end = self._headers((h + 1) % self._sectors)[1]

    def _advance(self):
        s = (self._tail + 1) % self._sectors
        if s == self._head:
            if self._head_seq < self._head_end:
                if not self._drop_oldest:
                    raise QueueFull
                self._drops += self._head_end - self._head_seq
            self._release()
        if self._erased_ahead:
            self._erased_ahead = 0
        else:
            self._prepare(s)
        self._serial += 1
        self._open(s)

    def _record_len(self, s, o):
        # Length of the committed record at offset o of sector s, or -1.
        if o + _REC > SECTOR:
            return -1
        r = self._rec_hdr
        self._dev.readblocks(s, r, o)
        n = r[6] | r[7] << 8
        return n if r[0] == 0 and o + _REC + n <= SECTOR else -1

    def erase_ahead(self):
        """Erases the sector the writer needs next, if not done yet (an erase takes up to
        400 ms: call this when idle so that append does not wait). True if it did work."""
        s = (self._tail + 1) % self._sectors
        if self._erased_ahead or s == self._head:
            return False
        self._prepare(s)
        self._erased_ahead = 1
        return True

    def append(self, data):
        """Stores data (up to MAX_RECORD bytes); durable when this returns. -> its seq."""
        n = len(data)
        if n > MAX_RECORD:
            raise ValueError("record larger than %d bytes" % MAX_RECORD)
        if self._tail_off + _REC + n > SECTOR:
            self._advance()
        b = self._buf
        m = self._mv
        o = self._tail_off
        b[6] = n & 255
        b[7] = n >> 8
        b[8:8 + n] = data
        struct.pack_into("<I", b, 2, binascii.crc32(m[6:8 + n]))
        self._program(self._tail, m[2:8 + n], o + 2)
        self._program(self._tail, _ZERO1, o)  # the commit mark, after the body
        self._tail_off = o + _REC + n
        q = self._seq
        self._seq = q + 1
        self._appends += 1
        return q

    def peek(self, n=1):
        """The oldest unacknowledged records, oldest first: [(seq, bytes)]. A record that
        fails its checksum is skipped; while nothing precedes it, it is dropped."""
        out = []
        s, o, q, end = self._head, self._head_off, self._head_seq, self._head_end
        m = self._mv
        while len(out) < n and q < self._seq:
            ln = -1 if s != self._tail and q >= end else self._record_len(s, o)
            if ln < 0:
                if s == self._tail:
                    break
                if not out:  # nothing left to read in the head sector: retire it
                    self._drops += max(0, end - q)
                    self._release()
                    s, o, q, end = self._head, self._head_off, self._head_seq, self._head_end
                    continue
                s = (s + 1) % self._sectors
                o = _HDR
                q = max(q, end)
                if s != self._tail:
                    end = self._headers((s + 1) % self._sectors)[1]
                continue
            self._dev.readblocks(s, m[:ln + 2], o + 6)  # the length again, and the data
            q += 1
            o += _REC + ln
            if self._crc_is(m[:ln + 2], self._rec_hdr, 2):
                out.append((q - 1, bytes(m[2:ln + 2])))
            elif not out:
                self._drops += 1
                self._head_seq, self._head_off = q, o
        return out

    def ack(self, seq):
        """Acknowledges every record up to seq (cumulative)."""
        if seq >= self._seq:
            raise ValueError("seq %d not appended yet" % seq)
        while seq >= self._head_seq:
            k = seq - self._head_seq  # records before seq's in the head sector: a small int
            if self._head != self._tail:
                left = self._head_end - self._head_seq
                if k >= left - 1:
                    self._acks += left
                    self._release()
                    continue
            o = self._head_off
            while True:
                ln = self._record_len(self._head, o)
                if ln < 0 or not k:
                    break
                k -= 1
                o += _REC + ln
            if ln < 0:  # records lost to corruption: the rest of this sector goes
                if self._head == self._tail:
                    return
                self._head_seq = self._head_end
                continue
            self._program(self._head, _ZERO1, o + 1)
            self._acks += seq - self._head_seq + 1
            self._head_seq = seq + 1
            self._head_off = o + _REC + ln

    def __len__(self):
        return self._seq - self._head_seq

    @property
    def next_seq(self):
        """The seq the next append gets (so a record can carry its own seq)."""
        return self._seq

    def format(self):
        """Empties the queue; seqs carry on from where they were. Cut short, it leaves the
        queue as it was, or empty, or (on a full ring) without its oldest sector."""
        s = (self._tail + 1) % self._sectors
        self._prepare(s)
        self._serial += 2  # a gap in the serial chain cuts the old sectors off
        self._open(s)
        self._head = s
        self._head_seq = self._seq
        self._head_off = _HDR
        self._erased_ahead = 0

    def stats(self):
        lo = hi = None
        for s in range(self._sectors):
            w = self._headers(s)[0]
            if w >= 0:
                lo = w if lo is None else min(lo, w)
                hi = w if hi is None else max(hi, w)
        n, h, t = self._sectors, self._head, self._tail
        if h == t:
            used = self._tail_off - self._head_off
        else:
            used = SECTOR - self._head_off + ((t - h - 1) % n) * (SECTOR - _HDR) + self._tail_off - _HDR
        return {"capacity": n * (SECTOR - _HDR), "used": used, "records": len(self),
                "appends": self._appends, "acks": self._acks, "drops": self._drops,
                "erases": self._erases, "erases_min": lo, "erases_max": hi,
                "programmed": self._programmed, "max_record": MAX_RECORD, "sectors": n}


def open_partition(policy="reject", label="queue", path="/eventq", size=65536):
    """The queue in the board's raw data partition (esp32.Partition; a file on the unix build);
    on a board without one (the stock partition table), in sector files in the folder path on
    the board's filesystem, created for size bytes the first time (fileblock.py)."""
    try:
        import esp32
        p = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=label, block_size=SECTOR)
    except ImportError:  # a port without esp32
        p = None
    if p:
        return FlashQueue(p[0], policy)
    from .fileblock import FileBlock
    return FlashQueue(FileBlock(path, size), policy)
