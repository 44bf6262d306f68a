# The flash queue's power-cut sweep (MicroPython): scripted workloads run against a model of
# what the queue must hold; at every program/erase of every operation the power is cut (torn
# write), the queue remounted and checked, and then cut again at every program/erase of the
# recovery that follows (the remount and the operations up to the next append that returns).
import random

from edgemcp.flashq import MAX_RECORD, SECTOR, FlashQueue, QueueFull
from powercut import PowerCut, PowerLoss, RAMFlash

TAIL = 6  # operations run after a recovery before the last remount-and-check


def payload(i, n):
    # Distinct per operation index: a record in the wrong place or from nowhere shows.
    b = bytearray(n)
    for j in range(min(n, 4)):
        b[j] = i >> (8 * j) & 255
    for j in range(4, n):
        b[j] = (i * 31 + j) & 255
    return bytes(b)


def workload(kind, seed, nops):
    """A list of operations: ("a", data) append, ("k", n) ack the n oldest, ("p", n) peek,
    ("m",) remount, ("d",) drain to empty, ("e",) erase ahead, ("f",) format."""
    random.seed(seed)
    ops = []
    for i in range(nops):
        r = random.getrandbits(8)
        if kind == "small":
            size = random.getrandbits(6)
        elif kind == "full":
            size = 100 + random.getrandbits(10) % 800
        else:
            c = random.getrandbits(4)
            size = (MAX_RECORD if c == 0 else 2000 + random.getrandbits(11) % 1500 if c < 3
                    else random.getrandbits(9))
        if kind == "full":  # few acks: the queue fills up
            op = ("a", size) if r < 215 else ("k", 1 + r % 3) if r < 235 else ("m",) if r < 245 else ("e",)
        elif kind == "small":  # many records a sector: ack flags, partly acked sectors
            op = (("a", size) if r < 190 else ("k", 1 + r % 8) if r < 220 else ("p", 1 + r % 5) if r < 230
                  else ("m",) if r < 240 else ("d",) if r < 243 else ("e",))
        elif r < 140:
            op = ("a", size)
        elif r < 190:
            op = ("k", 1 + r % 4)
        elif r < 205:
            op = ("p", 1 + r % 5)
        elif r < 222:
            op = ("m",)
        elif r < 232:
            op = ("d",)
        elif r < 250:
            op = ("e",)
        else:
            op = ("f",)
        if op[0] == "a":
            op = ("a", payload(i, op[1]))
        ops.append(op)
    return ops


class Model:
    """What the queue must hold: the returned, unacknowledged appends, in order."""

    def __init__(self, policy):
        self.policy = policy
        self.recs = []
        self.last = -1  # highest seq ever returned or seen
        self.pending = None  # the operation a cut interrupted

    def copy(self):
        m = Model(self.policy)
        m.recs = list(self.recs)
        m.last = self.last
        m.pending = self.pending
        return m

    def check_mount(self, q):
        """After a remount: everything returned and not acknowledged is there once, intact
        and in order; an interrupted append is absent or intact; nothing else."""
        n = len(q)
        got = q.peek(n + 1)
        assert len(got) == n, ("len", n, len(got))
        p = self.pending
        extra = None
        if p and p[0] == "a" and got and got[-1][0] > self.last:
            extra = got.pop()
            assert extra[1] == p[1], ("interrupted append not intact", extra[0])
        lost = len(self.recs) - len(got)
        assert lost >= 0 and self.recs[lost:] == got, (
            "records differ", [r[0] for r in self.recs], [r[0] for r in got], p and p[0])
        if lost:
            gone = self.recs[lost - 1][0]
            ok = (p and (p[0] == "k" and gone <= p[1] or p[0] == "f"
                         or p[0] == "a" and self.policy == "drop_oldest"))
            assert ok, ("records lost", lost, gone, p and p[0])
            # (a format cut short on a full ring may have dropped just the oldest sector)
        if extra:
            got.append(extra)
            self.last = extra[0]
        self.recs = got
        self.pending = None


def do(q, dev, op, m):
    """Runs one operation on q and the model; returns the queue (a remount makes a new one)."""
    c = op[0]
    m.pending = op
    if c == "a":
        d0 = q._drops
        try:
            s = q.append(op[1])
        except QueueFull:
            assert m.policy == "reject"
            st = q.stats()
            assert st["capacity"] - st["used"] < 8 + len(op[1]) + SECTOR, ("full too early", st)
            m.pending = None
            return q
        assert s > m.last, ("seq did not increase", s, m.last)
        m.last = s
        m.recs.append((s, op[1]))
        d = q._drops - d0
        assert d == 0 or m.policy == "drop_oldest"
        assert d <= len(m.recs)
        del m.recs[:d]
    elif c == "k" or c == "d":
        if m.recs:
            if c == "d":
                assert q.peek(len(q)) == m.recs
            s = m.recs[-1 if c == "d" else min(op[1], len(m.recs)) - 1][0]
            m.pending = ("k", s)
            q.ack(s)
            m.recs = [r for r in m.recs if r[0] > s]
    elif c == "p":
        assert q.peek(op[1]) == m.recs[:op[1]], "peek"
    elif c == "m":
        m.pending = None
        q = FlashQueue(dev, m.policy)
        m.check_mount(q)
    elif c == "e":
        q.erase_ahead()
    elif c == "f":
        q.format()
        m.recs = []
    m.pending = None
    assert len(q) == len(m.recs), ("len", len(q), len(m.recs))
    return q


def state(q):
    return {k: v for k, v in q.__dict__.items() if isinstance(v, int)}


def restore(dev, st, policy):
    # The queue object as it was before an operation: mount (reads only), then its counters.
    q = FlashQueue(dev, policy)
    for k, v in st.items():
        setattr(q, k, v)
    return q


class Sweep:
    def __init__(self, ops, policy, sectors, seed=0, second=True, verbose=False):
        self.ops = ops
        self.policy = policy
        self.n = sectors
        self.seed = seed
        self.second = second
        self.points = 0
        self.doubles = 0
        self.verbose = verbose

    def _rng(self, *k):
        s = self.seed
        for x in k:
            s = (s * 1000003 + x + 1) & 0x3FFFFFFF
        return s

    def recover(self, img, m, start, cut, key):
        """Remount a torn image and carry on to the first append that returns (the recovery
        window), with an optional cut at flash operation `cut` of that window; then TAIL
        more operations and a last remount. -> flash operations in the window (no cut)."""
        dev = RAMFlash(self.n, img)
        pc = PowerCut(dev, cut, self._rng(*key))
        i = start
        try:
            q = FlashQueue(pc, self.policy)
            m.check_mount(q)
            while i < len(self.ops):
                op = self.ops[i]
                last = m.last
                q = do(q, pc, op, m)
                i += 1
                if m.last != last:
                    break
            window = pc.ops
            assert cut is None, "no cut in the recovery window"
        except PowerLoss:
            assert cut is not None
            pc = PowerCut(dev)
            q = FlashQueue(pc, self.policy)
            m.check_mount(q)
            window = None
        for op in self.ops[i:i + TAIL]:
            q = do(q, pc, op, m)
        q = FlashQueue(pc, self.policy)
        m.check_mount(q)
        return window

    def cut_in(self, img, st, m0, i, op, c):
        dev = RAMFlash(self.n, img)
        pc = PowerCut(dev, c, self._rng(i, c))
        m = m0.copy()
        try:
            if op is None:  # the first mount formats the empty device
                m.pending = ("f",)
                FlashQueue(pc, self.policy)
            else:
                do(restore(pc, st, self.policy), pc, op, m)
        except PowerLoss:
            pass
        else:
            raise AssertionError("no cut at %d of op %d" % (c, i))
        self.points += 1
        torn = bytes(dev.mem)
        w = self.recover(torn, m.copy(), i + 1, None, (i, c))
        if self.second:
            for j in range(w):
                self.recover(torn, m.copy(), i + 1, j, (i, c, j))
                self.points += 1
                self.doubles += 1

    def run(self):
        n = self.n
        m = Model(self.policy)
        dev = RAMFlash(n)
        pc = PowerCut(dev)
        q = FlashQueue(pc, self.policy)
        for c in range(pc.ops):
            self.cut_in(bytes(RAMFlash(n).mem), None, m, -1, None, c)
        for i, op in enumerate(self.ops):
            img = bytes(dev.mem)
            st = state(q)
            m0 = m.copy()
            k0 = pc.ops
            q = do(q, pc, op, m)
            for c in range(pc.ops - k0):
                self.cut_in(img, st, m0, i, op, c)
            if self.verbose and i % 20 == 0:
                print("op", i, "points", self.points)
        return self.points
