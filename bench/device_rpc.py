"""Device MCP server cost: in-process per-request time and heap (inside the unix build),
round trips over stdio from a CPython line client, resident heap, frozen bytecode size.
Prints a table and writes build/bench/device_rpc.json."""
import glob
import json
import os
import pathlib
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVICE = os.environ.get("EDGEMCP_DEVICE_BIN", str(ROOT / "build/unix/micropython-edgemcp"))
MPY_CROSS = ROOT / "build/micropython/mpy-cross/build/mpy-cross"


def in_process():
    r = subprocess.run([DEVICE, str(ROOT / "bench/mp_device_rpc.py")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "EDGEMCP_ROOT": tempfile.mkdtemp()})
    if r.returncode:
        sys.exit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def frozen_size():
    total = {}
    with tempfile.TemporaryDirectory() as d:
        for src in sorted(glob.glob(str(ROOT / "firmware/edgemcp/*.py"))):
            out = pathlib.Path(d) / (pathlib.Path(src).stem + ".mpy")
            subprocess.run([str(MPY_CROSS), "-o", str(out), src], check=True)
            total[pathlib.Path(src).name] = out.stat().st_size
    return total


def stdio_round_trips(n=3000):
    root = tempfile.mkdtemp()
    p = subprocess.Popen([DEVICE, "-m", "edgemcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env={**os.environ, "EDGEMCP_ROOT": root})
    fd = p.stdout.fileno()
    buf = b""

    def rt(line):
        nonlocal buf
        p.stdin.write(line)
        p.stdin.flush()
        while b"\n" not in buf:
            select.select([fd], [], [], 10)
            buf += os.read(fd, 65536)
        _, buf = buf.split(b"\n", 1)

    rt(b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"0"}}}\n')
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        rt(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % i)
        lat.append((time.perf_counter() - t) * 1e3)
    total = time.perf_counter() - t0
    p.stdin.close()
    p.wait(10)
    lat.sort()
    return {"req_per_s": n / total, "p50_ms": statistics.median(lat), "p99_ms": lat[int(n * 0.99)]}


def main():
    ip = in_process()
    fz = frozen_size()
    st = stdio_round_trips()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}"
    rows = []
    for name, v in ip["requests"].items():
        target = 8192 if name == "tools/list" else 2048
        rows.append((f"in-process {name}", f"{v['us']:.1f} µs", f"{v['heap_bytes']} B",
                     f"≤ {target} B heap"))
    rows.append(("stdio ping round trip", f"p50 {st['p50_ms']:.3f} ms, p99 {st['p99_ms']:.3f} ms", f"{st['req_per_s']:.0f} req/s", "p99 ≤ 2 ms"))
    rows.append(("resident heap after start-up", f"{ip['resident']} B", f"(of which line buffer {ip['line_buffer']} B)", "≤ 32768 B"))
    rows.append(("frozen firmware/ bytecode (.mpy)", f"{sum(fz.values())} B", f"{len(fz)} modules", "≤ 49152 B"))
    print(f"device_rpc on {machine}")
    w = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    out = ROOT / "build/bench/device_rpc.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "in_process": ip, "stdio": st, "frozen_mpy": fz}, indent=1))


if __name__ == "__main__":
    main()
