# The flash queue's API and budgets on an in-memory NOR flash under strict NOR rules:
# formatting, FIFO order, cumulative acks without erases, seqs across remounts and formats,
# both full policies, erase-ahead, write amplification, wear, heap (mount reads: mp_flashq_shim).
# over board heap: the NOR flash it runs on (powercut.RAMFlash) is simulated in RAM; on the board it is the chip
import gc
import sys

sys.path.insert(0, "tests/device")
from edgemcp.flashq import MAX_RECORD, FlashQueue, QueueFull  # noqa: E402
from powercut import PowerCut, RAMFlash  # noqa: E402


class LoopFlash(RAMFlash):
    # Allocates nothing itself, so gc.mem_alloc() shows what the queue allocates.
    def readblocks(self, n, buf, off=0):
        a = n * 4096 + off
        m = self.mem
        for i in range(len(buf)):
            buf[i] = m[a + i]

    def writeblocks(self, n, buf, off):
        a = n * 4096 + off
        m = self.mem
        for i in range(len(buf)):
            m[a + i] &= buf[i]

    def ioctl(self, op, arg):
        if op != 6:
            return RAMFlash.ioctl(self, op, arg)
        m = self.mem
        for i in range(arg * 4096, arg * 4096 + 4096):
            m[i] = 255
        self.wear[arg] += 1
        return 0


def fresh(sectors, policy="reject"):
    pc = PowerCut(RAMFlash(sectors))
    return pc, FlashQueue(pc, policy)


# An erased device formats itself; bad arguments are refused.
pc, q = fresh(4)
assert len(q) == 0 and q.peek(5) == []
st = q.stats()
assert st["records"] == 0 and st["capacity"] == 4 * (4096 - 32) and st["sectors"] == 4
assert MAX_RECORD >= 2048
for bad in (lambda: q.append(bytes(MAX_RECORD + 1)), lambda: q.ack(0),
            lambda: FlashQueue(pc, "keep"), lambda: FlashQueue(PowerCut(RAMFlash(1)))):
    try:
        bad()
    except ValueError:
        pass
    else:
        raise AssertionError("no ValueError")

# FIFO, identical bytes, any bytes-like, 0 bytes and the largest record.
data = [b"", b"x", bytearray(b"hello"), memoryview(b"view"), bytes(range(256)) * 8, bytes(MAX_RECORD)]
seqs = [q.append(d) for d in data]
assert seqs == list(range(6)), seqs
got = q.peek(10)
assert [s for s, _ in got] == seqs and [d for _, d in got] == [bytes(d) for d in data]
assert all(type(d) is bytes for _, d in got)
assert q.peek() == [(0, b"")]
q.ack(2)  # cumulative
assert len(q) == 3 and q.peek(1)[0][0] == 3
q.ack(1)  # already acknowledged: nothing happens
assert len(q) == 3
q = FlashQueue(pc)
assert [s for s, _ in q.peek(10)] == [3, 4, 5] and q.peek(3)[2][1] == bytes(MAX_RECORD)

# Seqs keep increasing when everything is acknowledged and every sector recycled, across
# remounts and format().
pc, q = fresh(3)
last = -1
for rnd in range(12):
    for i in range(5):
        s = q.append(bytes(700))
        assert s > last
        last = s
    q.ack(last)
    assert len(q) == 0
    q = FlashQueue(pc)
    assert len(q) == 0
assert min(pc.dev.wear) >= 3, pc.dev.wear
q.append(b"a")
q.format()
assert len(q) == 0 and q.peek() == []
s = q.append(b"b")
assert s == last + 2, (s, last)
q = FlashQueue(pc)
assert q.peek(5) == [(s, b"b")]

# Acknowledging never erases, also when it frees whole sectors.
pc, q = fresh(4)
for i in range(40):
    q.append(bytes(300))
e0 = pc.ops
erases = sum(pc.dev.wear)
for s in range(0, 40, 3):
    q.ack(s)
q.ack(39)
assert sum(pc.dev.wear) == erases and len(q) == 0
assert pc.ops - e0 <= 16, pc.ops - e0  # small programs only

# Full under "reject": QueueFull, nothing lost; acking makes room again.
pc, q = fresh(4)
n = 0
try:
    while True:
        q.append(bytes([n & 255]) * 500)
        n += 1
except QueueFull:
    pass
assert n >= 4 * 7, n
assert len(q) == n and q.peek(n)[-1][1][0] == (n - 1) & 255
q = FlashQueue(pc)
assert len(q) == n
q.ack(10)
q.append(b"more")
assert len(q) == n - 11 + 1 and q.peek(1)[0][0] == 11

# Full under "drop_oldest": the oldest records go, counted; the newest stay.
pc, q = fresh(4, "drop_oldest")
for i in range(200):
    q.append(bytes([i]) * 500)
st = q.stats()
assert st["drops"] > 0 and st["drops"] + len(q) == 200, st
assert q.peek(len(q))[-1] == (199, bytes([199]) * 500)
q = FlashQueue(pc, "drop_oldest")
assert len(q) == 200 - st["drops"]

# Erasing ahead takes the erase off the append path.
pc, q = fresh(4)
q.erase_ahead()
w = sum(pc.dev.wear)
for i in range(8):
    q.append(bytes(500))  # 8 fill the first sector exactly: the 9th goes to the next
assert sum(pc.dev.wear) == w
q.append(bytes(500))
assert sum(pc.dev.wear) == w, "append erased although a sector was ready"
assert q.erase_ahead() and not q.erase_ahead()

# Write amplification (bytes programmed per payload byte, acks included).
for size, limit in ((32, 1.5), (200, 1.10), (1024, 1.10)):
    pc, q = fresh(8)
    p0 = q.stats()["programmed"]
    n = 0
    for rnd in range(20):
        for i in range(16):
            q.append(bytes(size))
            n += 1
            q.erase_ahead()
        for s, _ in q.peek(16):
            q.ack(s)
    wa = (q.stats()["programmed"] - p0) / (n * size)
    print("write amplification %4d B: %.3f" % (size, wa))
    assert wa <= limit, (size, wa)

# Wear: strict ring order, most minus least erased sector at most 1.
pc, q = fresh(6)
for i in range(6 * 100 * 8):
    q.ack(q.append(bytes(480)))
    if i % 5 == 0:
        q.erase_ahead()
st = q.stats()
print("wear after %d passes:" % (st["erases_max"]), pc.dev.wear)
assert max(pc.dev.wear) - min(pc.dev.wear) <= 1 and st["erases_max"] - st["erases_min"] <= 1
assert st["erases_max"] >= 100

# Heap: resident and allocated per append/ack.
gc.collect()
h0 = gc.mem_alloc()
dev = LoopFlash(8)
gc.collect()
h1 = gc.mem_alloc()
q = FlashQueue(dev)
gc.collect()
resident = gc.mem_alloc() - h1
print("resident heap of a queue: %d bytes" % resident)
assert resident <= 6 * 1024 + 4096, resident
for size in (32, 200, 1024):
    d = bytes(size)
    for ahead in (True, False):  # without erase-ahead, some appends prepare a sector too
        worst = wack = 0
        for i in range(40):
            if ahead:
                q.erase_ahead()
            gc.collect()
            b = gc.mem_alloc()
            s = q.append(d)
            worst = max(worst, gc.mem_alloc() - b)
            gc.collect()
            b = gc.mem_alloc()
            q.ack(s)
            wack = max(wack, gc.mem_alloc() - b)
        print("heap per op, %d B records%s: append %d, ack %d" % (
            size, "" if ahead else " (no erase-ahead)", worst, wack))
        assert worst <= 256 and wack <= 256, (worst, wack)

# Seqs past a 32-bit board's small ints (2**30, 2**31, 2**32): the queue carries on with them,
# and no loop counts in seqs (range() wraps there, and every step would be a big int): acking
# 8 records stays within the same budget as acking 1.
import flashq_image  # noqa: E402
for base in (2 ** 30 - 3, 2 ** 31 + 5, 2 ** 32 + 7):
    img = bytearray(b"\xff" * 8 * 4096)
    flashq_image.put(img, 0, 0, flashq_image.sector_header(1, base, 1))
    dev = LoopFlash(8, img)
    q = FlashQueue(dev)
    d = bytes(200)
    assert q.next_seq == base and len(q) == 0, (q.next_seq, base)
    worst = wack = 0
    for rnd in range(12):
        for i in range(8):
            q.erase_ahead()
            gc.collect()
            b = gc.mem_alloc()
            s = q.append(d)
            worst = max(worst, gc.mem_alloc() - b)
        assert s == base + rnd * 8 + 7 and len(q) == 8, (s, len(q))
        assert [x for x, _ in q.peek(8)] == [s - 7 + i for i in range(8)]
        gc.collect()
        b = gc.mem_alloc()
        q.ack(s)
        wack = max(wack, gc.mem_alloc() - b)
        assert len(q) == 0
    q = FlashQueue(dev)
    assert q.next_seq == base + 96 and len(q) == 0, (q.next_seq, base)
    print("heap per op, seqs from %d: append %d, ack of 8 records %d" % (base, worst, wack))
    assert worst <= 256 and wack <= 256, (worst, wack)
print("ok")
