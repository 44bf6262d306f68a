"""The device app on a small heap (as on a board without PSRAM): running out of memory while
reading a request is an error reply and the app serves on; a heap too small to start says so on
the console instead of leaving for the REPL without a word."""
import json
import os
import subprocess

from rawdevice import RawDevice
from support import BUILD, DEVICE_BIN
from vdevice import board_root, device_env

# A heap on which the app starts and answers, but cannot parse the ~14 KB request below
# (1,960 real numbers: micro_speech's input) on the build under test.
SMALL = {"unix": "80K", "unix-s3": "64K", "stock": "80K"}[BUILD]


def test_out_of_memory_parsing_a_request_is_an_error_reply(tmp_path):
    d = RawDevice(board_root(tmp_path, {}), heap=SMALL)
    try:
        assert "result" in d.initialize()
        line = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                           "params": {"name": "infer", "arguments": {"model": "m", "input": [0.375] * 1960}}})
        d.send_raw(line.encode() + b"\n")
        r = d.recv(30)
        assert r is not None and r["id"] == 77, r
        assert r["error"]["code"] == -32603 and str(len(line)) in r["error"]["message"], r
        # the app is still there, and still itself
        assert d.request("ping")["result"] == {}
        assert "tools" in d.request("tools/list")["result"]
        d.send_raw(line.replace('"id": 77', '"id": "x7"').encode() + b"\n")
        assert d.recv(30)["id"] == "x7"
        assert d.request("ping")["result"] == {}
    finally:
        d.close()


def test_a_heap_too_small_to_start_says_so(tmp_path):
    root = board_root(tmp_path, {})
    r = subprocess.run([str(DEVICE_BIN), "-X", "heapsize=24K", "-m", "edgemcp"],
                       input=b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}\n', capture_output=True,
                       timeout=30, env={**os.environ, **device_env(root)})
    out = r.stdout.decode()
    assert out.startswith("edgemcp: not enough heap to start"), out[:500]
    assert "bytes free of" in out
