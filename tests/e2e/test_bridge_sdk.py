"""The official mcp SDK client through the bridge to two virtual devices at once, over
Streamable HTTP and over stdio, in the handshake era ("legacy") and the SDK's default "auto"
mode (2026-07-28 via server/discover): prefixed tools of both devices, per-device endpoints,
tool calls, resources, prompts, progress, cancellation and log notifications."""
import binascii
import json
import re
import sys

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from _support.bridge import BridgeProc, bridge_cmd, env, write_configs

NAME_RE = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")
MODES = ["legacy", "auto"]


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    b = BridgeProc(tmp_path_factory.mktemp("bridge"))
    yield b
    b.stop()
    assert b.proc.returncode is not None


def text(result):
    return "".join(c.text for c in result.content if c.type == "text")


async def wait_for(pred, timeout=10):
    with anyio.fail_after(timeout):
        while not pred():
            await anyio.sleep(0.05)


async def check_aggregated(c, mode, logs):
    tools = {t.name: t for t in (await c.list_tools()).tools}
    for d in ("a", "b"):
        assert {f"{d}.device_info", f"{d}.device_reset", f"{d}.echo", f"{d}.slow", f"{d}.fail"} <= set(tools)
    assert all(NAME_RE.match(n) for n in tools)
    assert tools["a.echo"].input_schema["properties"]["text"]["type"] == "string"

    assert text(await c.call_tool("a.echo", {"text": "via a"})) == "via a"
    info = (await c.call_tool("b.device_info", {})).structured_content
    assert info["name"] == "dev-b" and info["device_id"] == binascii.hexlify(b"b").decode()
    info = (await c.call_tool("a.device_info", {})).structured_content
    assert info["name"] == "dev-a"
    assert (await c.call_tool("b.add", {"a": 2, "b": 40})).structured_content == {"sum": 42}
    with pytest.raises(MCPError, match="unknown tool"):
        await c.call_tool("nodevice.echo", {"text": "x"})

    uris = {r.uri for r in (await c.list_resources()).resources}
    assert {"edgemcp://a/device://info", "edgemcp://b/device://info", "edgemcp://b/device://log"} <= uris
    r = await c.read_resource("edgemcp://b/device://config")
    assert r.contents[0].uri == "edgemcp://b/device://config" and '"dev-b"' in r.contents[0].text
    with pytest.raises(MCPError):
        await c.read_resource("device://info")  # a device URI needs its edgemcp://DEVICE/ prefix here
    await c.list_resource_templates()

    prompts = {p.name for p in (await c.list_prompts()).prompts}
    assert {"a.health_check", "b.health_check"} <= prompts
    p = await c.get_prompt("b.health_check", {"focus": "memory"})
    assert "dev-b" in p.messages[0].content.text and "memory" in p.messages[0].content.text

    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))
    r = await c.call_tool("b.slow", {"seconds": 0.3, "steps": 3}, progress_callback=on_progress)
    assert r.structured_content == {"slept": 0.3, "steps": 3}
    assert [p[:2] for p in progress] == [(1, 3), (2, 3), (3, 3)]

    if mode == "legacy":
        await c.set_logging_level("debug")
    r = await c.call_tool("a.fail", {"message": f"boom-{mode}"})
    assert r.is_error and text(r) == f"boom-{mode}"
    await wait_for(lambda: any(entry.data == f"boom-{mode}" for entry in logs))
    entry = next(e for e in logs if e.data == f"boom-{mode}")
    assert entry.level == "error" and entry.logger == "a/testtools"


async def cancel_mid_call(c, tool):
    """Start a slow call, cancel it once the first progress arrives."""
    started = anyio.Event()

    async def on_progress(done, total, message):
        started.set()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            async def call():
                await c.call_tool(tool, {"seconds": 3, "steps": 6}, progress_callback=on_progress)
                raise AssertionError("the call was not cancelled")
            tg.start_soon(call)
            await started.wait()
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("mode", MODES)
def test_http_aggregated(bridge, mode):
    async def main():
        logs = []

        async def on_log(params):
            logs.append(params)
        async with Client(bridge.url, mode=mode, logging_callback=on_log, log_level="debug",
                          read_timeout_seconds=30) as c:
            assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            await check_aggregated(c, mode, logs)
    anyio.run(main)


@pytest.mark.parametrize("mode", MODES)
def test_http_cancellation_reaches_the_device(bridge, mode):
    async def main():
        async with Client(bridge.url, mode=mode, read_timeout_seconds=30) as c:
            stray = bridge.devices_info()["b"]["stray"]
            await cancel_mid_call(c, "b.slow")
            # Had the device kept working, its later progress and its result would arrive
            # for a request nobody waits for any more.
            await anyio.sleep(3.5)
            assert bridge.devices_info()["b"]["stray"] == stray
            assert text(await c.call_tool("b.echo", {"text": "still here"})) == "still here"
    anyio.run(main)


@pytest.mark.parametrize("mode", MODES)
def test_http_per_device_endpoint(bridge, mode):
    async def main():
        async with Client(bridge.url + "/a", mode=mode, read_timeout_seconds=30) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"device_info", "echo", "slow"} <= tools and not any("." in t for t in tools)
            assert text(await c.call_tool("echo", {"text": "direct"})) == "direct"
            assert (await c.call_tool("device_info", {})).structured_content["name"] == "dev-a"
            assert "device://info" in {r.uri for r in (await c.list_resources()).resources}
            r = await c.read_resource("device://info")
            assert r.contents[0].uri == "device://info" and '"dev-a"' in r.contents[0].text
            p = await c.get_prompt("health_check", {})
            assert "dev-a" in p.messages[0].content.text
        async with Client(bridge.url + "/b", mode=mode) as c:
            assert (await c.call_tool("device_info", {})).structured_content["name"] == "dev-b"
    anyio.run(main)


@pytest.mark.parametrize("mode", MODES)
def test_http_completion_of_a_prompt_argument(bridge, mode):
    """completion/complete goes to the device that has the prompt, in that endpoint's names."""
    from mcp_types import PromptReference

    async def main():
        async with Client(bridge.url, mode=mode, read_timeout_seconds=30) as c:
            r = await c.complete(PromptReference(name="a.health_check"), {"name": "focus", "value": "u"})
            assert r.completion.values == ["uptime"] and r.completion.total == 1
            with pytest.raises(MCPError) as e:
                await c.complete(PromptReference(name="health_check"), {"name": "focus", "value": ""})
            assert e.value.error.code == -32602
        async with Client(bridge.url + "/b", mode=mode, read_timeout_seconds=30) as c:
            r = await c.complete(PromptReference(name="health_check"), {"name": "focus", "value": ""})
            assert r.completion.values == ["memory", "errors", "log", "uptime", "queue"]
    anyio.run(main)


def test_http_resource_subscription(bridge):
    """resources/subscribe goes to the device; its updates come back under the bridge's URI, to
    the clients subscribed, until the last of them unsubscribes."""
    async def main():
        updated = {"x": [], "y": [], "z": []}

        def collect(who):
            async def on_message(msg):
                msg = getattr(msg, "root", msg)
                if getattr(msg, "method", None) == "notifications/resources/updated":
                    updated[who].append(msg.params.uri)
            return on_message
        uri = "edgemcp://b/device://log"
        async with Client(bridge.url, mode="legacy", message_handler=collect("x")) as x, \
                Client(bridge.url, mode="legacy", message_handler=collect("y")) as y, \
                Client(bridge.url + "/b", mode="legacy", message_handler=collect("z")) as z:
            await x.subscribe_resource(uri)
            await z.subscribe_resource("device://log")
            await y.call_tool("b.fail", {"message": "logged"})  # a log record updates device://log
            await wait_for(lambda: uri in updated["x"] and "device://log" in updated["z"])
            await x.unsubscribe_resource(uri)
            for k in updated:
                updated[k].clear()
            await y.call_tool("b.fail", {"message": "logged again"})
            await wait_for(lambda: "device://log" in updated["z"])  # z still subscribed
            await anyio.sleep(0.3)
            assert updated["x"] == [] and updated["y"] == []
            await z.unsubscribe_resource("device://log")
            with pytest.raises(MCPError):
                await x.subscribe_resource("edgemcp://b/device://nothing-here")
    anyio.run(main)


def test_http_many_clients_share_a_device(bridge):
    """Clients number their requests alike; the link's own ids keep the answers apart."""
    async def main():
        results = {}

        async def one(i):
            async with Client(bridge.url, mode="legacy" if i % 2 else "auto") as c:
                for k in range(5):
                    dev = "ab"[(i + k) % 2]
                    results[(i, k)] = text(await c.call_tool(f"{dev}.echo", {"text": f"{i}-{k}-{dev}"}))
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(one, i)
        assert results == {(i, k): f"{i}-{k}-{'ab'[(i + k) % 2]}" for i in range(8) for k in range(5)}
    anyio.run(main)


def test_http_answer_form(bridge):
    """Handshake era: a POST that asked for no progress is answered with one JSON body, one with a
    progress token as an event stream (the progress, then the result). A client must still accept
    both forms, as 2025-11-25 says: one that lists only one of them is refused, as before."""
    url = bridge.url + "/a"
    both = "application/json, text/event-stream"

    def post(body, accept=both, **headers):
        return httpx2.post(url, content=json.dumps(body).encode(), timeout=30,
                           headers={"Accept": accept, "Content-Type": "application/json", **headers})
    r = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["result"]["protocolVersion"] == "2025-11-25"
    session = {"Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
    assert post({"jsonrpc": "2.0", "method": "notifications/initialized"}, **session).status_code == 202

    def call(id, tool, arguments, **kw):
        return post({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                     "params": {"name": tool, "arguments": arguments, **kw}}, **session)
    r = call(2, "echo", {"text": "as json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"jsonrpc": "2.0", "id": 2, "result": {"content": [{"type": "text", "text": "as json"}]}}

    r = call(3, "slow", {"seconds": 0.2, "steps": 2}, _meta={"progressToken": "p3"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data:"):]) for line in r.text.splitlines()
              if line.startswith("data:") and line[len("data:"):].strip()]
    assert "retry: 1000" in r.text  # the priming event: a cursor to resume from, and the reconnection delay
    assert [(e["params"]["progressToken"], e["params"]["progress"]) for e in events[:-1]] == [("p3", 1), ("p3", 2)]
    assert events[-1]["id"] == 3 and events[-1]["result"]["structuredContent"] == {"slept": 0.2, "steps": 2}

    for accept in ("text/event-stream", "application/json"):
        r = post({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"text": "x"}}}, accept=accept, **session)
        assert r.status_code == 406, accept
    httpx2.delete(url, headers=session, timeout=10)


ROUTE_TOOL = """
from edgemcp import tool

@tool("Echoes the region it was routed by.", {"region": {"type": "string", "x-mcp-header": "Region"}})
def route(region):
    return region
"""


def test_http_mcp_param_headers(tmp_path):
    """2026-07-28: a tool whose schema mirrors an argument into an `Mcp-Param-*` header. The SDK
    client sends the header and the call goes through; a header that disagrees with the body is
    refused before the call reaches the device, on the aggregated and the per-device endpoint."""
    from mcp.client.streamable_http import streamable_http_client

    (tmp_path / "vdev/d").mkdir(parents=True)
    (tmp_path / "vdev/d/route_tool.py").write_text(ROUTE_TOOL)
    b = BridgeProc(tmp_path, ("d",), config={"test_tools": True, "modules": ["route_tool"]})
    forged = {}

    async def forge(request):
        if forged and b'"tools/call"' in request.content:
            request.headers.update(forged)

    async def main():
        for url, tool in ((b.url, "d.route"), (b.url + "/d", "route")):
            forged.clear()
            async with httpx2.AsyncClient(event_hooks={"request": [forge]}, timeout=30) as http, \
                    Client(streamable_http_client(url, http_client=http), mode="auto") as c:
                assert c.protocol_version == "2026-07-28"
                await c.list_tools()
                assert text(await c.call_tool(tool, {"region": "eu"})) == "eu"
                forged["Mcp-Param-Region"] = "us"
                with pytest.raises(MCPError) as e:
                    await c.call_tool(tool, {"region": "eu"})
                assert "Mcp-Param-Region" in e.value.error.message
    try:
        anyio.run(main)
    finally:
        b.stop()


@pytest.mark.parametrize("mode", MODES)
def test_stdio(tmp_path, mode):
    vroot = tmp_path / "vdev"
    write_configs(vroot, ("a", "b"))
    cmd = bridge_cmd(vroot, ("a", "b"), "--stdio", "-v")
    errlog = open(tmp_path / "stderr.log", "w+")

    async def main():
        logs = []

        async def on_log(params):
            logs.append(params)
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env())
        async with Client(stdio_client(params, errlog=errlog), mode=mode, logging_callback=on_log,
                          log_level="debug", read_timeout_seconds=30) as c:
            await check_aggregated(c, mode, logs)
            await cancel_mid_call(c, "a.slow")
            await anyio.sleep(3.5)
            assert text(await c.call_tool("a.echo", {"text": "after"})) == "after"
    anyio.run(main)
    errlog.seek(0)
    log = errlog.read()
    assert "device a up" in log and "device b up" in log
    assert "stray" not in log, log  # the cancelled call's progress and result never came


@pytest.mark.parametrize("mode", MODES)
def test_stdio_one_device(tmp_path, mode):
    vroot = tmp_path / "vdev"
    write_configs(vroot, ("a", "b"))
    cmd = bridge_cmd(vroot, ("a", "b"), "--stdio", "--device", "b")

    async def main():
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env())
        async with Client(params, mode=mode, read_timeout_seconds=30) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"device_info", "echo"} <= tools and not any("." in t for t in tools)
            assert (await c.call_tool("device_info", {})).structured_content["name"] == "dev-b"
            assert '"dev-b"' in (await c.read_resource("device://config")).contents[0].text
    anyio.run(main)


def test_stdio_unknown_device(tmp_path):
    import subprocess
    r = subprocess.run(bridge_cmd(tmp_path, ("a",), "--stdio", "--device", "zz"), capture_output=True,
                       text=True, env=env(), timeout=30)
    assert r.returncode == 2 and "no device 'zz'" in r.stderr
    assert sys.executable


def test_http_modern_calls_relayed_to_the_device_as_they_are(bridge):
    """A 2026-07-28 client through /mcp/a and /mcp: the bridge passes its call to the dual-era
    device unchanged, so the device's input_required rounds (its questions, its sealed
    requestState) reach the client and its answers come back, and the device's own serverInfo."""
    from mcp_types import CreateMessageResult, ElicitResult, TextContent

    async def on_elicit(context, params):
        return ElicitResult(action="accept", content={"name": "Lin"})

    async def on_sample(context, params):
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="hi Lin"),
                                   model="m", stop_reason="endTurn")

    assert bridge.devices_info()["a"]["modern"] == ["2026-07-28"]

    async def main():
        for url, tool in ((bridge.url + "/a", "greet"), (bridge.url, "a.greet")):
            async with Client(url, mode="2026-07-28", elicitation_callback=on_elicit, sampling_callback=on_sample,
                              read_timeout_seconds=30) as c:
                r = await c.call_tool(tool, {})
                assert not r.is_error and r.content[0].text == "Lin -> hi Lin", r
                assert r.meta["io.modelcontextprotocol/serverInfo"]["name"] == "dev-a"  # the device answered
    anyio.run(main)


def test_http_legacy_client_answers_the_devices_questions(bridge):
    """A 2025-11-25 client through the bridge: the device's elicitation/create and
    sampling/createMessage, tagged with the call they belong to, are put to that client on its
    call's stream; a client that declared neither is not asked."""
    from mcp_types import CreateMessageResult, ElicitResult, TextContent
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"name": "Kay"})

    async def on_sample(context, params):
        asked.append(params.messages[0].content.text)
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="hey Kay"),
                                   model="m", stop_reason="endTurn")

    async def main():
        async with Client(bridge.url + "/b", mode="legacy", elicitation_callback=on_elicit,
                          sampling_callback=on_sample, read_timeout_seconds=30) as c:
            r = await c.call_tool("greet", {})
            assert not r.is_error and r.content[0].text == "Kay -> hey Kay", r
        assert asked == ["Who is there?", "Greet Kay in three words."]
        async with Client(bridge.url, mode="legacy", read_timeout_seconds=30) as c:
            r = await c.call_tool("b.greet", {})
            assert r.is_error and "cannot answer elicitation/create" in r.content[0].text
            r = await c.call_tool("b.device_reset", {})
            assert r.is_error and "confirm: true" in r.content[0].text
    anyio.run(main)
