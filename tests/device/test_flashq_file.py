"""The app's events on a board without a raw "queue" partition (the board shim with
EDGEMCP_FLASH=none, as on stock firmware's partition table) live in files on the board's
filesystem (16 preallocated sector files), and survive a restart of the device (a new MicroPython process)."""
from support import run_micropython

EMIT = """
from edgemcp import events
import edgemcp
events.queue_dir = %r
print(edgemcp.emit("temp", {"c": 21}), edgemcp.emit("temp", {"c": 22}))
"""

READ = """
from edgemcp import events
import edgemcp
events.queue_dir = %r
q = events.queue()
print(type(q._dev).__name__, [r[0] for r in q.peek(5)], edgemcp.emit("temp", {"c": 23}))
"""


def test_events_survive_a_restart_in_the_queue_file(device_bin, tmp_path):
    qfile = str(tmp_path / "eventq")
    env = {"EDGEMCP_FLASH": "none"}
    r = run_micropython(EMIT % qfile, env=env)
    assert r.returncode == 0, r.stderr
    s1, s2 = map(int, r.stdout.split())
    sizes = sorted((p.name, p.stat().st_size) for p in (tmp_path / "eventq").iterdir())
    assert sizes == sorted((str(i), 4096) for i in range(16))  # the default 64 KiB, preallocated
    r = run_micropython(READ % qfile, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(None, 1)[0] == "FileBlock"
    assert r.stdout.strip() == f"FileBlock [{s1}, {s2}] {s2 + 1}"


def test_the_app_takes_queue_dir_and_queue_size_from_its_config(device_bin, tmp_path):
    # the device app itself (config keys queue_dir/queue_size), on a board without the partition
    import json
    import os
    import subprocess

    root = tmp_path / "root"
    root.mkdir()
    (root / "edgemcp.json").write_text(json.dumps({"queue_dir": "/q", "queue_size": 8 * 4096, "test_tools": True}))
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "emit", "arguments": {"stream": "s"}}}]
    r = subprocess.run([str(device_bin), "-m", "edgemcp"], input="".join(json.dumps(m) + "\n" for m in msgs),
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "EDGEMCP_ROOT": str(root), "EDGEMCP_FLASH": "none"})
    replies = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [m.get("id") for m in replies if "id" in m] == [1, 2], r.stdout + r.stderr
    assert not replies[-1]["result"].get("isError"), replies[-1]
    assert sorted(p.name for p in (root / "q").iterdir()) == sorted(str(i) for i in range(8))
