"""Flash queue benchmark on the virtual device (the unix build, file-backed NOR flash):
append/ack rates against the raw program rate of the same flash, write amplification, erases
per MB, wear spread after 100 passes round the ring, mount time and bytes read for a 1 MiB
partition at 0/50/100 % fill, heap per operation, and a long power-cut sweep.
Prints a table and writes build/bench/flashq.json."""
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVICE = pathlib.Path(os.environ.get("EDGEMCP_DEVICE_BIN", ROOT / "build/unix/micropython-edgemcp"))
OUT = ROOT / "build/bench/flashq.json"

DEVICE_SCRIPT = r'''
import sys, os, time, gc, json
sys.path.insert(0, "tests/device")
TMP = os.getenv("FLASHQ_BENCH_TMP")
os.putenv("EDGEMCP_FLASH", TMP + "/q1m.bin")
os.putenv("EDGEMCP_FLASH_SIZE", str(1024 * 1024))
import esp32
import edgemcp
gc.collect(); _h = gc.mem_alloc()
from edgemcp import flashq
gc.collect(); _import = gc.mem_alloc() - _h
from powercut import RAMFlash
R = {}
def out(k, v):
    R[k] = v

def part():
    esp32._parts.clear()
    return esp32.Partition.find(esp32.Partition.TYPE_DATA, label="queue", block_size=4096)[0]

class Counting:
    def __init__(self, dev):
        self.dev = dev; self.read = 0
    def readblocks(self, n, buf, off=0):
        self.read += len(buf); self.dev.readblocks(n, buf, off)
    def writeblocks(self, n, buf, off=None):
        self.dev.writeblocks(n, buf, off)
    def ioctl(self, op, arg):
        return self.dev.ioctl(op, arg)

# Rates and write amplification, 1 MiB file-backed partition.
p = part()
q = flashq.FlashQueue(p)
for size, n in ((32, 4000), (200, 3000), (1024, 600)):
    q.format()
    while q.erase_ahead():
        pass
    data = bytes(size)
    st0 = q.stats()
    e0 = sum(p.wear())
    ta = te = 0
    seqs = []
    for i in range(n):
        t = time.ticks_us()
        seqs.append(q.append(data))
        ta += time.ticks_diff(time.ticks_us(), t)
        t = time.ticks_us()
        q.erase_ahead()
        te += time.ticks_diff(time.ticks_us(), t)
    tk = 0
    for s in seqs:
        t = time.ticks_us()
        q.ack(s)
        tk += time.ticks_diff(time.ticks_us(), t)
    st = q.stats()
    # Reference: the same bytes programmed straight onto erased flash of the same file.
    tr = 0
    s, o = 0, 0
    rec = bytes(size + 8)
    os.putenv("EDGEMCP_FLASH", TMP + "/raw.bin")
    raw = part()
    os.putenv("EDGEMCP_FLASH", TMP + "/q1m.bin")
    for i in range(n):
        if o + len(rec) > 4096:
            s += 1; o = 0
            raw.ioctl(6, s)
        t = time.ticks_us()
        raw.writeblocks(s, rec, o)
        tr += time.ticks_diff(time.ticks_us(), t)
        o += len(rec)
    prog = st["programmed"] - st0["programmed"]
    erases = sum(p.wear()) - e0
    out("size_%d" % size, {
        "records": n, "appends_per_s": n * 1e6 / ta, "acks_per_s": n * 1e6 / tk,
        "appends_per_s_with_erase_ahead": n * 1e6 / (ta + te),
        "raw_programs_per_s": n * 1e6 / tr,
        "bytes_programmed_per_record": prog / n, "write_amplification": prog / (n * size),
        "erases_per_mb": erases / (n * size / 1048576)})

# Mount of the 1 MiB partition at 0, 50 and 100 % fill.
q.format()
mounts = {}
for fill in (0, 50, 100):
    try:
        while q.stats()["used"] < q.stats()["capacity"] * fill // 100:
            for i in range(100):
                q.append(bytes(200))
            q.erase_ahead()
    except flashq.QueueFull:
        pass
    c = Counting(part())
    t = time.ticks_us()
    q = flashq.FlashQueue(c)
    dt = time.ticks_diff(time.ticks_us(), t)
    mounts[fill] = {"ms": dt / 1000, "bytes_read": c.read, "records": len(q),
                    "fraction_read": c.read / (1024 * 1024)}
out("mount_1mib", mounts)

# Wear after 100 passes round a 16-sector ring.
os.putenv("EDGEMCP_FLASH", TMP + "/q64k.bin")
os.putenv("EDGEMCP_FLASH_SIZE", str(64 * 1024))
w = part()
q = flashq.FlashQueue(w)
base = list(w.wear())
passes = 0
while passes < 100:
    q.ack(q.append(bytes(200)))
    q.erase_ahead()
    passes = min(a - b for a, b in zip(w.wear(), base))
wear = [a - b for a, b in zip(w.wear(), base)]
out("wear_16_sectors", {"passes": passes, "min": min(wear), "max": max(wear), "spread": max(wear) - min(wear)})

# Heap: a device that allocates nothing itself.
class LoopFlash(RAMFlash):
    def readblocks(self, n, buf, off=0):
        a = n * 4096 + off; m = self.mem
        for i in range(len(buf)):
            buf[i] = m[a + i]
    def writeblocks(self, n, buf, off):
        a = n * 4096 + off; m = self.mem
        for i in range(len(buf)):
            m[a + i] &= buf[i]
    def ioctl(self, op, arg):
        if op != 6:
            return RAMFlash.ioctl(self, op, arg)
        m = self.mem
        for i in range(arg * 4096, arg * 4096 + 4096):
            m[i] = 255
        return 0
dev = LoopFlash(8)
q = p = w = c = None
gc.collect(); h = gc.mem_alloc()
q = flashq.FlashQueue(dev)
gc.collect()
heap = {"resident": gc.mem_alloc() - h, "module": _import}
for size in (32, 200, 1024):
    d = bytes(size)
    for ahead in (True, False):
        tot = worst = tk = wk = 0
        for i in range(60):
            if ahead:
                q.erase_ahead()
            gc.collect(); b = gc.mem_alloc()
            s = q.append(d)
            a = gc.mem_alloc() - b
            tot += a; worst = max(worst, a)
            gc.collect(); b = gc.mem_alloc()
            q.ack(s)
            a = gc.mem_alloc() - b
            tk += a; wk = max(wk, a)
        heap["%d%s" % (size, "" if ahead else "_no_erase_ahead")] = {
            "append_mean": tot / 60, "append_max": worst, "ack_mean": tk / 60, "ack_max": wk}
out("heap", heap)
print(json.dumps(R))
'''

LFS_SCRIPT = r'''
# The queue in 64 KiB of sector files on LittleFS (fileblock.py, as on stock firmware) beside the queue
# on a raw 64 KiB partition, both on the same RAM NOR simulator: rates, and bytes programmed
# and erases beneath the queue (what LittleFS issues to flash) per payload byte.
import sys, time, json, vfs
sys.path.insert(0, "tests/device")
from powercut import RAMFlash
from edgemcp.flashq import FlashQueue
from edgemcp.fileblock import FileBlock

class Counting:
    def __init__(self, dev):
        self.dev = dev; self.prog = 0; self.erases = 0
    def readblocks(self, n, buf, off=0):
        self.dev.readblocks(n, buf, off)
    def writeblocks(self, n, buf, off=None):
        self.prog += len(buf); self.dev.writeblocks(n, buf, off)
    def ioctl(self, op, arg):
        if op == 6:
            self.erases += 1
        return self.dev.ioctl(op, arg)

def run(q, c, size, n):
    d = bytes(size)
    p0, e0 = c.prog, c.erases
    ta = tk = 0
    for i in range(n):
        t = time.ticks_us(); s = q.append(d); ta += time.ticks_diff(time.ticks_us(), t)
        t = time.ticks_us(); q.ack(s); tk += time.ticks_diff(time.ticks_us(), t)
    return {"records": n, "appends_per_s": n * 1e6 / ta, "acks_per_s": n * 1e6 / tk,
            "bytes_programmed_per_record": (c.prog - p0) / n,
            "write_amplification": (c.prog - p0) / (n * size),
            "erases_per_mb": (c.erases - e0) / (n * size / 1048576)}

R = {}
for size, n in ((32, %(n)d), (200, %(n)d), (1024, %(n)d // 2)):
    raw = Counting(RAMFlash(16))
    q = FlashQueue(raw)
    q.append(b"x"); q.ack(0)  # past the format
    c = Counting(RAMFlash(256))  # a 1 MiB filesystem
    vfs.VfsLfs2.mkfs(c)
    vfs.mount(vfs.VfsLfs2(c), "/lfsb")
    fq = FlashQueue(FileBlock("/lfsb/eventq", 65536))
    fq.append(b"x"); fq.ack(0)
    R[str(size)] = {"raw": run(q, raw, size, n), "lfs": run(fq, c, size, n)}
    for f in fq._dev._f:
        f and f.close()
    vfs.umount("/lfsb")
print(json.dumps(R))
'''

LFS_SWEEP_SCRIPT = r'''
import sys, time, json
sys.path.insert(0, "tests/device")
from flashq_lfs_sweep import LfsSweep
from flashq_sweep import workload
runs = []
for kind, policy, qs, blocks, nops, seed in (("small", "reject", 3, 20, %(ops)d, 21),
                                             ("mixed", "drop_oldest", 3, 20, %(ops)d, 22),
                                             ("full", "reject", 2, 16, %(ops)d, 23)):
    t = time.time()
    sw = LfsSweep(workload(kind, seed, nops), policy, qs, blocks, seed=seed)
    n = sw.run()
    runs.append({"kind": kind, "policy": policy, "ops": nops, "cut_points": n, "s": time.time() - t,
                 "counts": sw.c, "failures": [repr(f) for f in sw.failures]})
print(json.dumps(runs))
'''

SWEEP_SCRIPT = r'''
import sys, time, json
sys.path.insert(0, "tests/device")
from flashq_sweep import Sweep, workload
runs = []
for seed in range(%d):
    for kind, policy, sectors, nops in (("mixed", "reject", 6, 400), ("mixed", "drop_oldest", 5, 400),
                                        ("small", "reject", 4, 1500), ("small", "drop_oldest", 8, 1500),
                                        ("full", "reject", 4, 400), ("full", "drop_oldest", 6, 400)):
        t = time.time()
        n = Sweep(workload(kind, 100 + seed, nops), policy, sectors, seed=100 + seed).run()
        runs.append({"kind": kind, "policy": policy, "sectors": sectors, "ops": nops,
                     "seed": 100 + seed, "cut_points": n, "s": time.time() - t})
print(json.dumps(runs))
'''


def device(code, heap="16M", timeout=3600, env=None):
    r = subprocess.run([str(DEVICE), "-X", f"heapsize={heap}", "-c", code], cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if r.returncode:
        sys.exit(f"device script failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    if not DEVICE.exists():
        sys.exit(f"{DEVICE} missing: run `make setup`")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
        r = device(DEVICE_SCRIPT, env={"FLASHQ_BENCH_TMP": tmp})
    seeds = int(os.environ.get("FLASHQ_SWEEP_SEEDS", "3"))
    sweep = device(SWEEP_SCRIPT % seeds, heap="8M")
    lfs = device(LFS_SCRIPT % {"n": int(os.environ.get("FLASHQ_LFS_RECORDS", "300"))}, heap="8M")
    lfs_sweep = device(LFS_SWEEP_SCRIPT % {"ops": int(os.environ.get("FLASHQ_LFS_SWEEP_OPS", "40"))}, heap="8M")
    cpu = "?"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    r["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {cpu}"
    r["sweep"] = {"runs": sweep, "cut_points": sum(x["cut_points"] for x in sweep),
                  "s": sum(x["s"] for x in sweep)}
    r["lfs_file"] = lfs
    counts = {}
    for x in lfs_sweep:
        for k, v in x["counts"].items():
            counts[k] = counts.get(k, 0) + v
    r["lfs_sweep"] = {"runs": lfs_sweep, "cut_points": sum(x["cut_points"] for x in lfs_sweep),
                      "s": sum(x["s"] for x in lfs_sweep), "counts": counts}
    OUT.write_text(json.dumps(r, indent=1))

    print(f"flash queue on the virtual device ({r['machine']}); file-backed 1 MiB partition")
    print(f"{'payload':>8} {'appends/s':>10} {'+erase-ahead':>12} {'acks/s':>9} {'raw prog/s':>10} "
          f"{'append/raw':>10} {'B prog/rec':>10} {'write amp':>9} {'erases/MB':>9}")
    for size in (32, 200, 1024):
        x = r[f"size_{size}"]
        print(f"{size:>6} B {x['appends_per_s']:>10.0f} {x['appends_per_s_with_erase_ahead']:>12.0f} "
              f"{x['acks_per_s']:>9.0f} {x['raw_programs_per_s']:>10.0f} "
              f"{x['raw_programs_per_s'] / x['appends_per_s']:>9.2f}x "
              f"{x['bytes_programmed_per_record']:>10.1f} {x['write_amplification']:>9.3f} "
              f"{x['erases_per_mb']:>9.1f}")
    print("(acks one record at a time; write amplification = bytes programmed incl. headers, "
          "commit and ack marks, sector headers / payload bytes)")
    print(f"{'fill':>6} {'mount ms':>9} {'bytes read':>10} {'of 1 MiB':>8} {'records':>8}")
    for fill, m in sorted(r["mount_1mib"].items(), key=lambda x: int(x[0])):
        print(f"{fill:>5}% {m['ms']:>9.1f} {m['bytes_read']:>10} {100 * m['fraction_read']:>7.2f}% "
              f"{m['records']:>8}")
    w = r["wear_16_sectors"]
    print(f"wear after {w['passes']} passes round a 16-sector ring: erases per sector "
          f"{w['min']}..{w['max']} (spread {w['spread']})")
    h = r["heap"]
    print(f"heap: resident {h['resident']} B per queue (incl. its 4096 B sector buffer) + "
          f"{h['module']} B for the imported module")
    for size in (32, 200, 1024):
        a, b = h[str(size)], h[f"{size}_no_erase_ahead"]
        print(f"  {size:>5} B: append mean {a['append_mean']:.0f} max {a['append_max']} B, "
              f"ack mean {a['ack_mean']:.0f} max {a['ack_max']} B; without erase-ahead: append "
              f"mean {b['append_mean']:.0f} max {b['append_max']} B")
    s = r["sweep"]
    print(f"power-cut sweep: {s['cut_points']} cut points (single and double cuts) in "
          f"{len(s['runs'])} workloads, {s['s']:.0f} s, all checks passed")
    print("queue in 16 sector files (64 KiB) on a 1 MiB LittleFS (fileblock.py, stock firmware) beside a raw 64 KiB "
          "partition, same RAM NOR simulator; bytes and erases are what reaches the flash")
    print(f"{'payload':>8} {'medium':>6} {'appends/s':>10} {'acks/s':>9} {'B prog/rec':>10} {'write amp':>9} "
          f"{'erases/MB':>9}")
    for size in (32, 200, 1024):
        for medium in ("raw", "lfs"):
            x = r["lfs_file"][str(size)][medium]
            print(f"{size:>6} B {medium:>6} {x['appends_per_s']:>10.0f} {x['acks_per_s']:>9.0f} "
                  f"{x['bytes_programmed_per_record']:>10.1f} {x['write_amplification']:>9.1f} "
                  f"{x['erases_per_mb']:>9.1f}")
    s = r["lfs_sweep"]
    print(f"power-cut sweep beneath LittleFS: {s['cut_points']} cut points in {len(s['runs'])} workloads, "
          f"{s['s']:.0f} s; " + ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())))
    if any(s["counts"].values()):
        sys.exit("the LittleFS sweep found failures: " + json.dumps(s["runs"])[:3000])
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
