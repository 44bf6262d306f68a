"""edgemcp on stock MicroPython (build/stock/micropython: no frozen package, no jsoncheck, no
tflite), with the package that `edgemcp install` writes: the tree it installs, the app without
an infer tool, and with it once the tflite native module (make natmod) is installed, the
pure-Python JSON check answering exactly as the C module does, `mip` installing from the
repository's package.json, and `edgemcp install --port` on a board.
These always drive the stock build, whatever EDGEMCP_BUILD says."""
import json
import os
import random
import struct
import subprocess

import pytest

from _support.deploy import edgemcp, mcp_initialize
from support import BINARIES, ROOT, STOCK_DIR

STOCK = ROOT / BINARIES["stock"]
UNIX = ROOT / BINARIES["unix"]
NATMOD = ROOT / "build/natmod/x64/tflite.mpy"  # make natmod; installed into STOCK_DIR by make setup
FIRMWARE = ROOT / "firmware/edgemcp"
UNIX_SHIMS = ["lib/esp32.mpy", "lib/machine.mpy", "lib/vboard.mpy"]
ASYNCIO = [f"lib/asyncio/{n}.mpy" for n in ("__init__", "core", "event", "funcs", "lock", "stream")]
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@pytest.fixture(scope="module")
def stock():
    if not STOCK.exists() or not (STOCK_DIR / "lib/edgemcp").is_dir() or not NATMOD.is_file():
        pytest.fail(f"{STOCK}, {STOCK_DIR} or {NATMOD} is missing: run `make setup`")
    return STOCK


def files(root):
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def package_files():
    return sorted(f"lib/edgemcp/{p.stem}.mpy" for p in FIRMWARE.glob("*.py"))


def run_app(binary, lib, root, messages, heap="2M"):
    """The app on `binary` with the package from folder `lib` (None: frozen); -> its replies."""
    env = dict(os.environ, EDGEMCP_ROOT=str(root))
    env.pop("MICROPYPATH", None)
    if lib:
        env["MICROPYPATH"] = str(lib)
    root.mkdir(parents=True, exist_ok=True)
    data = b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n" for m in messages)
    r = subprocess.run([str(binary), "-X", f"heapsize={heap}", "-m", "edgemcp"], input=data,
                       capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_install_dir_writes_the_tree_and_skips_unchanged(tmp_path, stock):
    d = tmp_path / "board"
    r = edgemcp("install", "--dir", str(d), "--board", "unix")
    assert r.returncode == 0, r.stderr
    want = sorted(package_files() + UNIX_SHIMS + ASYNCIO + ["main.py", "lib/tflite.mpy"])
    assert sorted(files(d)) == want
    assert (d / "main.py").read_bytes() == (ROOT / "firmware/main.py").read_bytes()
    for f in want:
        if f.endswith(".mpy") and f != "lib/tflite.mpy":  # MicroPython 1.25's format: mpy v6,
            # bytecode only (no arch, so no sub-version byte), 31-bit small ints: loads on the
            # esp32 and the unix port alike
            assert (d / f).read_bytes()[:4] == b"M\x06\x00\x1f", f
    # the native module built for this machine: mpy v6, sub-version 3, arch x64 (2 << 2)
    assert (d / "lib/tflite.mpy").read_bytes() == NATMOD.read_bytes()
    assert NATMOD.read_bytes()[:3] == b"M\x06\x0b"
    assert f"native module: lib/tflite.mpy ({NATMOD}, x64," in r.stdout
    assert f"{len(want)} copied" in r.stdout and "compiling" in r.stdout
    before = files(d)
    r = edgemcp("install", "--dir", str(d), "--board", "unix")
    assert r.returncode == 0 and "0 copied" in r.stdout and f"{len(want)} unchanged" in r.stdout, r.stdout
    assert files(d) == before  # not even rewritten
    # a .py left by `mip install` would be imported instead of the .mpy: install removes it
    (d / "lib/edgemcp/server.py").write_text("raise ImportError('stale')\n")
    r = edgemcp("install", "--dir", str(d), "--board", "unix")
    assert r.returncode == 0 and "removed   lib/edgemcp/server.py" in r.stdout
    assert not (d / "lib/edgemcp/server.py").exists()

    e = tmp_path / "esp32"
    r = edgemcp("install", "--dir", str(e), "--board", "esp32")
    assert r.returncode == 0, r.stderr
    assert sorted(files(e)) == sorted(package_files() + ["main.py"])  # the esp32 port has the rest built in
    if not (ROOT / "build/natmod/xtensawin/tflite.mpy").exists():  # no xtensa toolchain here
        assert "tflite.mpy not installed: built for x64, not for this board's xtensawin" in r.stdout


def test_install_refuses_a_native_module_for_another_arch(tmp_path, stock):
    e = tmp_path / "esp32"
    r = edgemcp("install", "--dir", str(e), "--board", "esp32", "--natmod", str(NATMOD))
    assert r.returncode == 2 and not e.exists()
    says = f"{NATMOD} is native code for x64, but the board runs xtensawin: build it with `make natmod ARCH=xtensawin`"
    assert says in r.stderr, r.stderr
    (tmp_path / "bytecode.mpy").write_bytes((STOCK_DIR / "lib/machine.mpy").read_bytes())
    r = edgemcp("install", "--dir", str(e), "--board", "unix", "--natmod", str(tmp_path / "bytecode.mpy"))
    assert r.returncode == 2 and "holds no native code" in r.stderr
    r = edgemcp("install", "--dir", str(e), "--board", "unix", "--natmod", str(ROOT / "README.md"))
    assert r.returncode == 2 and "is not a .mpy file of MicroPython 1.25" in r.stderr
    r = edgemcp("install", "--dir", str(e), "--board", "unix", "--no-natmod")
    assert r.returncode == 0 and not (e / "lib/tflite.mpy").exists()


def test_install_bad_input(tmp_path):
    r = edgemcp("install")
    assert r.returncode == 2 and "give --port PORT" in r.stderr
    r = edgemcp("install", "--dir", str(tmp_path / "x"))
    assert r.returncode == 2 and "--dir needs --board" in r.stderr
    (tmp_path / "f").write_text("")
    r = edgemcp("install", "--dir", str(tmp_path / "f"), "--board", "unix")
    assert r.returncode == 2 and "is not a folder" in r.stderr
    r = edgemcp("install", "--dir", str(tmp_path / "x"), "--board", "stm32")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = edgemcp("install", "--port", str(tmp_path / "ttyNOPE"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "x").exists()


def test_stock_firmware_has_no_c_modules(stock):
    r = subprocess.run([str(stock), "-c", "for m in ('jsoncheck', 'tflite'):\n try:\n  __import__(m); print(m)\n except ImportError:\n  pass"],
                       capture_output=True, text=True, env={})
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    # the native module on the path: tflite imports from the .mpy
    r = subprocess.run([str(stock), "-c", "import tflite; print(tflite.__file__, tflite.Interpreter)"],
                       capture_output=True, text=True, env={"MICROPYPATH": str(NATMOD.parent)})
    assert r.returncode == 0 and r.stdout.split() == [str(NATMOD), "<class", "'Interpreter'>"], r.stdout + r.stderr


def test_python_check_loaded_only_without_the_c_module(stock, tmp_path):
    code = "import sys\nfrom edgemcp import app\nprint('edgemcp.jsonstrict' in sys.modules)"
    r = subprocess.run([str(UNIX), "-c", code], capture_output=True, text=True, timeout=30, env={})
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr  # RAM it need not cost
    r = subprocess.run([str(stock), "-c", code], capture_output=True, text=True, timeout=30,
                       env={"MICROPYPATH": str(STOCK_DIR / "lib"), "EDGEMCP_ROOT": str(tmp_path)})
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stdout + r.stderr


def test_no_infer_tool_and_device_info_says_why(tmp_path, stock, models_dir):
    bare = tmp_path / "bare"  # installed without the native module
    r = edgemcp("install", "--dir", str(bare), "--board", "unix", "--no-natmod")
    assert r.returncode == 0 and not (bare / "lib/tflite.mpy").exists(), r.stderr
    root = tmp_path / "root"
    (root / "models").mkdir(parents=True)
    (root / "models/hello_world_int8.tflite").write_bytes((models_dir / "hello_world_int8.tflite").read_bytes())
    msgs = [INIT, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "device_info", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "infer", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 5, "method": "resources/list"}]
    stock_r = {m["id"]: m for m in run_app(stock, bare / "lib", root, msgs) if "id" in m}
    unix_r = {m["id"]: m for m in run_app(UNIX, None, root, msgs) if "id" in m}
    names = [t["name"] for t in stock_r[2]["result"]["tools"]]
    assert "infer" not in names and "device_info" in names
    # nothing else changes: the same tools as the edgemcp image, less infer
    assert names == [t["name"] for t in unix_r[2]["result"]["tools"] if t["name"] != "infer"]
    info = stock_r[3]["result"]["structuredContent"]
    assert info["inference"] is False
    assert info["inference_unavailable"].startswith("no tflite module: stock firmware")
    image = unix_r[3]["result"]["structuredContent"]
    assert image["inference"] is True and "inference_unavailable" not in image
    assert stock_r[4]["error"]["code"] == -32602 and "unknown tool: infer" in stock_r[4]["error"]["message"]
    uris = [r["uri"] for r in stock_r[5]["result"]["resources"]]
    assert not [u for u in uris if u.startswith("model://")]
    # (in another order: the registry's dict orders by hash, and frozen names hash differently)
    assert sorted(uris) == sorted(r["uri"] for r in unix_r[5]["result"]["resources"] if not r["uri"].startswith("model://"))


def test_native_module_brings_the_infer_tool(tmp_path, stock, models_dir):
    # STOCK_DIR holds tflite.mpy (make setup): the same tools as the edgemcp image, infer
    # included, and the same answer from a model file
    root = tmp_path / "root"
    (root / "models").mkdir(parents=True)
    (root / "models/hello_world_int8.tflite").write_bytes((models_dir / "hello_world_int8.tflite").read_bytes())
    call = {"name": "infer", "arguments": {"model": "hello_world_int8", "input": [0.5], "raw": False}}
    msgs = [INIT, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "device_info", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": call},
            {"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {"uri": "model://hello_world_int8"}}]
    stock_r = {m["id"]: m for m in run_app(stock, STOCK_DIR / "lib", root, msgs) if "id" in m}
    unix_r = {m["id"]: m for m in run_app(UNIX, None, root, msgs) if "id" in m}
    assert [t["name"] for t in stock_r[2]["result"]["tools"]] == [t["name"] for t in unix_r[2]["result"]["tools"]]
    info = stock_r[3]["result"]["structuredContent"]
    assert info["inference"] is True and "inference_unavailable" not in info
    got, want = stock_r[4]["result"], unix_r[4]["result"]
    assert not got.get("isError"), got
    for k in ("output", "outputs", "dequantized", "output_quantization", "top_k"):
        assert got["structuredContent"].get(k) == want["structuredContent"].get(k), k
    described = json.loads(stock_r[5]["result"]["contents"][0]["text"])
    assert described == json.loads(unix_r[5]["result"]["contents"][0]["text"])


# ---- the strict JSON check: the pure-Python one (stock) against the C module (edgemcp image)

def corpus():
    """Valid messages, every prefix of them, every byte of them replaced by a troublesome one,
    UTF-8 edge cases, nesting around the limit, random insertions and deletions."""
    base = [
        b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
        b' { "jsonrpc" : "2.0" , "id" : "a\\"b\\\\c\\/\\n\\u00e9" , "method" : "tools/list" , "params" : { } } ',
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"t":"h\u00e9 \u20ac \U0001d11e"}}}'.encode(),
        b'{"jsonrpc":"2.0","id":-0,"method":"m","params":{"n":[0,-1,1.5e10,0.25,-1E-3,2e+2,true,false,null,[],{}]}}',
        b'[{"jsonrpc":"2.0","id":9,"method":"ping"}, 1, "s"]',
        b'"just a string"', b'-12.5e-3', b'null', b'true', b'{}', b'[]',
    ]
    out = list(base)
    for b in base:
        out += [b[:i] for i in range(len(b))]
        for i in range(len(b)):
            for c in b'\x00\x1f"\\{}[]:,0-e.+ \x80\xc0\xc1\xe0\xed\xf0\xf4\xf5\xff':
                out.append(b[:i] + bytes([c]) + b[i + 1:])
    utf8 = [b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
            b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xed\x9f\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
            b"\x80", b"\xbf", b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc2\x41", b"\xe2\x28\xa1", b"\xfe", b"\xff"]
    for u in utf8:
        out += [b'"' + u + b'"', b'"' + u, b'{"a":"x' + u + b'y"}', b'{"' + u + b'":1}']
    for esc in [b"\\u", b"\\u1", b"\\u12", b"\\u123", b"\\u12g4", b"\\uABCD", b"\\x", b"\\", b"\\\x00", b"\\'"]:
        out += [b'"' + esc + b'"', b'"' + esc]
    for d in (1, 31, 32, 33, 100):
        out += [b"[" * d + b"]" * d, b'{"a":' * d + b"1" + b"}" * d, b"[" * d, b'{"a":[' * d + b"]}" * d]
    out += [b"", b" ", b"\n", b"tru", b"nul", b"fals", b"truex", b"nan", b"-", b"01", b"1.", b".5", b"1e", b"1e+",
            b'{"a"}', b'{"a":}', b'{,}', b"[,]", b"[1,]", b'{"a":1,}', b"{1:2}", b"[1 2]", b"1 2"]
    rnd = random.Random(11)
    for _ in range(2000):
        b = bytearray(rnd.choice(base))
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(b) + 1)
            if rnd.random() < 0.5 and i < len(b):
                del b[i]
            else:
                b[i:i] = bytes([rnd.randrange(256)])
        out.append(bytes(b))
    return out


def write_corpus(path, items):
    path.write_bytes(b"".join(struct.pack("<I", len(b)) + b for b in items))


CHECK_BOTH = r"""
import sys, jsoncheck
from edgemcp import jsonstrict
def res(f, b):
    try:
        f(b, 32)
        return "ok"
    except ValueError as e:
        return str(e)
data = open(sys.argv[1], "rb").read()
i = n = diff = ok = 0
while i < len(data):
    k = int.from_bytes(data[i:i + 4], "little")
    b = data[i + 4:i + 4 + k]
    i += 4 + k
    a = res(jsoncheck.check, b)
    c = res(jsonstrict.check, memoryview(b))
    if a != c:
        diff += 1
        print("DIFF", n, repr(b[:60]), a, "|", c)
    ok += a == "ok"
    n += 1
print("DONE", n, diff, ok)
"""

# The server's answer to each message, as a client sees it (one line per message).
SERVE = r"""
import sys, json
from edgemcp import server
out = []
s = server.open_session(out.append)
data = open(sys.argv[1], "rb").read()
i = 0
while i < len(data):
    k = int.from_bytes(data[i:i + 4], "little")
    server.receive(s, memoryview(data)[i + 4:i + 4 + k])
    i += 4 + k
    print(out[-1] if out else "-")
    out.clear()
"""


def test_python_json_check_answers_as_the_c_module(tmp_path, stock):
    items = corpus()
    write_corpus(tmp_path / "corpus.bin", items)
    # the two checks side by side in the edgemcp image (which has both): same verdict, same message
    (tmp_path / "both.py").write_text(CHECK_BOTH)
    r = subprocess.run([str(UNIX), "-X", "heapsize=4M", str(tmp_path / "both.py"), str(tmp_path / "corpus.bin")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    done = r.stdout.split("DONE")[1].split()
    n, diff, ok = map(int, done)
    assert n == len(items) and diff == 0, r.stdout[-3000:]
    assert 100 < ok < n - 1000  # the corpus holds both kinds, in numbers
    # the same corpus through the server of each build: the same replies, byte for byte
    (tmp_path / "serve.py").write_text(SERVE)
    env = dict(os.environ, MICROPYPATH=str(STOCK_DIR / "lib"), EDGEMCP_ROOT=str(tmp_path))
    got = {}
    for name, binary in (("stock", stock), ("unix", UNIX)):
        e = env if name == "stock" else {k: v for k, v in env.items() if k != "MICROPYPATH"}
        r = subprocess.run([str(binary), "-X", "heapsize=4M", str(tmp_path / "serve.py"), str(tmp_path / "corpus.bin")],
                           capture_output=True, text=True, timeout=600, env=e)
        assert r.returncode == 0, r.stderr[-2000:]
        got[name] = r.stdout.splitlines()
    assert len(got["stock"]) == len(items)
    codes = {json.loads(x)["error"]["code"] for x in got["stock"] if x != "-" and "error" in json.loads(x)}
    assert {-32700, -32600} <= codes
    assert got["stock"] == got["unix"]


def test_mip_installs_from_the_local_package_json(tmp_path, stock):
    # mpremote's mip reads a package.json on the host and copies its "urls" (no network): the
    # virtual board gets /lib/edgemcp/*.py, and stock MicroPython runs the app from there
    from edgemcp_host.console import VirtualConsole
    pkg = json.loads((ROOT / "package.json").read_text())
    assert sorted(u[1] for u in pkg["urls"]) == sorted(f"firmware/edgemcp/{p.name}" for p in FIRMWARE.glob("*.py"))
    assert pkg["version"] in (FIRMWARE / "__init__.py").read_text()
    root = tmp_path / "root"
    with VirtualConsole(root, "mip", UNIX) as v:
        r = subprocess.run([str(ROOT / ".venv/bin/mpremote"), "connect", v.path, "mip", "install", "--target", "/lib",
                            str(ROOT / "package.json")], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
    for p in FIRMWARE.glob("*.py"):
        assert (root / "lib/edgemcp" / p.name).read_bytes() == p.read_bytes()
    # stock firmware (its board shims from the installed tree), the package from what mip wrote
    lib = f"{root / 'lib'}:{STOCK_DIR / 'lib'}"
    replies = run_app(stock, lib, tmp_path / "run", [INIT, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                            "params": {"name": "device_info", "arguments": {}}}])
    assert replies[0]["result"]["serverInfo"]["name"] == "edgemcp"
    assert replies[1]["result"]["structuredContent"]["inference"] is True  # STOCK_DIR's tflite.mpy


def test_install_port_copies_what_changed_and_restarts(tmp_path, stock):
    # a virtual board on stock firmware whose /lib is where the package is installed
    from edgemcp_host.console import VirtualConsole
    root = tmp_path / "root"
    r = edgemcp("install", "--dir", str(root), "--board", "unix")
    assert r.returncode == 0, r.stderr
    (root / "lib/edgemcp/testtools.mpy").write_bytes(b"old")  # not imported by the app
    (root / "lib/edgemcp/models.py").write_text("raise ImportError('stale')\n")  # nor is this
    (root / "edgemcp.json").write_text(json.dumps({"name": "installed"}))
    with VirtualConsole(root, "inst", stock, env={"MICROPYPATH": str(root / "lib")}) as v:
        r = edgemcp("install", "--port", v.path, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "board: unix, MicroPython 1.25.0" in r.stdout
        assert "copied    /lib/edgemcp/testtools.mpy" in r.stdout and "1 copied" in r.stdout
        assert "removed   /lib/edgemcp/models.py" in r.stdout and not (root / "lib/edgemcp/models.py").exists()
        assert not list(root.rglob("*.part"))
        want = tmp_path / "want"
        edgemcp("install", "--dir", str(want), "--board", "unix")
        assert (root / "lib/edgemcp/testtools.mpy").read_bytes() == (want / "lib/edgemcp/testtools.mpy").read_bytes()
        assert mcp_initialize(v.path)["serverInfo"]["name"] == "installed"  # reset: the app runs again
        r = edgemcp("install", "--port", v.path, "--board", "esp32")
        assert r.returncode == 2 and "--board esp32, but the board is unix" in r.stderr
