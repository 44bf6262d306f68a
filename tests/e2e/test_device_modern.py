"""MCP 2026-07-28 straight to the device over stdio, with no initialize: the mcp SDK's modern
client (progress, cancellation, the per-request log level, subscriptions/listen, a missing
resource), and raw JSON lines for what an SDK never sends (an unknown version, a missing _meta
key, a method of the other era); both eras on one link."""
import json
import os
import pathlib
import shutil
import subprocess
import time

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from vdevice import board_root, device_cmd, device_env, stdio_params

pytestmark = pytest.mark.timeout(120)
MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


@pytest.fixture
def root(tmp_path):
    return board_root(tmp_path, {"name": "m-board", "test_tools": True})


def test_modern_sdk_client_calls_progress_cancel_and_log(root):
    async def main():
        logs = []

        async def on_log(p):
            logs.append(p)
        async with Client(stdio_params(root), mode=MODERN, logging_callback=on_log, log_level="info",
                          read_timeout_seconds=20) as c:
            names = [t.name for t in (await c.list_tools()).tools]
            assert {"device_info", "echo", "slow", "fail"} <= set(names)
            assert names == [t.name for t in (await c.list_tools(cache_mode="bypass")).tools]  # a fixed order
            progress = []

            async def on_progress(done, total, message):
                progress.append((done, total))
            r = await c.call_tool("slow", {"seconds": 0.3, "steps": 3}, progress_callback=on_progress)
            assert r.structured_content == {"slept": 0.3, "steps": 3} and progress == [(1, 3), (2, 3), (3, 3)]
            r = await c.call_tool("fail", {"message": "logged"})
            assert r.is_error and r.content[0].text == "logged"
            with anyio.fail_after(5):
                while not any("logged" in str(p.data) for p in logs):  # asked for with log_level
                    await anyio.sleep(0.05)
            with anyio.move_on_after(0.5):  # a cancelled call leaves the device serving
                await c.call_tool("slow", {"seconds": 30, "steps": 1})
            assert (await c.call_tool("echo", {"text": "after"})).content[0].text == "after"
            with pytest.raises(MCPError) as e:
                await c.read_resource("device://nothing-here")
            assert e.value.error.code == -32602 and e.value.error.data == {"uri": "device://nothing-here"}
    anyio.run(main)


def test_listen_acknowledges_then_tags_each_notification(root):
    async def main():
        async with Client(stdio_params(root), mode=MODERN, read_timeout_seconds=20) as c:
            async with c.listen(resource_subscriptions=["device://log"], tools_list_changed=True) as sub:
                assert sub.honored.resource_subscriptions == ["device://log"]
                assert sub.honored.tools_list_changed
                await c.call_tool("fail", {"message": "a log record"})  # device://log changes
                with anyio.fail_after(10):
                    async for event in sub:
                        assert getattr(event, "uri", None) == "device://log"
                        break
    anyio.run(main)


def lines(root, *msgs, wait=1.0):
    """Raw JSON lines to the device; -> its answers by id, and the notifications."""
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env={**os.environ, **device_env(root)})
    try:
        for m in msgs:
            p.stdin.write((json.dumps(m) + "\n").encode())
        p.stdin.flush()
        time.sleep(wait)
        p.stdin.close()
        out = p.stdout.read().decode()
        p.wait(10)
    finally:
        p.kill()
    got = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    return {m["id"]: m for m in got if "id" in m}, [m for m in got if "id" not in m]


def req(rid, method, params=None, meta=META):
    p = dict(params or {})
    if meta is not None:
        p["_meta"] = meta
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": p}


def test_raw_modern_requests_and_both_eras_on_one_link(root):
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    by_id, notes = lines(
        root,
        req(1, "server/discover"),
        req(2, "tools/list", meta={**META, "io.modelcontextprotocol/protocolVersion": "1900-01-01"}),
        req(3, "tools/list", meta={"io.modelcontextprotocol/protocolVersion": MODERN}),
        req(4, "ping"),
        req(5, "logging/setLevel", {"level": "debug"}),
        req(6, "tools/call", {"name": "ghost", "arguments": {}}),
        req(7, "tools/list", meta=None),  # no _meta and no initialize: the 2025 era, not initialized
        req(8, "initialize", init, meta=None),
        req(9, "tools/list", meta=None),  # now the 2025 era on this link
        req(10, "resources/read", {"uri": "device://nope"}, meta=None),
        req(11, "server/discover", meta=None),  # a modern-only method without modern _meta
        req(12, "resources/list"),  # and the modern era still served beside it
        req(13, "completion/complete", {"ref": {"type": "ref/prompt", "name": "health_check"},
                                        "argument": {"name": "focus", "value": "me"}}),
        req(14, "completion/complete", {"ref": {"type": "ref/prompt", "name": "health_check"},
                                        "argument": {"name": "focus", "value": ""}}, meta=None),
        req(15, "completion/complete", {"ref": {"type": "ref/prompt", "name": "nope"},
                                        "argument": {"name": "focus", "value": ""}}),
        req(16, "completion/complete", {"ref": "health_check"}),
    )
    d = by_id[1]["result"]
    assert d["supportedVersions"] == [MODERN, "2025-11-25", "2025-06-18", "2025-03-26"]
    assert d["resultType"] == "complete" and d["ttlMs"] == 0 and d["cacheScope"] in ("public", "private")
    assert d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "m-board"
    assert "logging" not in d["capabilities"] and d["capabilities"]["tools"]["listChanged"] is True
    e = by_id[2]["error"]
    assert e["code"] == -32022 and e["data"] == {"supported": d["supportedVersions"], "requested": "1900-01-01"}
    assert by_id[3]["error"]["code"] == -32602 and "clientCapabilities" in by_id[3]["error"]["message"]
    assert by_id[4]["error"]["code"] == -32601 and by_id[5]["error"]["code"] == -32601  # gone in 2026-07-28
    assert by_id[6]["error"]["code"] == -32602 and "unknown tool: ghost" in by_id[6]["error"]["message"]
    assert by_id[7]["error"]["code"] == -32600
    assert by_id[8]["result"]["protocolVersion"] == "2025-11-25" and "logging" in by_id[8]["result"]["capabilities"]
    legacy = by_id[9]["result"]
    assert "resultType" not in legacy and "ttlMs" not in legacy and "echo" in [t["name"] for t in legacy["tools"]]
    assert by_id[10]["error"]["code"] == -32002  # the 2025 era keeps its resource-not-found code
    assert by_id[11]["error"]["code"] == -32601
    assert by_id[12]["result"]["resultType"] == "complete" and by_id[12]["result"]["resources"]
    # completion of a prompt argument, in both eras; unknown prompts and malformed refs are -32602
    assert by_id[13]["result"]["completion"] == {"values": ["memory"], "total": 1, "hasMore": False}
    assert by_id[14]["result"]["completion"]["values"] == ["memory", "errors", "log", "uptime", "queue"]
    assert "completions" in d["capabilities"] and "completions" in by_id[8]["result"]["capabilities"]
    assert by_id[15]["error"]["code"] == -32602 and by_id[16]["error"]["code"] == -32602


def test_completion_of_a_template_variable_by_a_function(tmp_path):
    """A module's template completes its variable with a function of what was typed."""
    root = board_root(tmp_path, {"modules": ["conformance_fixtures"]})
    shutil.copy(pathlib.Path(__file__).parent / "device_modules/conformance_fixtures.py", root)
    ref = {"type": "ref/resource", "uri": "test://template/{id}/data"}
    by_id, _ = lines(root, req(1, "completion/complete", {"ref": ref, "argument": {"name": "id", "value": "4"}}),
                     req(2, "completion/complete", {"ref": {**ref, "uri": "test://nope/{id}"},
                                                    "argument": {"name": "id", "value": ""}}),
                     req(3, "completion/complete", {"ref": ref, "argument": {"name": "other", "value": ""}}))
    assert by_id[1]["result"]["completion"] == {"values": ["42", "420"], "total": 2, "hasMore": False}
    assert by_id[2]["error"]["code"] == -32602
    assert by_id[3]["result"]["completion"]["values"] == []  # a variable with nothing to offer


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_a_tool_asks_the_user_and_a_model_in_both_eras(root, mode):
    """ctx.elicit and ctx.sample: requests to a 2025 client (elicitation/create,
    sampling/createMessage), input_required rounds with an HMAC-sealed requestState for a 2026
    one; the SDK's callbacks answer both, so one call_tool returns the finished result."""
    from mcp_types import CreateMessageResult, ElicitResult, TextContent
    asked = []

    async def on_elicit(context, params):
        asked.append(("elicit", params.message))
        return ElicitResult(action="accept", content={"name": "Ada"})

    async def on_sample(context, params):
        asked.append(("sample", params.messages[0].content.text))
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="hello there Ada"),
                                   model="test-model", stop_reason="endTurn")

    async def main():
        async with Client(stdio_params(root), mode=mode, elicitation_callback=on_elicit, sampling_callback=on_sample,
                          read_timeout_seconds=20) as c:
            r = await c.call_tool("greet", {})
            assert not r.is_error, r
            assert r.content[0].text == "Ada -> hello there Ada"
        assert asked == [("elicit", "Who is there?"), ("sample", "Greet Ada in three words.")]
        async with Client(stdio_params(root), mode=mode, read_timeout_seconds=20) as c:  # no callbacks
            if mode == MODERN:  # a protocol error there, naming what is missing
                with pytest.raises(MCPError) as e:
                    await c.call_tool("greet", {})
                assert e.value.error.code == -32021
                assert e.value.error.data == {"requiredCapabilities": {"elicitation": {}}}
            else:
                r = await c.call_tool("greet", {})
                assert r.is_error and "cannot answer elicitation/create" in r.content[0].text
            r = await c.call_tool("device_reset", {})  # cannot ask: the explicit flag is needed
            assert r.is_error and "confirm: true" in r.content[0].text
    anyio.run(main)


def test_request_state_is_sealed(root):
    """The 2026-07-28 rounds by hand, on one device process: input_required with a requestState;
    the retry with the answer goes on to the next question; a tampered state, one for other
    arguments, or one from another boot of the device is -32602."""
    meta = {**META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "sampling": {}}}
    call = {"name": "greet", "arguments": {}}
    p = subprocess.Popen(device_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env={**os.environ, **device_env(root)})

    def rpc(m):
        p.stdin.write((json.dumps(m) + "\n").encode())
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            assert line, "the device closed its output"
            msg = json.loads(line)
            if msg.get("id") == m["id"]:
                return msg

    try:
        r1 = rpc(req(1, "tools/call", call, meta=meta))["result"]
        assert r1["resultType"] == "input_required" and list(r1["inputRequests"]) == ["q0"]
        assert r1["inputRequests"]["q0"]["method"] == "elicitation/create"
        state = r1["requestState"]
        answer = {"q0": {"action": "accept", "content": {"name": "Bob"}}}
        r2 = rpc(req(2, "tools/call", {**call, "inputResponses": answer, "requestState": state}, meta=meta))["result"]
        assert r2["resultType"] == "input_required" and r2["inputRequests"]["q1"]["method"] == "sampling/createMessage"
        sample = {"q1": {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"}}
        r3 = rpc(req(3, "tools/call", {**call, "inputResponses": sample, "requestState": r2["requestState"]}, meta=meta))
        assert r3["result"]["resultType"] == "complete" and r3["result"]["content"][0]["text"] == "Bob -> hi"
        tampered = state[:-2] + ("00" if not state.endswith("00") else "11")
        for rid, params in ((4, {**call, "requestState": tampered}), (5, {**call, "requestState": "garbage"}),
                            (6, {"name": "greet", "arguments": {"x": 1}, "requestState": state})):
            e = rpc(req(rid, "tools/call", {**params, "inputResponses": answer}, meta=meta))
            assert e.get("error", {}).get("code") == -32602, e
    finally:
        p.kill()
        p.wait()
    by_id, _ = lines(root, req(7, "tools/call", {**call, "inputResponses": answer, "requestState": state}, meta=meta))
    assert by_id[7]["error"]["code"] == -32602 and "restarted" in by_id[7]["error"]["message"]  # another boot


def test_a_tool_declared_while_running_is_a_list_change_on_listen(tmp_path):
    """A module that declares a tool while the device runs: listen streams that asked for tool
    list changes hear of it (tagged), and the new tool is listed."""
    root = board_root(tmp_path, {"modules": ["conformance_fixtures"]})
    shutil.copy(pathlib.Path(__file__).parent / "device_modules/conformance_fixtures.py", root)

    async def main():
        async with Client(stdio_params(root), mode=MODERN, read_timeout_seconds=20) as c:
            async with c.listen(tools_list_changed=True) as sub:
                assert "test_added_tool" not in await tool_names(c)
                await c.call_tool("test_trigger_tool_change", {})
                with anyio.fail_after(10):
                    async for event in sub:
                        assert "Tools" in type(event).__name__, event
                        break
            assert "test_added_tool" in await tool_names(c)
    anyio.run(main)


async def tool_names(c):
    names, cursor = set(), None
    for _ in range(20):  # every page
        r = await c.list_tools(cursor=cursor, cache_mode="bypass")
        names |= {t.name for t in r.tools}
        cursor = r.next_cursor
        if not cursor:
            return names
    raise AssertionError("tools/list pages never end")
