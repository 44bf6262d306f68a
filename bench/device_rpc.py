"""Device MCP server cost: in-process per-request time and heap (inside the unix build),
round trips over stdio from a CPython line client, resident heap, the smallest heap on which the
app runs one micro_speech inference (bisection), frozen bytecode size. Measured on the virtual
device (64-bit) and the board-faithful build (unix-s3: 32-bit, float32, the board's heap) in the
same run; `--build unix` or `--build unix-s3` measures one (EDGEMCP_DEVICE_BIN: another binary).
Prints a table and writes build/bench/device_rpc.json."""
import argparse
import base64
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
BUILDS = {"unix": "build/unix/micropython-edgemcp", "unix-s3": "build/unix-s3/micropython-edgemcp"}
DEVICE = os.environ.get("EDGEMCP_DEVICE_BIN", str(ROOT / BUILDS["unix"]))
MODELS = pathlib.Path(os.environ.get("EDGEMCP_MODELS", ROOT / "models"))
MPY_CROSS = ROOT / "build/micropython/mpy-cross/build/mpy-cross"


def in_process():
    r = subprocess.run([DEVICE, str(ROOT / "bench/mp_device_rpc.py")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "EDGEMCP_ROOT": tempfile.mkdtemp()})
    if r.returncode:
        sys.exit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def frozen_size():
    # Compiled under the names the manifest freezes them by (edgemcp/NAME.py): a .mpy holds
    # its source's name, so an absolute path would make the size depend on the checkout's.
    total = {}
    fw = ROOT / "firmware"
    with tempfile.TemporaryDirectory() as d:
        for src in sorted(glob.glob("edgemcp/*.py", root_dir=fw)):
            out = pathlib.Path(d) / (pathlib.Path(src).stem + ".mpy")
            subprocess.run([str(MPY_CROSS), "-o", str(out), src], check=True, cwd=fw)
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


def _infer_runs(heap_k, kind):
    # The app started on a heap of heap_k KiB answers one micro_speech infer (input `kind`).
    root = pathlib.Path(tempfile.mkdtemp())
    (root / "models").mkdir()
    (root / "models/micro_speech_quantized.tflite").write_bytes((MODELS / "micro_speech_quantized.tflite").read_bytes())
    inp = {"real numbers": [0.375] * 1960, "integers": [3] * 1960, "base64": base64.b64encode(bytes(1960)).decode()}[kind]
    req = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
           "params": {"name": "infer", "arguments": {"model": "micro_speech_quantized", "input": inp, "raw": kind == "integers"}}}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}}}
    lines = (json.dumps(init) + "\n" + json.dumps(req) + "\n").encode()
    r = subprocess.run([DEVICE, "-X", f"heapsize={heap_k}K", "-m", "edgemcp"], input=lines, capture_output=True,
                       timeout=60, env={**os.environ, "EDGEMCP_ROOT": str(root)})
    for line in r.stdout.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict) and m.get("id") == 2:
            return "result" in m and not m["result"].get("isError")
    return False


def smallest_heap():
    """The smallest heap (KiB) on which the app runs one micro_speech inference, per input form."""
    out = {}
    for kind in ("real numbers", "integers", "base64"):
        lo, hi = 16, 512
        if not _infer_runs(hi, kind):
            out[kind] = None
            continue
        while hi - lo > 1:
            m = (lo + hi) // 2
            lo, hi = (lo, m) if _infer_runs(m, kind) else (m, hi)
        out[kind] = hi
    return out


def measure():
    return {"in_process": in_process(), "stdio": stdio_round_trips(), "smallest_heap_k": smallest_heap()}


def main():
    global DEVICE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", choices=[*BUILDS, "both"], default="both")
    a = ap.parse_args()
    builds = list(BUILDS) if a.build == "both" else [a.build]
    res = {}
    for b in builds:
        DEVICE = os.environ.get("EDGEMCP_DEVICE_BIN") if len(builds) == 1 and "EDGEMCP_DEVICE_BIN" in os.environ \
            else str(ROOT / BUILDS[b])
        res[b] = measure()
    fz = frozen_size()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}"
    rows = [("", *builds, "target")]
    for name in res[builds[0]]["in_process"]["requests"]:
        target = 8192 if name.endswith("tools/list") else 2048
        rows.append((f"in-process {name}", *(f"{res[b]['in_process']['requests'][name]['us']:.1f} µs, "
                                            f"{res[b]['in_process']['requests'][name]['heap_bytes']} B heap" for b in builds),
                     f"≤ {target} B heap"))
    rows.append(("stdio ping round trip p50/p99", *(f"{res[b]['stdio']['p50_ms']:.3f}/{res[b]['stdio']['p99_ms']:.3f} ms"
                                                    for b in builds), "p99 ≤ 2 ms"))
    rows.append(("resident heap after start-up", *(f"{res[b]['in_process']['resident']} B" for b in builds), "≤ 32768 B"))
    for kind in ("real numbers", "integers", "base64"):
        rows.append((f"smallest heap: app + micro_speech ({kind})",
                     *(f"{res[b]['smallest_heap_k'][kind]} KiB" for b in builds), "≤ 128 KiB on unix-s3"))
    rows.append(("frozen firmware/ bytecode (.mpy)", *[f"{sum(fz.values())} B ({len(fz)} modules)"] * len(builds), "≤ 49152 B"))
    print(f"device_rpc on {machine}")
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    out = ROOT / "build/bench/device_rpc.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "builds": res, "frozen_mpy": fz}, indent=1))


if __name__ == "__main__":
    main()
