# The flash queue in files on LittleFS under power cuts (stock firmware has no raw "queue"
# partition, so the queue lives in sector files in /eventq, through edgemcp/fileblock.py):
# vfs.VfsLfs2 on the torn-write NOR simulator, power cut at every program and erase LittleFS issues beneath
# each operation of scripted workloads; after each cut the filesystem and the queue are
# mounted again and audited. See flashq_lfs_sweep.py. Counts must all be 0.
# over board heap: holds RAM copies (64-80 KiB each) of the flash beneath LittleFS
import sys
import time

sys.path.insert(0, "tests/device")
from flashq_lfs_sweep import LfsSweep  # noqa: E402
from flashq_sweep import workload  # noqa: E402

RUNS = (  # kind, policy, queue sectors, flash blocks, operations, seed
    ("small", "reject", 3, 20, 40, 11),
    ("mixed", "drop_oldest", 3, 20, 40, 12),
    ("full", "reject", 2, 16, 40, 13),
    ("full", "drop_oldest", 2, 16, 40, 14),
)
total = 0
counts = {}
t0 = time.time()
for kind, policy, qs, blocks, nops, seed in RUNS:
    t = time.time()
    sw = LfsSweep(workload(kind, seed, nops), policy, qs, blocks, seed=seed)
    n = sw.run()
    total += n
    for k, v in sw.c.items():
        counts[k] = counts.get(k, 0) + v
    print("%-6s %-12s queue %d sectors, LittleFS %d blocks, %3d ops (%d erases, %d drops): %5d cut points, "
          "%.1f s %s" % (kind, policy, qs, blocks, nops, sw.erases, sw.drops, n, time.time() - t,
                         sw.failures[:3] or ""))
print("total cut points:", total, "in %.1f s" % (time.time() - t0))
print("lost %(lost)d, corrupt %(corrupt)d, phantom %(phantom)d, resurrected %(resurrected)d, "
      "out of order %(out_of_order)d, unmountable %(unmountable)d, wrong size %(wrong_size)d, "
      "broken after recovery %(broken)d" % counts)
assert total >= 5000, total
assert not any(counts.values()), counts

# The sweep catches an adapter that does not sync each write (LittleFS then keeps the old
# contents of the file across a cut, or a remount): it must fail.
from edgemcp.fileblock import FileBlock  # noqa: E402

synced = FileBlock.writeblocks


def unsynced(self, n, buf, off):
    f = self._file(n)
    f.seek(off)
    f.write(buf)


FileBlock.writeblocks = unsynced
sw = LfsSweep(workload("small", 3, 6), "reject", 3, 20, seed=3)
try:
    sw.run()
    caught = any(sw.c.values())
except AssertionError:
    caught = True
FileBlock.writeblocks = synced
assert caught, "the sweep did not notice an adapter without sync"
print("ok")
