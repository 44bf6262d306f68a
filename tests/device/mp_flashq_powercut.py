# The flash queue under power cuts: every program/erase of scripted workloads is cut (torn
# write), the queue remounted and checked, then cut again at every program/erase of the
# recovery that follows. Strict NOR rules throughout. See flashq_sweep.py.
# over board heap: the NOR flash and its snapshots (powercut.py) are simulated in RAM; on the board it is the chip
import sys
import time

sys.path.insert(0, "tests/device")
from flashq_sweep import Sweep, workload  # noqa: E402

RUNS = (  # kind, policy, sectors, operations, seed
    ("mixed", "reject", 6, 300, 1),
    ("mixed", "drop_oldest", 5, 300, 2),
    ("small", "reject", 4, 1000, 3),
    ("small", "drop_oldest", 4, 1000, 4),
    ("full", "reject", 4, 300, 5),
    ("full", "drop_oldest", 4, 300, 6),
)
total = 0
t0 = time.time()
for kind, policy, sectors, nops, seed in RUNS:
    t = time.time()
    sw = Sweep(workload(kind, seed, nops), policy, sectors, seed=seed)
    n = sw.run()
    total += n
    print("%-6s %-12s %d sectors %4d ops: %5d cut points (%d of them second cuts), %.1f s" % (
        kind, policy, sectors, nops, n, sw.doubles, time.time() - t))
print("total cut points:", total, "in %.1f s" % (time.time() - t0))
assert total >= 5000, total
print("ok")
