# A board without a raw "queue" partition (the stock partition table; here the board shim with
# EDGEMCP_FLASH=none): edgemcp.emit() keeps events in a preallocated file on the filesystem
# (edgemcp/fileblock.py), they survive a restart and seqs carry on; a filesystem without room
# for the file gives a clear error and leaves no partial file. Also the adapter's heap cost.
import gc
import os
import sys

os.putenv("EDGEMCP_FLASH", "none")
import vfs  # noqa: E402

import edgemcp  # noqa: E402
import esp32  # noqa: E402
from edgemcp import events, flashq  # noqa: E402

sys.path.insert(0, "tests/device")
from powercut import RAMFlash  # noqa: E402

path = "build/tmp-flashq-file-%s.bin" % "".join("%02x" % b for b in os.urandom(4))
try:
    assert esp32.Partition.find(esp32.Partition.TYPE_DATA, label="queue") == []
    gc.collect()
    h = gc.mem_alloc()
    from edgemcp import fileblock  # noqa: F401
    gc.collect()
    print("fileblock import: %d bytes of heap" % (gc.mem_alloc() - h))

    events.queue_file = path
    events.queue_size = 8 * 4096
    s1 = edgemcp.emit("temp", {"c": 21.5})
    s2 = edgemcp.emit("log", "motor stalled")
    assert s2 == s1 + 1
    assert os.stat(path)[6] == 8 * 4096  # preallocated, the size asked for
    assert type(events.queue()._dev).__name__ == "FileBlock"
    st = events.queue_stats()
    assert st["sectors"] == 8 and st["records"] == 2, st

    # A restart: the file is found again (its size, not queue_size, counts), records and seqs kept.
    events._q = None
    events.queue_size = 64 * 4096
    q = events.queue()
    assert len(q) == 2 and q.stats()["sectors"] == 8
    got = q.peek(5)
    assert [r[0] for r in got] == [s1, s2] and b'"motor stalled"' in got[1][1], got
    q.ack(s1)
    events._q = None
    s3 = edgemcp.emit("temp", {"c": 22})
    assert s3 == s2 + 1
    assert [r[0] for r in events.queue().peek(5)] == [s2, s3]
    events._q = None
    gc.collect()
    h = gc.mem_alloc()
    fb = fileblock.FileBlock(path, 0)
    gc.collect()
    print("FileBlock on an existing file: %d bytes of heap" % (gc.mem_alloc() - h))
    fb._f.close()

    # No room: a 32 KiB LittleFS cannot hold a 64 KiB queue file and its rewrite.
    dev = RAMFlash(8)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/small")
    try:
        flashq.open_partition("reject", path="/small/eventq.bin", size=16 * 4096)
    except OSError as e:
        msg = str(e)
        assert "no room for the queue file /small/eventq.bin" in msg and "131072 bytes free" in msg, msg
    else:
        raise AssertionError("a queue file larger than the filesystem was created")
    assert os.listdir("/small") == [], os.listdir("/small")  # nothing left behind
    # It fits once small enough: 2 sectors need 16 KiB free.
    q = flashq.open_partition("reject", path="/small/eventq.bin", size=2 * 4096)
    assert q.stats()["sectors"] == 2 and os.listdir("/small") == ["eventq.bin"]
    q.append(b"x")
    vfs.umount("/small")
    print("ok")
finally:
    for f in (path, path + ".new"):
        try:
            os.remove(f)
        except OSError:
            pass
