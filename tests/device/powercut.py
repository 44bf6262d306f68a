# Test doubles for the flash queue (MicroPython): an in-memory NOR flash and a power-cut
# wrapper that tears the program or erase in progress, as a cut does on an ESP32.
import random

SECTOR = 4096
CHUNK = 64  # ESP-IDF programs at most 64 bytes at a time ...
PAGE = 256  # ... and never across a 256-byte page


class PowerLoss(Exception):
    """The simulated power cut: the operation in progress was torn."""


class StrictError(AssertionError):
    """The caller programmed a 1 over a 0 (programming over data that was not erased)."""


def _and(old, new):
    n = len(new)
    if not n:
        return b""
    return (int.from_bytes(old, "little") & int.from_bytes(new, "little")).to_bytes(n, "little")


class RAMFlash:
    """NOR flash in RAM, block device protocol with offsets: erased = 0xFF, a program stores
    old & new, erase works on whole 4 KiB sectors; erases counted per sector."""

    def __init__(self, sectors, image=None):
        self.n = sectors
        self.mem = bytearray(image) if image is not None else bytearray(b"\xff" * (sectors * SECTOR))
        self.wear = [0] * sectors

    def readblocks(self, n, buf, off=0):
        a = n * SECTOR + off
        buf[:] = memoryview(self.mem)[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        if off is None:  # like esp32.Partition: a write without offset erases first
            for i in range((len(buf) + SECTOR - 1) // SECTOR):
                self.ioctl(6, n + i)
            off = 0
        a = n * SECTOR + off
        self.mem[a:a + len(buf)] = _and(self.mem[a:a + len(buf)], buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return SECTOR
        if op == 6:
            a = arg * SECTOR
            self.mem[a:a + SECTOR] = b"\xff" * SECTOR
            self.wear[arg] += 1
            return 0
        return 0


def chunks(addr, n):
    """The (start, end) programs a flash driver makes of a write of n bytes at addr."""
    out = []
    e = addr + n
    while addr < e:
        c = min(addr + CHUNK, (addr // PAGE + 1) * PAGE, e)
        out.append((addr, c))
        addr = c
    return out


class PowerCut:
    """Wraps a block device; counts programs (writeblocks calls) and erases as operations
    0, 1, 2, ... and cuts power at operation cut_at: a program keeps a prefix of whole
    chunks and random 1->0 bits of the chunk in flight; an erase leaves random bits. Every
    later call raises PowerLoss too. strict: programming a 1 over a 0 raises StrictError."""

    def __init__(self, dev, cut_at=None, seed=0, strict=True):
        self.dev = dev
        self.cut_at = cut_at
        self.ops = 0
        self.dead = False
        self.strict = strict
        random.seed(seed)
        self.read_bytes = 0

    def _rand(self, n):
        return bytes(random.getrandbits(8) for _ in range(n))

    def _tick(self):
        if self.dead:
            raise PowerLoss("device is off")
        cut = self.ops == self.cut_at
        self.ops += 1
        return cut

    def readblocks(self, n, buf, off=0):
        if self.dead:
            raise PowerLoss("device is off")
        self.read_bytes += len(buf)
        self.dev.readblocks(n, buf, off)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            raise ValueError("the queue must write with an offset (no implicit erase)")
        cut = self._tick()
        a = n * SECTOR + off
        if off < 0 or off + len(buf) > SECTOR:
            raise ValueError("write crosses a sector: %d+%d" % (off, len(buf)))
        old = bytearray(len(buf))
        self.dev.readblocks(n, old, off)
        if self.strict and _and(old, buf) != bytes(buf):
            raise StrictError("programmed a 1 over a 0 at sector %d offset %d" % (n, off))
        if not cut:
            self.dev.writeblocks(n, buf, off)
            return
        self.dead = True
        cs = chunks(a, len(buf))
        k = random.getrandbits(16) % len(cs) if cs else 0
        for i in range(k):  # whole chunks that made it
            s, e = cs[i]
            self.dev.writeblocks(n, buf[s - a:e - a], s - n * SECTOR)
        if cs:  # the chunk in flight: some of the bits it clears are cleared
            s, e = cs[k]
            part = bytes(buf[s - a:e - a])
            self.dev.writeblocks(n, bytes(x | y for x, y in zip(part, self._rand(e - s))), s - n * SECTOR)
        raise PowerLoss("cut during a program of %d bytes at sector %d offset %d" % (len(buf), n, off))

    def ioctl(self, op, arg):
        if op != 6:
            return self.dev.ioctl(op, arg)
        if self._tick():
            self.dead = True
            old = bytearray(SECTOR)
            self.dev.readblocks(arg, old, 0)
            mode = random.getrandbits(2)
            if mode == 0:  # random content
                new = self._rand(SECTOR)
            elif mode == 1:  # part way: some bits set
                new = bytes(x | y for x, y in zip(old, self._rand(SECTOR)))
            elif mode == 2:  # barely started: few bits set
                new = bytes(x | (y & z & w) for x, y, z, w in
                            zip(old, self._rand(SECTOR), self._rand(SECTOR), self._rand(SECTOR)))
            else:  # almost done: few bits still clear
                new = bytes(x | y | z for x, y, z in zip(old, self._rand(SECTOR), self._rand(SECTOR)))
            self.dev.ioctl(6, arg)  # the raw device only programs, so erase then store
            self.dev.writeblocks(arg, new, 0)
            raise PowerLoss("cut during the erase of sector %d" % arg)
        return self.dev.ioctl(6, arg)
