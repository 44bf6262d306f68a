# The flash queue's power-cut sweep beneath LittleFS (MicroPython): the queue in files on
# vfs.VfsLfs2, through edgemcp/fileblock.py, with LittleFS on the torn-write NOR simulator of
# powercut.py. Each operation of a scripted workload starts from a fresh mount of the flash
# image (LittleFS and the queue), runs once to count the programs and erases LittleFS issues
# beneath, and is then cut at every one of them: the torn image is mounted again and the queue
# audited against a model (flashq_sweep.Model): lost, corrupt, phantom and resurrected records,
# order, mount failures (each counted). A few operations then run on the recovered queue, and it is audited
# again after a last remount.
import vfs

from edgemcp.fileblock import FileBlock
from edgemcp.flashq import FlashQueue
from flashq_sweep import Model, do, restore, state
from powercut import PowerCut, PowerLoss, RAMFlash

class LfsCut(PowerCut):
    """PowerCut as LittleFS sees it: the cut operation and every later one fail with -EIO
    (LittleFS returns the error, the queue raises OSError) instead of raising through
    LittleFS's C code; dead is set."""

    def readblocks(self, n, buf, off=0):
        if self.dead:
            return -5
        PowerCut.readblocks(self, n, buf, off)

    def writeblocks(self, n, buf, off=None):
        if self.dead:
            return -5
        try:
            PowerCut.writeblocks(self, n, buf, off)
        except PowerLoss:
            return -5

    def ioctl(self, op, arg):
        if self.dead:
            return -5
        try:
            return PowerCut.ioctl(self, op, arg)
        except PowerLoss:
            return -5


MNT = "/lfsq"
QDIR = MNT + "/eventq"
TAIL = 3  # operations run on the recovered queue before the last remount and audit


_files = []


def close(fb):
    """Closes a FileBlock's open sector files (on a dead device closing fails: ignored)."""
    for f in fb._f:
        if f:
            try:
                f.close()
            except OSError:
                pass


def mount(blocks, img=None, cut=None, seed=0, counter=None):
    """LittleFS on a fresh NOR simulator holding img (None: a new filesystem), mounted at MNT,
    after closing the queue files of the previous mount (so that no finaliser closes them
    later). -> (the raw flash, its power-cut wrapper)."""
    while _files:
        close(_files.pop())
    try:
        vfs.umount(MNT)
    except OSError:
        pass
    dev = RAMFlash(blocks, img)
    pc = (counter or LfsCut)(dev, cut, seed)
    if img is None:
        vfs.VfsLfs2.mkfs(pc)
    vfs.mount(vfs.VfsLfs2(pc), MNT)
    return dev, pc


class LfsSweep:
    def __init__(self, ops, policy, qsectors, blocks, seed=0, verbose=False):
        self.ops = ops
        self.policy = policy
        self.size = qsectors * 4096
        self.blocks = blocks
        self.seed = seed
        self.verbose = verbose
        self.points = 0
        self.c = {"lost": 0, "corrupt": 0, "phantom": 0, "resurrected": 0, "out_of_order": 0,
                  "unmountable": 0, "wrong_size": 0, "broken": 0}
        self.failures = []
        self.erases = self.drops = 0  # what the workload made the queue do (reference run)

    def _bad(self, kind, n, where):
        if n:
            self.c[kind] += n
            if len(self.failures) < 10:
                self.failures.append((kind, n, where))

    def open(self):
        fb = FileBlock(QDIR, self.size)
        _files.append(fb)
        if fb.ioctl(4, 0) != self.size // 4096:
            self._bad("wrong_size", 1, "queue of %d sectors" % fb.ioctl(4, 0))
        return fb

    def audit(self, q, m, acked, where):
        """Counts what the remounted queue shows against the model m: lost (returned, not
        acknowledged, absent), corrupt (a seq that was returned, with other bytes; or an
        interrupted append shown with bytes it was not given), phantom (a seq never handed
        out), resurrected (a record whose ack had returned), out of order. Then takes what
        the queue holds as the model's records."""
        got = q.peek(len(q) + 1)
        p = m.pending
        exp = dict(m.recs)
        seqs = [s for s, _ in got]
        self._bad("out_of_order", sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a), where)
        keep = []
        for s, d in got:
            if s in exp:
                self._bad("corrupt", d != exp[s], where)
            elif s > m.last and p and p[0] == "a" and s == seqs[-1]:
                self._bad("corrupt", d != p[1], where)  # the interrupted append: intact or absent
                m.last = s
            elif s <= acked:
                self._bad("resurrected", 1, where)
            else:
                self._bad("phantom", 1, where)
            keep.append((s, d))
        # Losses a cut may cause: what an interrupted ack acknowledged, a format, the oldest
        # records an interrupted append dropped (drop_oldest).
        ok = -1
        if p and p[0] == "k":
            ok = p[1]
        elif p and p[0] == "f":
            ok = m.last
        have = set(seqs)
        lost = [s for s, _ in m.recs if s not in have and s > ok]
        if p and p[0] == "a" and self.policy == "drop_oldest":
            lost = [s for s in lost if s > seqs[0]] if seqs else []
        self._bad("lost", len(lost), where)
        m.recs = keep
        m.pending = None

    def recover(self, img, m, acked, i, where):
        self.mount(img)
        try:
            fb = self.open()
            q = FlashQueue(fb, self.policy)
        except Exception as e:  # noqa: BLE001 - counted: the sweep reports every failure
            self._bad("unmountable", 1, "%s: %r" % (where, e))
            return
        self.audit(q, m, acked, where)
        try:
            for op in self.ops[i:i + TAIL]:
                if op[0] in "kd" and m.recs:
                    acked = max(acked, m.recs[-1 if op[0] == "d" else min(op[1], len(m.recs)) - 1][0])
                q = do(q, fb, op, m)
        except AssertionError as e:  # the recovered queue does not carry on as the model does
            self._bad("broken", 1, "%s: then %r" % (where, e))
            return
        self.audit(FlashQueue(fb, self.policy), m, acked, where + " (after)")

    def mount(self, img, cut=None, seed=0, counter=None):
        return mount(self.blocks, img, cut, seed, counter)

    def _seed(self, i, c):
        return (self.seed * 1000003 + i * 7919 + c) & 0x3FFFFFFF

    def run(self):
        # The start: a new filesystem; the queue file created and formatted, cut everywhere.
        dev, pc = self.mount(None)
        img = bytes(dev.mem)
        k0 = pc.ops  # the mkfs's
        q = FlashQueue(self.open(), self.policy)
        n = pc.ops - k0
        after, st = bytes(dev.mem), state(q)
        for c in range(n):
            d, pc = self.mount(img, c, self._seed(0, c))
            try:
                FlashQueue(self.open(), self.policy)
            except OSError:
                pass
            assert pc.dead, "no cut at %d of the start" % c
            self.points += 1
            m = Model(self.policy)
            m.pending = ("f",)
            self.recover(bytes(d.mem), m, -1, 0, "start, cut %d of %d" % (c, n))
        img = after
        m = Model(self.policy)
        acked = -1
        for i, op in enumerate(self.ops):
            m0 = m.copy()
            a0 = acked
            dev, pc = self.mount(img)
            fb = self.open()
            q = restore(fb, st, self.policy)
            if op[0] in "kd" and m.recs:
                acked = m.recs[-1 if op[0] == "d" else min(op[1], len(m.recs)) - 1][0]
            e0, d0 = q._erases, q._drops
            q1 = do(q, fb, op, m)
            if q1 is q:
                self.erases += q._erases - e0
                self.drops += q._drops - d0
            q = q1
            n = pc.ops
            after, st1 = bytes(dev.mem), state(q)
            for c in range(n):
                d, pc = self.mount(img, c, self._seed(i + 1, c))
                mc = m0.copy()
                try:
                    fb = self.open()
                    do(restore(fb, st, self.policy), fb, op, mc)
                except OSError:
                    pass
                assert pc.dead, "no cut at %d of op %d" % (c, i)
                self.points += 1
                self.recover(bytes(d.mem), mc, a0, i + 1, "op %d %s, cut %d of %d" % (i, op[0], c, n))
            img, st = after, st1
            if self.verbose and i % 10 == 0:
                print("op", i, "points", self.points, self.c)
        try:
            vfs.umount(MNT)
        except OSError:
            pass
        return self.points
