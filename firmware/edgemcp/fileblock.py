# The flash queue's block device on a board without a raw "queue" partition (the stock
# partition table has none): preallocated files on the board's filesystem (LittleFS), one per
# 4 KiB sector ("<folder>/0", "/1", ...), read and written with the protocol flashq.py uses:
# readblocks(n, buf, off), writeblocks(n, buf, off), ioctl(4) sectors, ioctl(5) sector size,
# ioctl(6, n) erase = 0xff over sector n.
#
# Why this is as power-loss safe as the raw partition (docs/flash-queue.md, "On LittleFS"):
# - LittleFS is copy-on-write: a write to a file goes to new blocks and becomes the file's
#   contents only when the file is synced (flush/close); a cut before that leaves the old
#   contents, a cut during the sync the old or the new ones, never a mix.
# - The queue's safety rests on the order of its programs (a record's body before its commit
#   byte, a B header zeroed before the erase, ...): so every write and every erase is synced
#   before it returns. A cut then leaves each program done or not done: a subset of what a
#   torn NOR program can leave, which the format already survives.
# - The queue only programs erased bytes or zeros, so NOR's "old & new" is "new": the bytes
#   are written as given (tests/device/powercut.py's strict mode checks the queue keeps to it).
# One file per sector, not one file: a sync rewrites a file from the written block to its end
# (its blocks are a list linked backwards), so in one 64 KiB file a write costs up to 16 block
# rewrites and erases; in a sector's own file, one.
import os

_SECTOR = const(4096)
_FF = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"  # noqa: E501  (a literal: frozen in flash, not built on the heap)


def _sectors(path):
    n = 0
    try:
        while True:
            os.stat("%s/%d" % (path, n))
            n += 1
    except OSError:
        return n


def _fill(f):
    for _ in range(_SECTOR // 32):
        f.write(_FF)


class FileBlock:
    def __init__(self, path, size):
        """Opens the queue in the folder path, first creating it with size // 4096 sector
        files of 0xff; an existing folder keeps its sectors and records."""
        self._path = path
        self._n = _sectors(path) or _create(path, size // _SECTOR)
        self._f = [None, None]  # two sectors' files kept open (the head's and the tail's) ...
        self._s = [-1, -1]  # ... and their numbers, the last used first

    def _file(self, s):
        f, k = self._f, self._s
        if k[0] != s:
            if k[1] != s:
                if f[1]:
                    f[1].close()
                f[1] = open("%s/%d" % (self._path, s), "r+b")
                k[1] = s
            f[0], f[1] = f[1], f[0]
            k[0], k[1] = k[1], k[0]
        return f[0]

    def readblocks(self, n, buf, off=0):
        f = self._file(n)
        f.seek(off)
        f.readinto(buf)

    def writeblocks(self, n, buf, off):
        f = self._file(n)
        f.seek(off)
        f.write(buf)
        f.flush()  # LittleFS: the sync that makes this write the file's contents

    def ioctl(self, op, arg):
        if op == 4:
            return self._n
        if op == 5:
            return _SECTOR
        if op == 6:
            f = self._file(arg)
            f.seek(0)
            _fill(f)
            f.flush()
        return 0


def _create(path, n):
    # Filled under "<path>.new" and renamed (atomic on LittleFS): a cut while the files are
    # written leaves no queue with missing or short sectors.
    d = path[:path.rfind("/")] or "/"
    st = os.statvfs(d)
    free = st[0] * st[4]
    need = (n + 3) * _SECTOR  # the sectors, one block for a sync's copy, the folder's two
    if free < need:
        raise OSError("no room for the queue in %s: %d sectors need %d bytes free, %s has %d" % (
            path, n, need, d, free))
    tmp = path + ".new"
    try:
        try:
            os.mkdir(tmp)
        except OSError:  # left by a cut: its files are written again
            pass
        for s in range(n):
            with open("%s/%d" % (tmp, s), "wb") as f:
                _fill(f)
        _clear(tmp, n)
        os.rename(tmp, path)
    except OSError as e:
        _clear(tmp, 0)
        try:
            os.rmdir(tmp)
        except OSError:
            pass
        raise OSError("queue in %s (%d sectors) not created: %r" % (path, n, e))
    return n


def _clear(path, s):
    # Removes the sector files from s on.
    while True:
        try:
            os.remove("%s/%d" % (path, s))
        except OSError:
            return
        s += 1
