# The flash queue's block device on a board without a raw "queue" partition (the stock
# partition table has none): a preallocated file on the board's filesystem (LittleFS) read and
# written with the protocol flashq.py uses: readblocks(n, buf, off), writeblocks(n, buf, off),
# ioctl(4) sectors, ioctl(5) sector size, ioctl(6, n) erase = 0xff over sector n.
#
# Why this is as power-loss safe as the raw partition (docs/flash-queue.md, "On a LittleFS file"):
# - LittleFS is copy-on-write: a write to a file goes to new blocks and becomes the file's
#   contents only when the file is synced (flush/close); a cut before that leaves the old
#   contents, a cut during the sync leaves the old or the new ones, never a mix.
# - The queue's safety rests on the order of its programs (a record's body before its commit
#   byte, a B header zeroed before the erase, ...): so every write and every erase is synced
#   before it returns. A cut then leaves each program done or not done: a subset of what a
#   torn NOR program can leave, which the format already survives.
# - The queue only programs erased bytes or zeros, so NOR's "old & new" is "new": the bytes
#   are written as given (tests/device/powercut.py's strict mode checks the queue keeps to it).
# Cost: a sync rewrites the file from the written LittleFS block to its end (its blocks form a
# list linked backwards), and needs that many free blocks on the filesystem while it runs.
import os

_SECTOR = const(4096)
_FF = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"  # a literal: frozen in flash, not built on the heap


class FileBlock:
    def __init__(self, path, size):
        """Opens the queue file at path, first creating it with size bytes of 0xff (rounded
        down to whole 4 KiB sectors); an existing file keeps its size and records."""
        try:
            self._f = open(path, "r+b")
        except OSError:
            _create(path, size // _SECTOR * _SECTOR)
            self._f = open(path, "r+b")
        self._n = self._f.seek(0, 2) // _SECTOR

    def readblocks(self, n, buf, off=0):
        f = self._f
        f.seek(n * _SECTOR + off)
        f.readinto(buf)

    def writeblocks(self, n, buf, off):
        f = self._f
        f.seek(n * _SECTOR + off)
        f.write(buf)
        f.flush()  # LittleFS: the sync that makes this write the file's contents

    def ioctl(self, op, arg):
        if op == 4:
            return self._n
        if op == 5:
            return _SECTOR
        if op == 6:
            f = self._f
            f.seek(arg * _SECTOR)
            for _ in range(_SECTOR // 32):
                f.write(_FF)
            f.flush()
        return 0


def _create(path, size):
    # Written under a temporary name and renamed (atomic on LittleFS): a cut while the file is
    # filled leaves no short queue file behind.
    d = path[:path.rfind("/")] or "/"
    st = os.statvfs(d)
    free = st[0] * st[4]
    if free < 2 * size:  # the file, and room for a sync to rewrite all of it
        raise OSError("no room for the queue file %s: it needs %d bytes free (%d for the file and "
                      "as much again for LittleFS to rewrite it), %s has %d" % (path, 2 * size, size, d, free))
    tmp = path + ".new"
    try:
        with open(tmp, "wb") as f:
            for _ in range(size // 32):
                f.write(_FF)
        os.rename(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise OSError("queue file %s (%d bytes) not created: %r" % (path, size, e))
