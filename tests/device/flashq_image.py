# Flash queue images built and read by docs/flash-queue.md, not by the queue's code: its sector
# header and record tables as struct formats, its CRC seeds, and its mount rule for the chain.
# Tests forge hostile partitions with it and find the head and tail sectors of a real one.
import binascii
import struct

SECTOR = 4096  # the erase unit, and the queue's ring element
HEADER = 32  # sector header: A at [0:12], [12:16] left erased, B at [16:32]
RECORD = 8  # record header, before the record's data
MAX_RECORD = SECTOR - HEADER - RECORD
MAGIC = b"EMQ1"  # the format version: any change to the format changes it
B_SEED = binascii.crc32(MAGIC)  # header B's CRC starts from the CRC of the magic

A_FMT = "<4sII"  # A: magic, erase count, crc32(A[0:8])
A_OFF = 0
B_FMT = "<QII"  # B: base seq, serial, crc32(B[0:12], B_SEED)
B_OFF = 16
REC_FMT = "<BBIH"  # record: commit, ack, crc32(record[6:8+n]), n; then n bytes of data
COMMITTED = 0x00  # commit byte of a committed record (erased: 0xFF)
ACKED = 0x00  # ack byte of the last record acknowledged so far in its sector
BLANK = 0xFF
BASE_LIMIT = 1 << 62  # a valid B has base < 2**62 ...
SERIAL_LIMIT = 1 << 30  # ... and serial < 2**30

# Field -> (offset, size) inside a sector (headers) or a record, for targeted damage.
A_FIELDS = {"magic": (0, 4), "erase_count": (4, 4), "a_crc": (8, 4)}
B_FIELDS = {"base": (16, 8), "serial": (24, 4), "b_crc": (28, 4)}
REC_FIELDS = {"commit": (0, 1), "ack": (1, 1), "crc": (2, 4), "length": (6, 2), "data": (8, None)}


def header_a(erase_count, magic=MAGIC):
    """Header A (12 bytes): written right after the erase."""
    b = bytearray(struct.pack(A_FMT, magic, erase_count, 0))
    struct.pack_into("<I", b, 8, binascii.crc32(b[0:8]))
    return bytes(b)


def header_b(base, serial, seed=B_SEED):
    """Header B (16 bytes): written when the sector is opened for appending."""
    b = bytearray(struct.pack(B_FMT, base, serial, 0))
    struct.pack_into("<I", b, 12, binascii.crc32(b[0:12], seed))
    return bytes(b)


def sector_header(erase_count, base=None, serial=None):
    """A whole 32-byte sector header; B left erased (0xFF) when base is None."""
    b = header_b(base, serial) if base is not None else b"\xff" * 16
    return header_a(erase_count) + b"\xff" * 4 + b


def record_crc(data):
    """The record checksum: CRC-32 over the little-endian length and the data."""
    return binascii.crc32(bytes(data), binascii.crc32(struct.pack("<H", len(data))))


def record_header(n, crc, committed=True, acked=False):
    """A record header (8 bytes) for n bytes of data with the given checksum."""
    return struct.pack(REC_FMT, COMMITTED if committed else BLANK, ACKED if acked else BLANK, crc, n)


def record(data, committed=True, acked=False):
    """A well-formed record: header and data."""
    return record_header(len(data), record_crc(data), committed, acked) + bytes(data)


def put(img, sector, offset, b):
    """Programs b into img at offset of sector (a plain store: forging, not NOR rules)."""
    a = sector * SECTOR + offset
    img[a:a + len(b)] = b


def read_a(img, s):
    """Sector s's erase count, or None when header A is not valid."""
    o = s * SECTOR
    magic, count, crc = struct.unpack_from(A_FMT, img, o)
    if magic == MAGIC and crc == binascii.crc32(bytes(img[o:o + 8])):
        return count
    return None


def read_b(img, s):
    """Sector s's header B: "blank", "invalid" or (base, serial)."""
    o = s * SECTOR + B_OFF
    raw = bytes(img[o:o + 16])
    if raw == b"\xff" * 16:
        return "blank"
    base, serial, crc = struct.unpack(B_FMT, raw)
    if base < BASE_LIMIT and serial < SERIAL_LIMIT and crc == binascii.crc32(raw[0:12], B_SEED):
        return base, serial
    return "invalid"


def chain(img):
    """The sectors holding the queue, head first, by the document's mount rule: the tail is the
    valid B with the highest serial (the lowest sector on a tie); the chain runs back through
    the ring while each earlier sector has serial one less and a base no greater. [] when no
    sector has a valid B (mount formats)."""
    n = len(img) // SECTOR
    bs = [read_b(img, s) for s in range(n)]
    t = -1
    for s in range(n):
        if isinstance(bs[s], tuple) and (t < 0 or bs[s][1] > bs[t][1]):
            t = s
    if t < 0:
        return []
    out = [t]
    h = t
    while True:
        p = (h - 1) % n
        if p == t or not isinstance(bs[p], tuple):
            break
        if bs[p][1] != bs[h][1] - 1 or bs[p][0] > bs[h][0]:
            break
        out.insert(0, p)
        h = p
    return out


def records(img, s):
    """The committed, checksummed records of sector s from its start, as mount counts them:
    [(offset, data, acked)] up to the first record that is not."""
    out = []
    o = HEADER
    base = s * SECTOR
    while o + RECORD <= SECTOR:
        commit, ack, crc, n = struct.unpack_from(REC_FMT, img, base + o)
        e = o + RECORD + n
        if commit != COMMITTED or e > SECTOR:
            break
        data = bytes(img[base + o + RECORD:base + e])
        if record_crc(data) != crc:
            break
        out.append((o, data, ack == ACKED))
        o = e
    return out
