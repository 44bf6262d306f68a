"""Bridge overhead: tools/call round trips (the device's `echo` tool) from a client through the
bridge to a virtual device and back, against the same client talking to a virtual device
directly over stdio, in the same run, with 1 and 8 concurrent clients.

Two pairs, each compared side by side:
- raw line client (JSON-RPC, one message per line): device over stdio vs `edgemcp bridge --stdio
  --device` (the bridge's own cost: SDK server, id rewriting, the pseudo-terminal);
- mcp SDK client: device over stdio vs the bridge's Streamable HTTP endpoint /mcp/DEVICE (what an
  SDK user sees).
And the peers a user would pick instead of the bridge, each serving one virtual device over
Streamable HTTP to the same SDK clients: `mcp-proxy` (PyPI) and supergateway (npm), installed by
`make bench-peers` under build/peers/ (a peer that is not installed is named and its column left
out). Rounds alternate the servers, in both eras (the 2025-11-25 handshake; the SDK's default
"auto" mode, which gets 2026-07-28 where the server speaks it), with 1 and 8 clients.
Prints tables and writes build/bench/bridge.json."""
import asyncio
import contextlib
import json
import os
import pathlib
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVICE = os.environ.get("EDGEMCP_DEVICE_BIN", str(ROOT / "build/unix/micropython-edgemcp"))
N1 = int(os.environ.get("BENCH_N", "2000"))  # requests with one client
N8 = N1 // 8  # requests per client with eight
WARMUP = 100
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
PEER_CALLS = 800  # per measurement: 1 client x 800 or 8 clients x 100
SLICES = 4
# The peers' SDK clients run in this many processes, the clients dealt out among them: one Python
# process driving 8 SDK clients spends ~2 ms of CPU a call and saturates its core first, which
# would cap every server at the same req/s and hide what each costs.
CLIENT_PROCS = max(1, min(8, os.cpu_count() or 1))
PEERS = ROOT / "build/peers"
NODE_BIN = ROOT / "build/node/node_modules/.bin/node"
INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}


class LineClient:
    """JSON-RPC over a child's stdin/stdout, one message per line (MCP stdio)."""

    async def start(self, cmd, env):
        self.proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE,
                                                         stdout=asyncio.subprocess.PIPE, env=env, limit=1 << 22)
        self.ids = 0
        self.waiting = {}
        self.reader = asyncio.ensure_future(self._read())
        await self.request("initialize", INIT)
        self.proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')

    async def _read(self):
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            f = self.waiting.pop(msg.get("id"), None) if "id" in msg and "method" not in msg else None
            if f:
                f.set_result(msg)

    async def request(self, method, params):
        self.ids += 1
        f = asyncio.get_running_loop().create_future()
        self.waiting[self.ids] = f
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.ids, "method": method,
                                          "params": params}).encode() + b"\n")
        msg = await f
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg["result"]

    async def stop(self):
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
        self.reader.cancel()


def device_root(tmp, name):
    root = pathlib.Path(tmp) / name
    root.mkdir(parents=True, exist_ok=True)
    (root / "edgemcp.json").write_text(json.dumps({"test_tools": True, "name": name}))
    return root


def env_for(tmp, name):
    return {**os.environ, "EDGEMCP_ROOT": str(device_root(tmp, name)), "EDGEMCP_DEVICE_ID": name,
            "EDGEMCP_DEVICE_BIN": DEVICE}


def bridge_stdio_cmd(tmp):
    device_root(pathlib.Path(tmp) / "vdev", "bench")
    return [sys.executable, "-m", "edgemcp_host.cli", "bridge", "--vdev-root", str(pathlib.Path(tmp) / "vdev"),
            "--serial", "bench=virtual", "--stdio", "--device", "bench"]


async def measure(call, clients, per_client):
    """Run `per_client` calls in each of `clients` concurrent loops; latencies in ms, req/s."""
    lat = []

    async def loop(c):
        for i in range(per_client):
            t = time.perf_counter()
            await call(c, i)
            lat.append((time.perf_counter() - t) * 1000)
    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in range(clients)))
    wall = time.perf_counter() - t0
    lat.sort()
    return {"p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1],
            "req_s": len(lat) / wall, "n": len(lat)}


async def raw_pair(tmp):
    """The raw line client: 1 connection with 1 or 8 requests in flight (the device has one link)."""
    out = {}
    for label, cmd, env in (("direct", [DEVICE, "-m", "edgemcp"], env_for(tmp, "direct")),
                            ("bridge", bridge_stdio_cmd(tmp), env_for(tmp, "unused"))):
        c = LineClient()
        await c.start(cmd, env)

        async def call(_, i, c=c):
            r = await c.request("tools/call", {"name": "echo", "arguments": {"text": f"m{i}"}})
            assert r["content"][0]["text"] == f"m{i}", r
        await measure(call, 1, WARMUP)
        out[label] = {1: await measure(call, 1, N1), 8: await measure(call, 8, N8)}
        await c.stop()
    return out


async def sdk_pair(tmp):
    """The mcp SDK client: stdio straight to a device vs HTTP through the bridge; with 8, eight
    separate clients (8 stdio sessions cannot share a device's one link: there, 8 tasks share one)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from edgemcp_host.bridge import Bridge, serve_http
    from edgemcp_host.serial_link import make_link

    out = {}
    params = StdioServerParameters(command=DEVICE, args=["-m", "edgemcp"], env=env_for(tmp, "sdkdirect"))
    async with Client(params, mode="legacy") as c:
        async def call(_, i):
            r = await c.call_tool("echo", {"text": f"m{i}"})
            assert r.content[0].text == f"m{i}"
        await measure(call, 1, WARMUP)
        out["direct"] = {1: await measure(call, 1, N1 // 2), 8: await measure(call, 8, N8 // 2)}

    device_root(pathlib.Path(tmp) / "vdev", "sdkbench")
    bridge = Bridge([make_link("sdkbench=virtual", 1, vdev_root=pathlib.Path(tmp) / "vdev")])
    await bridge.start()
    ready = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve_http(bridge, "127.0.0.1", 0, ready=ready.set_result))
    url = await ready + "/sdkbench"
    # The HTTP clients run in another process, so the bridge does not share a core with them.
    script = pathlib.Path(tmp) / "http_clients.py"
    script.write_text(HTTP_CLIENTS)
    proc = await asyncio.create_subprocess_exec(sys.executable, str(script), url, str(N1 // 2), str(N8 // 2),
                                                str(WARMUP), stdout=asyncio.subprocess.PIPE)
    data, _ = await proc.communicate()
    r = json.loads(data)
    out["bridge"] = {1: r["1"], 8: r["8"]}
    server.cancel()
    try:
        await server
    except asyncio.CancelledError:
        pass
    await bridge.stop()
    out["sdk_http_echo"] = await sdk_http_reference(script)
    return out


async def sdk_http_reference(script):
    """The SDK's own Streamable HTTP cost: a plain low-level Server whose echo tool answers at
    once (no device), served the same way (JSON answers, as the bridge gives a call without a
    progress token), called by the same clients."""
    import uvicorn
    from mcp.server.lowlevel.server import Server
    import mcp_types as types

    async def list_tools(ctx, params):
        return types.ListToolsResult(tools=[types.Tool(name="echo", input_schema={"type": "object"})])

    async def call_tool(ctx, params):
        return types.CallToolResult(content=[types.TextContent(type="text", text=params.arguments["text"])])
    app = Server("echo", on_list_tools=list_tools, on_call_tool=call_tool)
    app.middleware = []
    config = uvicorn.Config(app.streamable_http_app(json_response=True), host="127.0.0.1", port=0,
                            log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(sys.executable, str(script), f"http://127.0.0.1:{port}/mcp",
                                                str(N1 // 2), str(N8 // 2), str(WARMUP), stdout=asyncio.subprocess.PIPE)
    data, _ = await proc.communicate()
    server.should_exit = True
    await task
    r = json.loads(data)
    return {1: r["1"], 8: r["8"]}


HTTP_CLIENTS = '''
import asyncio, json, statistics, sys, time
from mcp import Client
url, n1, n8, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
async def run(clients, per):
    lat, ready, go = [], [], asyncio.Event()
    async def one(k):
        async with Client(url, mode="legacy") as c:
            for i in range(warm // clients):
                await c.call_tool("echo", {"text": "w"})
            ready.append(k)
            await go.wait()
            for i in range(per):
                t = time.perf_counter()
                r = await c.call_tool("echo", {"text": f"m{i}"})
                assert r.content[0].text == f"m{i}"
                lat.append((time.perf_counter() - t) * 1000)
    tasks = [asyncio.ensure_future(one(k)) for k in range(clients)]
    while len(ready) < clients:
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    lat.sort()
    return {"p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1], "req_s": len(lat) / wall,
            "n": len(lat)}
async def main():
    print(json.dumps({"1": await run(1, n1), "8": await run(8, n8)}))
asyncio.run(main())
'''



PEER_CLIENTS = """
import asyncio, contextlib, gc, json, sys, time
from mcp import Client

open_sets = {}

async def open_set(url, mode, clients, warm):
    stack = contextlib.AsyncExitStack()
    try:
        cs = [await stack.enter_async_context(Client(url, mode=mode)) for _ in range(clients)]
        for c in cs:
            for i in range(warm):
                await c.call_tool("echo", {"text": "w"})
    except Exception:
        await stack.aclose()
        raise
    open_sets[len(open_sets)] = (stack, cs)
    return {"id": len(open_sets) - 1, "versions": sorted({c.protocol_version for c in cs})}

async def run(id, per):
    lat = []

    async def one(c):
        for i in range(per):
            t = time.perf_counter()
            r = await c.call_tool("echo", {"text": f"m{i}"})
            assert r.content[0].text == f"m{i}"
            lat.append((time.perf_counter() - t) * 1000)
    # The clients' own collector is held off while timing (as timeit does): its pauses are not
    # the server's.
    gc.collect()
    gc.disable()
    t0 = time.monotonic()  # the system's clock, shared by the client processes
    try:
        failed = [e for e in await asyncio.gather(*(one(c) for c in open_sets[id][1]), return_exceptions=True) if e]
    finally:
        t1 = time.monotonic()
        gc.enable()
    if failed:
        raise failed[0]
    return {"lat": lat, "t0": t0, "t1": t1}

async def close_set(id):
    await open_sets.pop(id)[0].aclose()
    return {}

async def main():
    ops = {"open": open_set, "run": run, "close": close_set}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            out = await ops[cmd.pop("op")](**cmd)
        except Exception as e:  # a server failed: the bench says so and goes on without it
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)
asyncio.run(main())
"""

# supergateway listens on every interface (no host option): keep it on loopback.
LOOPBACK_ONLY_JS = """
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  return typeof port === "number" ? listen.call(this, port, "127.0.0.1", ...rest) : listen.call(this, port, ...rest);
};
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_listening(port, proc, what):
    for _ in range(400):
        if proc.returncode is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on {port}")


async def start_peers(tmp):
    """Each server in its own process group, each with its own virtual device: name -> (proc, url).
    A peer that is not installed is reported and left out."""
    tmp = pathlib.Path(tmp)
    servers = {}
    device_root(tmp / "vdev", "peerbench")
    cmd = [sys.executable, "-m", "edgemcp_host.cli", "bridge", "--vdev-root", str(tmp / "vdev"),
           "--serial", "peerbench=virtual", "--http", "127.0.0.1:0"]
    log = tmp / "bridge.log"
    with open(log, "wb") as err:
        proc = await asyncio.create_subprocess_exec(*cmd, stderr=err, env=env_for(tmp, "unused"),
                                                    start_new_session=True)
    while not (url := next((w for w in log.read_text().split() if w.startswith("http://")), None)):
        if proc.returncode is not None:
            raise RuntimeError("the bridge did not start:\n" + log.read_text())
        await asyncio.sleep(0.05)
    servers["bridge"] = (proc, url + "/peerbench")
    device = [DEVICE, "-m", "edgemcp"]
    mcp_proxy = PEERS / "mcp-proxy/bin/mcp-proxy"
    supergateway = PEERS / "supergateway/node_modules/supergateway/dist/index.js"
    node = str(NODE_BIN) if NODE_BIN.exists() else "node"
    (tmp / "loopback.js").write_text(LOOPBACK_ONLY_JS)
    candidates = {
        "mcp-proxy": (mcp_proxy, lambda port: [str(mcp_proxy), "--host", "127.0.0.1", "--port", str(port),
                                               "--pass-environment", "--log-level", "WARNING", "--", *device]),
        # stateful: one device process per session (a stdio server has one client at a time); a
        # 2026-07-28 client it serves per request, starting a device process for each
        "supergateway": (supergateway, lambda port: [node, "--require", str(tmp / "loopback.js"), str(supergateway),
                                                     "--stdio", " ".join(device), "--outputTransport",
                                                     "streamableHttp", "--stateful", "--port", str(port),
                                                     "--logLevel", "none"]),
    }
    for name, (path, cmd) in candidates.items():
        if not path.exists():
            print(f"peer {name}: not installed ({path.relative_to(ROOT)} missing; `make bench-peers` installs it):"
                  " its column is left out", flush=True)
            continue
        port = free_port()
        with open(tmp / f"{name}.log", "wb") as err:
            proc = await asyncio.create_subprocess_exec(*cmd(port), env=env_for(tmp, name), start_new_session=True,
                                                        stdout=asyncio.subprocess.DEVNULL, stderr=err)
        await wait_listening(port, proc, name)
        servers[name] = (proc, f"http://127.0.0.1:{port}/mcp")
    return servers


async def stop_peers(servers):
    for proc, _ in servers.values():
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the server and the device(s) it started
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


def proc_table():
    """pid -> (parent pid, CPU seconds: user + system, with reaped children's) of every process
    (Linux)."""
    table, tick = {}, os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError):
            f = pathlib.Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            table[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]) / tick)  # ppid; utime stime cutime cstime
    return table


def tree(pid, table):
    """pid and its living descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += [c for c, (ppid, _) in table.items() if ppid == p]
    return found


def tree_cpu(pid):
    """CPU seconds of a process and of its descendants, living or reaped."""
    table = proc_table()
    return sum(table.get(p, (0, 0.0))[1] for p in tree(pid, table))


async def settle(pid, before, timeout=3.0):
    """Until a server's process tree is down to `before` processes again: supergateway ends the
    device process it starts for each 2026-07-28 request after answering, and the next server's
    slice should not run beside those exits."""
    deadline = time.monotonic() + timeout
    while len(tree(pid, proc_table())) > before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def summarize(lat, wall):
    lat = sorted(lat)
    return {"req_s": len(lat) / wall, "p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1],
            "max_ms": lat[-1], "over_50ms": sum(x > 50 for x in lat), "n": len(lat)}


ERAS = (("2025-11-25", "legacy"), ("2026-07-28", "auto"))


async def peer_rounds(tmp):
    """ROUNDS rounds; in each, every (era, clients) case runs on every server, in SLICES slices
    taken in turn (the servers' order rotating from round to round), so that a change in the
    machine's load falls on all of them alike."""
    servers = await start_peers(tmp)
    script = pathlib.Path(tmp) / "peer_clients.py"
    script.write_text(PEER_CLIENTS)
    procs = [await asyncio.create_subprocess_exec(sys.executable, str(script), stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE) for _ in range(CLIENT_PROCS)]

    async def ask_one(proc, op, **kw):
        proc.stdin.write(json.dumps({"op": op, **kw}).encode() + b"\n")
        return json.loads(await proc.stdout.readline())

    async def ask(op, **kw):
        """One operation on every client process at once (a set's clients dealt out among them),
        merged: the first error, or the ids per process, or the latencies and the span from the
        first start to the last end."""
        if op == "open":
            k = kw.pop("clients")
            share = [k // CLIENT_PROCS + (i < k % CLIENT_PROCS) for i in range(CLIENT_PROCS)]
            used = [(p, n) for p, n in zip(procs, share) if n]
            got = await asyncio.gather(*(ask_one(p, "open", clients=n, **kw) for p, n in used))
            err = next((g for g in got if "error" in g), None)
            return err or {"ids": [(procs.index(p), g["id"]) for (p, _), g in zip(used, got)],
                           "versions": sorted({v for g in got for v in g["versions"]})}
        ids = kw.pop("ids")
        got = await asyncio.gather(*(ask_one(procs[i], op, id=j, **kw) for i, j in ids))
        err = next((g for g in got if "error" in g), None)
        if err or op != "run":
            return err or {}
        return {"lat": [x for g in got for x in g["lat"]], "wall": max(g["t1"] for g in got) - min(g["t0"] for g in got)}

    def clients_cpu():
        return sum(tree_cpu(p.pid) for p in procs)
    names, failed = list(servers), {}

    def ok(n, got, where):
        if "error" not in got:
            return True
        if n == "bridge":
            raise RuntimeError(f"the bridge failed ({where}): {got['error']}")
        if n not in failed:
            failed[n] = f"{where}: {got['error']}"
            log = pathlib.Path(tmp) / f"{n}.log"
            tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
            print(f"peer {n} failed ({failed[n]}): left out from here on; its log ends:", *tail, sep="\n  ",
                  flush=True)
        return False
    rounds = []
    try:
        for r in range(ROUNDS):
            order = names[r % len(names):] + names[:r % len(names)]
            cases = []
            for era, mode in ERAS:
                for k in (1, 8):
                    where = f"round {r + 1}, {era}, {k} clients"
                    sets = {}
                    for n in order:
                        if n not in failed:
                            sets[n] = await ask("open", url=servers[n][1], mode=mode, clients=k, warm=20)
                            ok(n, sets[n], where)
                    lat, wall = {n: [] for n in order}, dict.fromkeys(order, 0.0)
                    cpu, client_cpu = dict.fromkeys(order, 0.0), dict.fromkeys(order, 0.0)
                    for _ in range(SLICES):
                        for n in order:
                            if n in failed:
                                continue
                            pid = servers[n][0].pid
                            procs_before = len(tree(pid, proc_table()))
                            before = tree_cpu(pid), clients_cpu()
                            got = await ask("run", ids=sets[n]["ids"], per=PEER_CALLS // k // SLICES)
                            await settle(pid, procs_before)
                            if ok(n, got, where):
                                cpu[n] += tree_cpu(pid) - before[0]
                                client_cpu[n] += clients_cpu() - before[1]
                                lat[n] += got["lat"]
                                wall[n] += got["wall"]
                    for n in reversed(order):  # the sessions' task groups nest: the last opened closes first
                        if "ids" in sets.get(n, {}):
                            await ask("close", ids=sets[n]["ids"])  # a failed peer's close may fail too
                    cases.append({"era": era, "clients": k, **{
                        n: {**summarize(lat[n], wall[n]), "cpu_ms": cpu[n] * 1000 / len(lat[n]),
                            "client_cpu_ms": client_cpu[n] * 1000 / len(lat[n]), "versions": sets[n]["versions"]}
                        for n in names if n not in failed}})
            rounds.append(cases)
            print(f"round {r + 1}/{ROUNDS}: " + ", ".join(
                f"{c['era']} x{c['clients']} " + " ".join(f"{n}={c['bridge']['req_s'] / c[n]['req_s']:.2f}"
                                                         for n in names[1:] if n in c) for c in cases), flush=True)
    finally:
        for p in procs:
            p.stdin.close()
            await p.wait()
        await stop_peers(servers)
    return {"servers": names, "rounds": rounds, "failed": failed}


def peer_tables(peers):
    names = peers["servers"]
    title = (f"\nbridge /mcp/DEVICE vs its peers, {PEER_CALLS} echo tools/call per case, mcp SDK clients "
             f"(in {CLIENT_PROCS} processes), {ROUNDS} rounds")
    head = (f"{'round':>5} | {'era':<10} | {'cl':>2} | {'server':<12} | {'req/s':>6} | {'p50 ms':>6} | "
            f"{'p99 ms':>6} | {'max ms':>6} | >50ms | cpu ms | bridge/this | protocol")
    rows = [title, "(cpu ms: CPU per call of the server and the device(s) it runs, over the timed calls)", head,
            "-" * 119]
    for r, cases in enumerate(peers["rounds"], 1):
        for c in cases:
            for n in (n for n in names if n in c):
                m = c[n]
                ratio = "" if n == "bridge" else f"{c['bridge']['req_s'] / m['req_s']:.2f}x"
                rows.append(f"{r:>5} | {c['era']:<10} | {c['clients']:>2} | {n:<12} | {m['req_s']:>6.0f} | "
                            f"{m['p50_ms']:>6.2f} | {m['p99_ms']:>6.2f} | {m['max_ms']:>6.1f} | {m['over_50ms']:>5} | "
                            f"{m['cpu_ms']:>6.2f} | "
                            f"{ratio:>11} | {','.join(m['versions'])}")
    bridge = [c["bridge"] for cases in peers["rounds"] for c in cases]
    rows += ["", (f"bridge over all cases: p99/p50 at most {max(m['p99_ms'] / m['p50_ms'] for m in bridge):.2f}, "
             f"slowest call {max(m['max_ms'] for m in bridge):.1f} ms, calls over 50 ms: "
             f"{sum(m['over_50ms'] for m in bridge)} of {sum(m['n'] for m in bridge)}")]
    rows += ["", "CPU per call, mean over the rounds (ms): server with its device(s) / the clients' processes"]
    for i, (era, _) in enumerate(ERAS):
        for j, k in enumerate((1, 8)):
            ms = {n: [(c[n]["cpu_ms"], c[n]["client_cpu_ms"]) for c in (cases[i * 2 + j] for cases in peers["rounds"])
                      if n in c] for n in names}
            rows.append(f"  {era} x{k}: " + ", ".join(
                f"{n} {statistics.mean(a for a, _ in v):.2f} / {statistics.mean(b for _, b in v):.2f}"
                for n, v in ms.items() if v))
    rows += ["", "bridge req/s / peer req/s, per round (min .. max):"]
    for i, (era, _) in enumerate(ERAS):
        for j, k in enumerate((1, 8)):
            for n in names[1:]:
                ratios = [cases[i * 2 + j]["bridge"]["req_s"] / cases[i * 2 + j][n]["req_s"]
                          for cases in peers["rounds"] if n in cases[i * 2 + j]]
                if not ratios:
                    continue
                rows.append(f"  {era} x{k} vs {n:<12}: " + " ".join(f"{x:.2f}" for x in ratios)
                            + f"  ({min(ratios):.2f} .. {max(ratios):.2f})")
    rows += [f"peer {n} failed ({why}) and was left out from there on" for n, why in peers["failed"].items()]
    return "\n".join(rows)


def table(title, pair):
    rows = [f"\n{title}",
            f"{'clients':>7} | {'path':<7} | {'p50 ms':>7} | {'p99 ms':>7} | {'req/s':>8} | added p50 ms | throughput kept",
            "-" * 86]
    for k in (1, 8):
        d, b = pair["direct"][k], pair["bridge"][k]
        for label, r in (("direct", d), ("bridge", b)):
            extra = (f" | {b['p50_ms'] - d['p50_ms']:>12.3f} | {b['req_s'] / d['req_s']:>14.0%}"
                     if label == "bridge" else " |" + " " * 13 + " |")
            rows.append(f"{k:<7} | {label:<7} | {r['p50_ms']:>7.3f} | {r['p99_ms']:>7.3f} | {r['req_s']:>8.0f}" + extra)
    return "\n".join(rows)


async def main():
    with tempfile.TemporaryDirectory() as tmp:
        raw = await raw_pair(tmp)
        sdk = await sdk_pair(tmp)
        peers = await peer_rounds(tmp)
    system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, {system}, "
               f"{platform.python_implementation()} {platform.python_version()}")
    print(f"bridge overhead, tools/call echo round trips ({machine}); targets: +1 ms p50, >= 80% throughput")
    print(table("raw line client: device over stdio vs edgemcp bridge --stdio --device", raw))
    print(table("mcp SDK client: device over stdio vs bridge Streamable HTTP /mcp/DEVICE", sdk))
    print("reference, the SDK's own HTTP transport: a plain SDK server answering echo itself (no device)")
    for k in (1, 8):
        r = sdk["sdk_http_echo"][k]
        print(f"{k:<7} | sdk-http| {r['p50_ms']:>7.3f} | {r['p99_ms']:>7.3f} | {r['req_s']:>8.0f} | bridge adds "
              f"{sdk['bridge'][k]['p50_ms'] - r['p50_ms']:.3f} ms p50 over it, keeps "
              f"{sdk['bridge'][k]['req_s'] / r['req_s']:.0%} of its throughput")
    print(peer_tables(peers))
    out = ROOT / "build/bench/bridge.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "raw_stdio": raw, "sdk_http": sdk, "peers": peers}, indent=2))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
