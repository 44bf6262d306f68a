# The flash queue mounts whatever the partition holds: random garbage, erased flash, a
# half-erased sector, sectors of real queues shuffled, duplicated and bit-flipped, and every
# field of docs/flash-queue.md's tables damaged in turn. No exception escapes FlashQueue(...);
# what it then shows was really appended (same seq, same bytes, in order); and it works on from
# there under strict NOR rules, across remounts. Images are forged and read with
# flashq_image.py, which follows the document, not the queue's code.
# over board heap: the forged flash images (flashq_image.py) are held in RAM; on the board they are the chip
import random
import struct
import sys

sys.path.insert(0, "tests/device")
from edgemcp.flashq import FlashQueue  # noqa: E402
from flashq_image import (A_FIELDS, A_OFF, B_FIELDS, B_OFF, HEADER, RECORD, REC_FIELDS,  # noqa: E402
                          SECTOR, chain, header_a, header_b, put, read_b, record_crc, record_header,
                          records)
from flashq_sweep import Model, do, payload, workload  # noqa: E402
from powercut import PowerCut, RAMFlash  # noqa: E402

random.seed(7)


def rand(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def source(n, policy, seed):
    """A queue that has been used for a while: its image and every (seq, data) appended."""
    pc = PowerCut(RAMFlash(n))
    m = Model(policy)
    q = FlashQueue(pc, policy)
    appended = {}
    for op in workload("full" if seed % 2 else "mixed", seed, 120):
        last = m.last
        q = do(q, pc, op, m)
        if m.last != last:
            appended[m.last] = op[1]
    return bytes(pc.dev.mem), appended


def forge(img, sec, i):
    # Headers with valid checksums and wild fields (bytes 12..16 keep their garbage): serial
    # chains or not, bases near 2**64; then committed "records" of any length over the
    # garbage, half of them with a checksum that matches it.
    put(img, sec, A_OFF, header_a(random.getrandbits(16)))
    base = random.getrandbits(30) if i % 3 else (1 << 64) - 1 - random.getrandbits(8)
    ser = sec + i if i % 4 else random.getrandbits(31)
    put(img, sec, B_OFF, header_b(base, ser))
    r = HEADER
    while r + RECORD < SECTOR and random.getrandbits(2):
        a = sec * SECTOR + r
        acked = not random.getrandbits(1)
        ln = random.getrandbits(12) if i % 2 else random.getrandbits(6)
        if random.getrandbits(1) and r + RECORD + ln <= SECTOR:  # a valid checksum
            crc = record_crc(img[a + RECORD:a + RECORD + ln])
        else:  # the garbage already there
            crc = struct.unpack_from("<I", img, a + 2)[0]
        put(img, sec, r, record_header(ln, crc, True, acked))
        r += RECORD + ln


def flip(img, a, size):
    # One bit of the size bytes at a, chosen at random.
    img[a + random.getrandbits(16) % size] ^= 1 << random.getrandbits(3)


def fields(img):
    """Damaged copies of img, one at a time, one per field of the document's tables: headers A
    and B of every sector of the chain, and every field of the first and last record of each."""
    for s in chain(img):
        for off, size in list(A_FIELDS.values()) + list(B_FIELDS.values()):
            b = bytearray(img)
            flip(b, s * SECTOR + off, size)
            yield b
        recs = records(img, s)
        for o, data, _ in recs[:1] + recs[1:][-1:]:
            for off, size in REC_FIELDS.values():
                size = size or len(data)
                if size:
                    b = bytearray(img)
                    flip(b, s * SECTOR + o + off, size)
                    yield b


def by_the_document(img):
    """[(seq, data)] the document says img holds unacknowledged: the chain's records, seq =
    the sector's base + index, from the head sector's last ack mark on."""
    out = []
    c = chain(img)
    for s in c:
        base = read_b(img, s)[0]
        recs = records(img, s)
        start = 0
        if s == c[0]:
            for k, r in enumerate(recs):
                if r[2]:
                    start = k + 1
        out += [(base + k, r[1]) for k, r in enumerate(recs) if k >= start]
    return out


def check(img, n, appended, policy="reject"):
    pc = PowerCut(RAMFlash(n, img))
    q = FlashQueue(pc, policy)  # must not raise, whatever img holds
    got = q.peek(len(q) + 1)
    last = -1
    for s, d in got:
        assert s > last, ("seqs out of order", s, last)
        # (forged images hold well-formed records: there anything goes but order)
        assert appended is None or appended.get(s) == d, ("a record nobody appended", s)
        last = s
    # It works on: drained as a consumer does, a new record comes after all of them.
    while len(q):
        g = q.peek(8)
        if not g:
            break
        q.ack(g[-1][0])
    assert len(q) == 0, "records nobody can read hold the queue"
    s = q.append(b"sentinel")
    assert s > last
    assert q.peek(len(q) + 1)[-1] == (s, b"sentinel")
    q.ack(s)
    assert len(q) == 0
    m = Model(policy)
    m.last = s
    for op in workload("small", len(img) + s, 40) + [("m",)]:
        q = do(q, pc, op, m)
    q.stats()
    return len(got)


images = shown = field_images = field_shown = 0
for n in (2, 3, 5, 8):
    appended = {}
    # Erased flash formats itself; random bytes; random bytes with erased sectors between.
    assert check(b"\xff" * (n * SECTOR), n, appended) == 0
    for i in range(25):
        img = bytearray(rand(n * SECTOR))
        if i % 2:
            for s in range(n):
                if random.getrandbits(1):
                    img[s * SECTOR:(s + 1) * SECTOR] = b"\xff" * SECTOR
        assert check(img, n, appended) == 0
        images += 1
    # Forged headers with valid checksums and wild fields: serial chains, huge bases,
    # committed "records" of any length.
    for i in range(25):
        img = bytearray(rand(n * SECTOR))
        for sec in range(n):
            forge(img, sec, i)
        check(img, n, None, "drop_oldest" if i % 2 else "reject")
        images += 1
    # Real queues, damaged.
    for seed in range(6):
        img, appended = source(n, "reject", seed)
        q = FlashQueue(PowerCut(RAMFlash(n, img)))
        assert q.peek(len(q) + 1) == by_the_document(img), ("the document reads it differently", n, seed)
        assert check(img, n, appended) >= 0
        for i in range(30):
            b = bytearray(img)
            kind = i % 6
            s = random.getrandbits(8) % n
            if kind == 0:  # a half-erased sector (either half)
                a = s * SECTOR + (SECTOR // 2 if i % 12 else 0)
                b[a:a + SECTOR // 2] = b"\xff" * (SECTOR // 2)
            elif kind == 1:  # a sector partly erased: random bits set
                a = s * SECTOR
                r = rand(SECTOR)
                for j in range(SECTOR):
                    b[a + j] |= r[j] & r[(j * 7) % SECTOR]
            elif kind == 2:  # a sector of garbage
                b[s * SECTOR:(s + 1) * SECTOR] = rand(SECTOR)
            elif kind == 3:  # sectors shuffled
                order = list(range(n))
                for j in range(n - 1, 0, -1):
                    k = random.getrandbits(8) % (j + 1)
                    order[j], order[k] = order[k], order[j]
                b = bytearray(b"".join(img[o * SECTOR:(o + 1) * SECTOR] for o in order))
            elif kind == 4:  # a sector copied over another
                t = random.getrandbits(8) % n
                b[t * SECTOR:(t + 1) * SECTOR] = img[s * SECTOR:(s + 1) * SECTOR]
            else:  # bits flipped in headers and records
                for j in range(1 + random.getrandbits(3)):
                    a = random.getrandbits(16) % len(b)
                    b[a] ^= 1 << random.getrandbits(3)
            shown += check(bytes(b), n, appended, "drop_oldest" if i % 2 else "reject")
            images += 1
        for j, b in enumerate(fields(img)):
            field_shown += check(bytes(b), n, appended, "drop_oldest" if j % 2 else "reject")
            field_images += 1
# A half-erased sector at the head of a long queue loses at most what that sector held.
pc = PowerCut(RAMFlash(6))
q = FlashQueue(pc)
for i in range(60):
    q.append(payload(i, 300 + i))
q.ack(4)
img = bytes(pc.dev.mem)
before = q.peek(len(q))
c = chain(img)
h, nb = c[0], read_b(img, c[1])[0]  # the head sector, and the first seq after it
assert len(c) > 1 and len(before) == 55
assert by_the_document(img) == before, "the queue and docs/flash-queue.md read the image differently"
b = bytearray(img)
b[h * SECTOR + SECTOR // 2:(h + 1) * SECTOR] = b"\xff" * (SECTOR // 2)
q = FlashQueue(PowerCut(RAMFlash(6, b)))
after = q.peek(len(q) + 1)
assert [r for r in before if r[0] >= nb] == [r for r in after if r[0] >= nb]
hb = [r for r in before if r[0] < nb]
ha = [r for r in after if r[0] < nb]
assert ha == hb[:len(ha)] and 0 < len(ha) < len(hb), (len(ha), len(hb))
print("images mounted:", images, "records shown from damaged queues:", shown)
print("field damage: images mounted:", field_images, "records shown:", field_shown)
print("ok")
