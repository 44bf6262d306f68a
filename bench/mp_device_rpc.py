# Runs inside the virtual device (unix build): the in-process cost of MCP requests.
# Prints one JSON line: per-request microseconds and heap bytes allocated, resident heap.
import gc
import json
import time

try:
    import vboard  # noqa: F401  (the unix board's own code, not the app's: outside the count)
except ImportError:
    pass
gc.collect()
base = gc.mem_alloc()
import edgemcp  # noqa: E402
from edgemcp import app, server, config  # noqa: E402

cfg = config.defaults()  # as app.run() assembles it
server.settings.update(name="bench", version=edgemcp.VERSION)
from edgemcp import builtin, serial_link  # noqa: E402,F401  (the app's modules, asyncio with them)

builtin.setup(cfg, app.stop)

out = []
sink = out.append
s = server.open_session(sink)
line_buf = bytearray(cfg["max_line"] + 1)  # what the serial link holds
server.receive(s, b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"0"}}}')
out.clear()
gc.collect()
resident = gc.mem_alloc() - base

# The 2025 path (on the initialized session) and the same requests in the 2026-07-28 era
# (per-request _meta, no session state), side by side.
META = b'"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
REQS = {
    "ping": b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
    "tools/list": b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
    "tools/call device_info": b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"device_info","arguments":{}}}',
    "2026-07-28 server/discover": b'{"jsonrpc":"2.0","id":4,"method":"server/discover","params":{' + META + b'}}',
    "2026-07-28 tools/list": b'{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{' + META + b'}}',
    "2026-07-28 tools/call device_info": b'{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"device_info",'
                                         b'"arguments":{},' + META + b'}}',
}


class _NoCollect:
    collect = staticmethod(lambda: None)
    mem_free = staticmethod(gc.mem_free)
    mem_alloc = staticmethod(gc.mem_alloc)


N = 2000
a0 = a1 = dt = n = t0 = 0  # bound before the counts: a new global could grow the dict inside one
res = {}
for name, req in REQS.items():
    if name.endswith("device_info"):
        n = 200  # device_info runs gc.collect() itself: time it, but fewer times
    else:
        n = N
    gc.collect()
    t0 = time.ticks_us()
    for i in range(n):
        server.receive(s, req)
        out.clear()
    dt = time.ticks_diff(time.ticks_us(), t0) / n
    # heap allocated by one request: collection disabled, counted around a single call
    gc.collect()
    builtin.gc = _NoCollect  # device_info collects before it reports: keep the counter running
    gc.disable()
    a0 = gc.mem_alloc()
    server.receive(s, req)
    a1 = gc.mem_alloc()
    gc.enable()
    builtin.gc = gc
    out.clear()
    res[name] = {"us": dt, "heap_bytes": None if a1 is None else a1 - a0}
print(json.dumps({"resident": resident, "line_buffer": len(line_buf), "requests": res}))
