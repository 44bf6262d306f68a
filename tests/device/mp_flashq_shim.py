# The virtual board's esp32.Partition (a file with NOR rules) and the flash queue on it:
# find/info/ioctl as on the board, programs store old & new, plain writes erase first, wear
# kept per sector across reopenings, and mount reads of a 1 MiB partition at 0/50/100 % fill.
import os

path = "build/tmp-flashq-shim-%s.bin" % "".join("%02x" % b for b in os.urandom(4))
os.putenv("EDGEMCP_FLASH", path)
os.putenv("EDGEMCP_FLASH_SIZE", str(1024 * 1024))
import esp32  # noqa: E402
from edgemcp import flashq  # noqa: E402


def reopen():
    esp32._parts.clear()  # as after a reset: the file is opened afresh
    return esp32.Partition.find(esp32.Partition.TYPE_DATA, label="queue", block_size=4096)[0]


class Counting:
    def __init__(self, dev):
        self.dev = dev
        self.read = 0

    def readblocks(self, n, buf, off=0):
        self.read += len(buf)
        self.dev.readblocks(n, buf, off)

    def writeblocks(self, n, buf, off=None):
        self.dev.writeblocks(n, buf, off)

    def ioctl(self, op, arg):
        return self.dev.ioctl(op, arg)


try:
    assert esp32.Partition.find(esp32.Partition.TYPE_DATA, label="vfs") == []
    assert esp32.Partition.find() == []  # TYPE_APP is the default, as on the board
    p = reopen()
    t, sub, addr, size, label, enc = p.info()
    assert (t, size, label, enc) == (esp32.Partition.TYPE_DATA, 1024 * 1024, "queue", False)
    assert p.ioctl(4, 0) == 256 and p.ioctl(5, 0) == 4096
    b = bytearray(8)
    p.readblocks(3, b, 100)
    assert b == b"\xff" * 8
    p.writeblocks(3, b"\x0f\xf0\x00\xff", 100)
    p.writeblocks(3, b"\xff\x3c\xff\x0f", 100)  # a program only clears bits
    p.readblocks(3, b, 100)
    assert b == b"\x0f\x30\x00\x0f\xff\xff\xff\xff", b
    assert p.ioctl(6, 3) == 0
    p.readblocks(3, b, 100)
    assert b == b"\xff" * 8
    p.writeblocks(3, b"\x00" * 8, 0)
    p.writeblocks(3, b"\xaa" * 4096)  # no offset: erases the block first
    p.readblocks(3, b, 0)
    assert b == b"\xaa" * 8
    assert p.wear()[3] == 2 and sum(p.wear()) == 2
    p512 = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="queue", block_size=512)[0]
    assert p512.ioctl(4, 0) == 2048 and p512.ioctl(6, 0) == -22
    p512.readblocks(24, b, 0)  # block 24 of 512 bytes = sector 3
    assert b == b"\xaa" * 8
    p = reopen()
    assert p.wear()[3] == 2, p.wear()[:4]

    # The queue on it: open_partition() finds it; records survive a reopening.
    q = flashq.open_partition()
    s = [q.append(b"event %d" % i) for i in range(5)]
    q.ack(s[1])
    reopen()
    q = flashq.open_partition()
    assert q.peek(5) == [(i, b"event %d" % i) for i in range(2, 5)]

    # Mount reads stay under 10 % of the 1 MiB partition at any fill.
    q.format()
    for fill in (0, 50, 100):
        if fill:
            try:
                while q.stats()["used"] < q.stats()["capacity"] * fill // 100:
                    for i in range(100):
                        q.append(bytes(200))
                    q.erase_ahead()
            except flashq.QueueFull:
                pass
        c = Counting(reopen())
        q = flashq.FlashQueue(c)
        print("mount at %3d%% fill: %d records, %d bytes read" % (fill, len(q), c.read))
        assert c.read <= 1024 * 1024 // 10, c.read
    assert q.stats()["used"] > 0.98 * q.stats()["capacity"]
    print("ok")
finally:
    for f in (path, path + ".wear"):
        try:
            os.remove(f)
        except OSError:
            pass
