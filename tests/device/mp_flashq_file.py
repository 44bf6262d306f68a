# A board without a raw "queue" partition (the stock partition table; here the board shim with
# EDGEMCP_FLASH=none): edgemcp.emit() keeps events in preallocated sector files on the
# filesystem (edgemcp/fileblock.py), they survive a restart and seqs carry on; a filesystem
# without room for them gives a clear error and leaves nothing behind. Also the heap cost.
# over board heap: the no-room check holds a 32 KiB RAM copy of a small LittleFS flash
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

def close(q):
    # The queue's open sector files, closed before the queue is dropped: a finaliser closing
    # them would call the RAM flash's Python methods inside the garbage collector.
    for f in q._dev._f:
        if f:
            f.close()


path = "build/tmp-flashq-file-%s" % "".join("%02x" % b for b in os.urandom(4))
try:
    assert esp32.Partition.find(esp32.Partition.TYPE_DATA, label="queue") == []
    gc.collect()
    h = gc.mem_alloc()
    from edgemcp import fileblock  # noqa: F401
    gc.collect()
    print("fileblock import: %d bytes of heap" % (gc.mem_alloc() - h))

    events.queue_dir = path
    events.queue_size = 8 * 4096
    s1 = edgemcp.emit("temp", {"c": 21.5})
    s2 = edgemcp.emit("log", "motor stalled")
    assert s2 == s1 + 1
    assert sorted(os.listdir(path)) == sorted(str(i) for i in range(8))  # preallocated: the size asked for
    assert all(os.stat("%s/%d" % (path, i))[6] == 4096 for i in range(8))
    assert type(events.queue()._dev).__name__ == "FileBlock"
    st = events.queue_stats()
    assert st["sectors"] == 8 and st["records"] == 2, st

    # A restart: the files are found again (their number, not queue_size, counts), records and seqs kept.
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
    b = bytearray(32)
    fb.readblocks(0, b, 0)
    fb.readblocks(7, b, 0)  # two sector files open
    gc.collect()
    print("FileBlock with its two open files (host filesystem): %d bytes of heap" % (gc.mem_alloc() - h))
    for f in fb._f:
        f.close()

    # No room: a 32 KiB LittleFS (6 blocks free) cannot hold 16 sectors.
    dev = RAMFlash(8)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/small")
    try:
        flashq.open_partition("reject", path="/small/eventq", size=16 * 4096)
    except OSError as e:
        msg = str(e)
        assert "no room for the queue in /small/eventq: 16 sectors need 77824 bytes free" in msg, msg
    else:
        raise AssertionError("a queue larger than the filesystem was created")
    assert os.listdir("/small") == [], os.listdir("/small")  # nothing left behind
    # It fits once small enough: 3 sectors need 24 KiB free; it works and is found again.
    q = flashq.open_partition("reject", path="/small/eventq", size=3 * 4096)
    assert q.stats()["sectors"] == 3 and os.listdir("/small") == ["eventq"]
    s = q.append(b"x")
    close(q)
    q = flashq.open_partition("reject", path="/small/eventq", size=16 * 4096)
    assert q.stats()["sectors"] == 3 and q.peek(2) == [(s, b"x")]
    close(q)
    q = flashq.open_partition("reject", path="/small/eventq", size=0)
    assert q.peek(1) == [(s, b"x")]
    close(q)
    vfs.umount("/small")
    print("ok")
finally:
    for d in (path, path + ".new"):
        for i in range(8):
            try:
                os.remove("%s/%d" % (d, i))
            except OSError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass
