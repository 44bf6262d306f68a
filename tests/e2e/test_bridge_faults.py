"""Faults the bridge must ride out: a virtual device killed mid-request or reset, a device that
prints garbage lines, a client that disconnects mid-call, a wrong token, a foreign Origin or
Host, malformed HTTP bodies. The bridge stays up through all of them."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from support import DEVICE_BIN
from _support.bridge import BridgeProc, env, http_client

TOKEN = "t0ken-for-tests"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    # A vanished 2025-era client's session ends after 2 s without an open request.
    b = BridgeProc(tmp_path_factory.mktemp("faults"), ("a", "b"), "--session-timeout", "2")
    yield b
    b.stop()


def text(result):
    return "".join(c.text for c in result.content if c.type == "text")


def test_device_killed_mid_request(bridge):
    async def main():
        seen = []

        async def on_message(msg):
            seen.append(getattr(getattr(msg, "root", msg), "method", None))
        async with Client(bridge.url, mode="legacy", message_handler=on_message, read_timeout_seconds=30) as c, \
                Client(bridge.url, mode="auto", read_timeout_seconds=30) as modern:
            before = bridge.devices_info()["a"]
            started = anyio.Event()

            async def on_progress(*_):
                started.set()
            async with modern.listen(tools_list_changed=True) as sub:
                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:
                        errors = []

                        async def call():
                            try:
                                await c.call_tool("a.slow", {"seconds": 20, "steps": 40}, progress_callback=on_progress)
                            except MCPError as e:
                                errors.append(e)
                        tg.start_soon(call)
                        await started.wait()
                        t0 = time.monotonic()
                        os.kill(before["pid"], signal.SIGKILL)
                    assert errors and "disconnected" in str(errors[0]), errors
                    assert time.monotonic() - t0 < 5
                    async for _ in sub:  # a 2026-07-28 client hears of it on its listen stream
                        break
            after = await anyio.to_thread.run_sync(lambda: bridge.wait_state("a", "up", connects=before["connects"] + 1))
            assert after["pid"] != before["pid"]
            with anyio.fail_after(10):
                while "notifications/tools/list_changed" not in seen:
                    await anyio.sleep(0.05)
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"a.echo", "a.slow", "b.echo"} <= tools
            assert text(await c.call_tool("a.echo", {"text": "back"})) == "back"
            assert text(await modern.call_tool("a.echo", {"text": "back too"})) == "back too"
    anyio.run(main)
    assert bridge.alive()


def test_device_reset_tool(bridge):
    """A reset behind an open port (the device_reset tool: MicroPython's soft reboot): the call
    in flight fails, the bridge initializes the new app session and announces list_changed."""
    async def main():
        before = bridge.devices_info()["b"]
        seen = []

        async def on_message(msg):
            seen.append(getattr(getattr(msg, "root", msg), "method", None))
        async with Client(bridge.url + "/b", mode="legacy", read_timeout_seconds=30) as c, \
                Client(bridge.url, mode="legacy", message_handler=on_message, read_timeout_seconds=30) as other:
            r = await c.call_tool("device_reset", {"confirm": False})
            assert r.is_error
            started = anyio.Event()

            async def on_progress(*_):
                started.set()
            errors = []
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    async def slow():
                        try:
                            await other.call_tool("b.slow", {"seconds": 20, "steps": 40}, progress_callback=on_progress)
                        except MCPError as e:
                            errors.append(e)
                    tg.start_soon(slow)
                    await started.wait()
                    assert text(await c.call_tool("device_reset", {"confirm": True})) == "resetting"
            assert errors and "device reset" in str(errors[0]), errors
            await anyio.to_thread.run_sync(lambda: bridge.wait_state("b", "up", connects=before["connects"] + 1))
            with anyio.fail_after(10):
                while "notifications/tools/list_changed" not in seen:
                    await anyio.sleep(0.05)
            assert text(await c.call_tool("echo", {"text": "after reset"})) == "after reset"
    anyio.run(main)
    assert bridge.alive()


CLIENT = textwrap.dedent("""
    import sys, anyio
    from mcp import Client
    async def main(url, mode):
        async with Client(url, mode=mode) as c:
            async def on_progress(*a):
                print("progress", flush=True)
            await c.call_tool("a.slow", {"seconds": 8, "steps": 16}, progress_callback=on_progress)
            print("finished", flush=True)
    anyio.run(main, sys.argv[1], sys.argv[2])
""")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_client_disconnects_mid_call(bridge, tmp_path, mode):
    """A client killed mid-call: a 2026-07-28 request ends with its stream; a 2025-era session
    (whose stream may be resumed) ends after the bridge's --session-timeout (2 s here). Either
    way the device stops working for it, long before the 8 s call would have ended."""
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    stray = bridge.devices_info()["a"]["stray"]
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, str(script), bridge.url, mode], stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert p.stdout.readline().strip() == "progress"
        p.kill()
        p.wait(10)
    finally:
        p.kill()
    while bridge.devices_info()["a"]["pending"] and time.monotonic() - t0 < 6:
        time.sleep(0.05)
    assert bridge.devices_info()["a"]["pending"] == 0, "the dropped client's request still waits on the device"
    time.sleep(max(0.0, 9.5 - (time.monotonic() - t0)))
    assert bridge.devices_info()["a"]["stray"] == stray, "the device kept working for a client that left"
    assert bridge.alive()


GARBAGE_DEVICE = textwrap.dedent("""
    # A fault double: the real virtual device, with garbage lines around each of its messages.
    import os, subprocess, sys, threading
    GARBAGE = [b"MicroPython v1.25.0 garbage banner", b"\\x00\\xff\\xfe binary junk", b"{not json",
               b"[1, 2, 3]", b'{"no": "jsonrpc here"}', b"Traceback (most recent call last):", b"\\r"]
    p = subprocess.Popen([os.environ["REAL_DEVICE_BIN"]] + sys.argv[1:], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, bufsize=0)
    out = sys.stdout.buffer
    out.write(b"\\r\\n".join(GARBAGE) + b"\\r\\n")
    out.flush()
    def pump():
        while True:
            try:
                b = os.read(0, 65536)
            except OSError:  # the pty's other end closed: the bridge is gone
                b = b""
            if not b:
                break
            p.stdin.write(b)
        p.stdin.close()
    threading.Thread(target=pump, daemon=True).start()
    for i, line in enumerate(iter(p.stdout.readline, b"")):
        out.write(GARBAGE[i % len(GARBAGE)] + b"\\n" + line)
        out.flush()
""")


def test_garbage_lines(tmp_path):
    wrapper = tmp_path / "garbage-device"
    wrapper.write_text(f"#!{sys.executable}\n" + GARBAGE_DEVICE)
    wrapper.chmod(0o755)
    os.environ["REAL_DEVICE_BIN"] = str(DEVICE_BIN)
    b = BridgeProc(tmp_path, ("g",), device_bin=wrapper)
    try:
        async def main():
            logs = []

            async def on_log(params):
                logs.append(params)
            async with Client(b.url, mode="legacy", logging_callback=on_log, read_timeout_seconds=30) as c:
                for i in range(10):
                    assert text(await c.call_tool("g.echo", {"text": f"clean {i}"})) == f"clean {i}"
                assert "g.device_info" in {t.name for t in (await c.list_tools()).tools}
                with anyio.fail_after(10):
                    while not any("garbage banner" in str(e.data) for e in logs):
                        await anyio.sleep(0.05)
                e = next(e for e in logs if "garbage banner" in str(e.data))
                assert e.logger == "g/console"
        anyio.run(main)
        assert b.alive()
        assert b.devices_info()["g"]["connects"] == 1
        assert "garbage banner" in b.log.read_text(errors="replace")  # the bridge's own log too
    finally:
        b.stop()
        os.environ.pop("REAL_DEVICE_BIN", None)


REPL_DEVICE = textwrap.dedent("""
    # A fault double: a board whose app has left for the REPL. It shows MicroPython's banner and
    # prompt, swallows what it is sent, and on Ctrl-D soft-resets into the real device app.
    import os, sys
    out = sys.stdout.buffer
    out.write(b'MicroPython v1.25.0 on 2026-11-25; linux\\r\\nType "help()" for more information.\\r\\n>>> ')
    out.flush()
    while True:
        b = os.read(0, 1)
        if not b:
            sys.exit(0)
        if b == b"\\x04":
            break
    out.write(b"\\r\\nMPY: soft reboot\\r\\n")
    out.flush()
    os.execv(os.environ["REAL_DEVICE_BIN"], [os.environ["REAL_DEVICE_BIN"]] + sys.argv[1:])
""")


def test_device_at_the_repl(tmp_path):
    """A board that sits at the REPL (its app ended) is soft-reset into the app and served."""
    wrapper = tmp_path / "repl-device"
    wrapper.write_text(f"#!{sys.executable}\n" + REPL_DEVICE)
    wrapper.chmod(0o755)
    os.environ["REAL_DEVICE_BIN"] = str(DEVICE_BIN)
    b = BridgeProc(tmp_path, ("r",), device_bin=wrapper)
    try:
        info = b.wait_state("r", "up")
        assert info["connects"] == 1

        async def main():
            async with Client(b.url + "/r", mode="legacy") as c:
                assert text(await c.call_tool("echo", {"text": "out of the REPL"})) == "out of the REPL"
        anyio.run(main)
        assert "left the app for the REPL" in b.log.read_text()
    finally:
        b.stop()
        os.environ.pop("REAL_DEVICE_BIN", None)


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    b = BridgeProc(tmp_path_factory.mktemp("locked"), ("a",), token=TOKEN)
    yield b
    b.stop()


def post(url, body, headers=None, **kw):
    h = dict(HEADERS, **(headers or {}))
    return httpx2.post(url, content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                       headers=h, timeout=10, **kw)


def auth(extra=None):
    return {"Authorization": f"Bearer {TOKEN}", **(extra or {})}


def test_token(locked):
    assert post(locked.url, INIT).status_code == 401
    assert post(locked.url, INIT, {"Authorization": "Bearer wrong"}).status_code == 401
    assert post(locked.url, INIT, {"Authorization": f"Basic {TOKEN}"}).status_code == 401
    r = post(locked.url + "/a", INIT, {"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx2.get(locked.base + "/devices", timeout=10).status_code == 401
    assert post(locked.url, INIT, auth()).status_code == 200

    async def main():
        http, client = http_client(locked.url, TOKEN)
        async with http, client as c:
            assert text(await c.call_tool("a.echo", {"text": "with token"})) == "with token"
        http, client = http_client(locked.url, "wrong")
        with pytest.raises(BaseException):
            async with http, client:
                pass
    anyio.run(main)
    assert locked.alive()


def test_origin_and_host(locked):
    r = post(locked.url, INIT, auth({"Origin": "http://evil.example"}))
    assert r.status_code == 403
    r = post(locked.url + "/a", INIT, auth({"Origin": "http://127.0.0.1.evil.example:8080"}))
    assert r.status_code == 403
    r = post(locked.url, INIT, auth({"Host": "evil.example:80"}))
    assert r.status_code == 421
    r = httpx2.get(locked.base + "/devices", headers=auth({"Origin": "http://evil.example"}), timeout=10)
    assert r.status_code == 403
    port = locked.url.split(":")[2].split("/")[0]
    assert post(locked.url, INIT, auth({"Origin": f"http://localhost:{port}"})).status_code == 200
    assert locked.alive()


def test_malformed_bodies(locked):
    url = locked.url
    r = post(url, b"{not json", auth())
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    assert post(url, b"", auth()).status_code == 400
    assert post(url, INIT, auth({"Content-Type": "text/plain"})).status_code in (400, 415)
    assert post(url, [1, 2, 3], auth()).status_code == 400
    assert post(url, {"jsonrpc": "2.0", "id": 1, "method": 42}, auth()).status_code == 400
    assert post(url, {"jsonrpc": "1.0", "id": 1, "method": "initialize"}, auth()).status_code == 400
    assert post(url, b"\xff\xfe\x00garbage", auth()).status_code == 400
    assert post(url, b"x" * (5 << 20), auth()).status_code == 413
    # A session's requests with bad params get JSON-RPC errors, not crashes.
    r = post(url, INIT, auth())
    sid = r.headers["mcp-session-id"]
    h = auth({"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
    assert post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, h).status_code == 202
    r = post(url, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": 7}}, h)
    assert "-32602" in r.text
    r = post(url, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "a.echo",
                                                                               "arguments": {"text": 5}}}, h)
    assert '"isError":true' in r.text.replace(" ", "")  # the device checks the schema
    r = post(url, {"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "edgemcp://zz/x"}}, h)
    assert "-32002" in r.text
    assert httpx2.get(locked.base + "/nothing", headers=auth(), timeout=10).status_code == 404
    assert locked.alive()
    r = post(url, {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "a.echo",
                                                                               "arguments": {"text": "ok"}}}, h)
    assert '"text":"ok"' in r.text.replace(" ", "")


def test_sigterm_stops_the_devices(tmp_path):
    b = BridgeProc(tmp_path, ("t",))
    try:
        pid = b.devices_info()["t"]["pid"]
        os.kill(pid, 0)  # running
        b.proc.terminate()
        assert b.proc.wait(15) == 0, b.log.read_text(errors="replace")[-2000:]
        for _ in range(100):  # the virtual device ends with its bridge
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the virtual device outlived its bridge")
    finally:
        b.stop()
