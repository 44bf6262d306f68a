# edgemcp.emit() stores events in the flash queue (the virtual board's file-backed "queue"
# partition), seqs carry on after a reboot, the next sector is erased while idle, and the
# device://queue resource shows the queue's stats through the MCP server.
import os

path = "build/tmp-flashq-events-%s.bin" % "".join("%02x" % b for b in os.urandom(4))
os.putenv("EDGEMCP_FLASH", path)
os.putenv("EDGEMCP_FLASH_SIZE", str(16 * 4096))
import asyncio  # noqa: E402
import json  # noqa: E402

import edgemcp  # noqa: E402
import esp32  # noqa: E402
from edgemcp import events, server  # noqa: E402

try:
    s1 = edgemcp.emit("temp", {"c": 21.5})
    s2 = edgemcp.emit("log", "motor stalled")
    assert s2 == s1 + 1
    recs = events.queue().peek(5)
    assert [r[0] for r in recs] == [s1, s2]
    e = json.loads(recs[0][1])
    assert e["seq"] == s1 and e["stream"] == "temp" and e["data"] == {"c": 21.5}
    assert isinstance(e["ts"], int) and set(e) == {"seq", "ts", "stream", "data"}
    assert b" " not in recs[0][1]  # compact
    assert json.loads(recs[1][1])["data"] == "motor stalled"
    try:
        edgemcp.emit("big", "x" * 5000)
    except ValueError:
        pass
    else:
        raise AssertionError("an event larger than a record was taken")
    assert len(events.queue()) == 2

    # The erase of the next sector happens in a task once the loop runs, not in emit.
    part = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="queue")[0]
    w = sum(part.wear())
    async def idle():
        await asyncio.sleep_ms(20)

    asyncio.run(idle())
    assert sum(part.wear()) == w + 1, (w, part.wear())

    # device://queue through the server.
    out = []
    s = server.open_session(out.append)
    server.receive(s, b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}')
    server.receive(s, b'{"jsonrpc":"2.0","id":2,"method":"resources/list"}')
    assert any(r["uri"] == "device://queue" for r in json.loads(out[-1])["result"]["resources"])
    server.receive(s, b'{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"device://queue"}}')
    c = json.loads(out[-1])["result"]["contents"][0]
    st = json.loads(c["text"])
    assert c["mimeType"] == "application/json"
    assert st["records"] == 2 and st["appends"] == 2 and st["capacity"] == 16 * (4096 - 32), st
    assert st["next_seq"] == s2 + 1 and st["erases_min"] >= 1
    server.close_session(s)

    # A reboot: the queue is found again and seqs carry on.
    events.queue().ack(s1)
    events._q = None
    esp32._parts.clear()
    s3 = edgemcp.emit("temp", {"c": 22})
    assert s3 == s2 + 1
    assert [r[0] for r in events.queue().peek(5)] == [s2, s3]
    print("ok")
finally:
    for f in (path, path + ".wear"):
        try:
            os.remove(f)
        except OSError:
            pass
