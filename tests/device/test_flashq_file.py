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
