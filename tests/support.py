"""Where things are for the tests (the repository, the virtual device binary, the real models)
and how to run MicroPython code on the virtual device; imported by conftest.py and by tests."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The device build the tests drive (EDGEMCP_BUILD): "unix", our firmware frozen with its C
# modules (the default); "unix-s3", the same built board-faithful (32-bit words, float32, the
# heap of an ESP32-S3 without PSRAM); "stock", stock MicroPython with the package installed in
# build/stock/board by `edgemcp install --dir`. Set in os.environ so that every process a test
# starts (the bridge's virtual devices among them) runs the same build.
BUILD = os.environ.get("EDGEMCP_BUILD", "unix")
BINARIES = {"unix": "build/unix/micropython-edgemcp", "unix-s3": "build/unix-s3/micropython-edgemcp",
            "stock": "build/stock/micropython"}
STOCK_DIR = ROOT / "build/stock/board"
if BUILD not in BINARIES:
    raise SystemExit(f"EDGEMCP_BUILD={BUILD!r}: one of {', '.join(BINARIES)}")
if BUILD != "unix":
    os.environ.setdefault("EDGEMCP_DEVICE_BIN", str(ROOT / BINARIES[BUILD]))
if BUILD == "stock":
    os.environ["MICROPYPATH"] = str(STOCK_DIR / "lib")
DEVICE_BIN = pathlib.Path(os.environ.get("EDGEMCP_DEVICE_BIN", ROOT / BINARIES["unix"]))
MODELS = pathlib.Path(os.environ.get("EDGEMCP_MODELS", ROOT / "models"))
# The board-faithful build keeps the heap of the board (boards/unix-s3/board_heap.c): a larger
# -X heapsize is cut to it, unless EDGEMCP_HEAP_OVER_BOARD gives the reason a test needs more.
BOARD_HEAP = 128 * 1024
os.environ.pop("EDGEMCP_HEAP_OVER_BOARD", None)  # only run_micropython(over_board=...) sets it


def run_micropython(code_or_path, *args, timeout=120, env=None, cwd=None, heap="2M", over_board=None):
    """Run a MicroPython script (a path, or source text) on the virtual device binary.
    On unix-s3 the heap is the board's (at most BOARD_HEAP) whatever `heap` says, unless
    `over_board` says why this script needs more (a RAM copy of what the board keeps in flash).
    Returns the CompletedProcess; the caller asserts on returncode and output."""
    cmd = [str(DEVICE_BIN), "-X", f"heapsize={heap}"]
    if isinstance(code_or_path, pathlib.Path):
        cmd += [str(code_or_path), *args]
    else:
        cmd += ["-c", code_or_path, *args]
    e = dict(os.environ)
    e.update(env or {})
    if over_board:
        e["EDGEMCP_HEAP_OVER_BOARD"] = over_board
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e,
                          cwd=cwd or ROOT)
