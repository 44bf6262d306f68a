# The virtual board's esp32.Partition: the raw "queue" data partition as a host file with
# NOR flash rules (erased = 0xFF, a program stores old & new, erase in whole 4 KiB sectors).
# File: EDGEMCP_FLASH, else "flash_file" of /edgemcp.json, else "/queue.bin" (paths on the
# board's filesystem, i.e. in the virtual device's folder); EDGEMCP_FLASH_SIZE (default 1 MiB)
# sizes a new file. Erases per sector are kept in "<file>.wear" (u32 each); see wear().
# EDGEMCP_FLASH=none: a board with the stock partition table, which has no "queue" partition
# (the queue then lives in a file on the filesystem: edgemcp/fileblock.py).
import os

_SECTOR = 4096
_LABEL = "queue"
_SUBTYPE = 0x40  # a custom data subtype
_parts = {}


def _flash_path():
    p = os.getenv("EDGEMCP_FLASH")
    if p:
        return p
    import vboard  # noqa: F401  (mounts the device folder as "/")
    try:
        import json
        with open("/edgemcp.json") as f:
            p = json.load(f).get("flash_file")
    except (OSError, ValueError, AttributeError):
        pass
    return p or "/queue.bin"


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_SECTOR):
        if id != _LABEL:
            raise ValueError("the virtual board has only the '%s' partition" % _LABEL)
        path = _flash_path()
        if path == "none":  # as on a board whose partition table has no such label
            raise OSError(2)
        if path not in _parts:
            _parts[path] = _File(path)
        self._f = _parts[path]
        self._bs = block_size

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=_SECTOR):
        if type != Partition.TYPE_DATA or subtype not in (0xFF, _SUBTYPE) or label not in (None, _LABEL):
            return []
        if os.getenv("EDGEMCP_FLASH") == "none":
            return []
        return [Partition(_LABEL, block_size)]

    def info(self):
        return (self.TYPE_DATA, _SUBTYPE, 0, self._f.size, _LABEL, False)

    def readblocks(self, n, buf, off=0):
        self._f.read(n * self._bs + off, buf)

    def writeblocks(self, n, buf, off=None):
        a = n * self._bs
        if off is None:  # like the board: a plain block write erases what it covers first
            if a % _SECTOR or len(buf) % _SECTOR:
                raise OSError(22)
            for s in range(a // _SECTOR, (a + len(buf)) // _SECTOR):
                self._f.erase(s)
        else:
            a += off
        self._f.program(a, buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self._f.size // self._bs
        if op == 5:
            return self._bs
        if op == 6:
            if self._bs != _SECTOR:
                return -22
            self._f.erase(arg)
            return 0
        if op in (1, 2, 3):
            return 0
        return None

    def wear(self):
        return list(self._f.wear)

    def __repr__(self):
        return "<Partition type=1, subtype=%d, address=0, size=%d, label=%s, encrypted=0>" % (
            _SUBTYPE, self._f.size, _LABEL)


class _File:
    def __init__(self, path):
        try:
            self.f = open(path, "r+b")
        except OSError:
            size = int(os.getenv("EDGEMCP_FLASH_SIZE") or 1024 * 1024) // _SECTOR * _SECTOR
            with open(path, "wb") as f:
                ff = b"\xff" * _SECTOR
                for _ in range(size // _SECTOR):
                    f.write(ff)
            self.f = open(path, "r+b")
        self.size = self.f.seek(0, 2) // _SECTOR * _SECTOR
        n = self.size // _SECTOR
        self.wear = [0] * n
        try:
            self.w = open(path + ".wear", "r+b")
            b = self.w.read(4 * n)
            for i in range(len(b) // 4):
                self.wear[i] = int.from_bytes(b[4 * i:4 * i + 4], "little")
        except OSError:
            self.w = open(path + ".wear", "w+b")
            self.w.write(bytes(4 * n))

    def _check(self, a, n):
        if a < 0 or a + n > self.size:
            raise OSError(22)

    def read(self, a, buf):
        self._check(a, len(buf))
        self.f.seek(a)
        self.f.readinto(buf)

    def program(self, a, buf):
        n = len(buf)
        self._check(a, n)
        if not n:
            return
        old = bytearray(n)
        self.f.seek(a)
        self.f.readinto(old)
        new = int.from_bytes(old, "little") & int.from_bytes(buf, "little")
        self.f.seek(a)
        self.f.write(new.to_bytes(n, "little"))

    def erase(self, s):
        self._check(s * _SECTOR, _SECTOR)
        self.f.seek(s * _SECTOR)
        self.f.write(b"\xff" * _SECTOR)
        self.wear[s] += 1
        self.w.seek(4 * s)
        self.w.write(self.wear[s].to_bytes(4, "little"))
