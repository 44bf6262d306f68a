"""The official mcp SDK client talks to the virtual device over stdio (the serial link's
framing), in legacy mode, in the default auto mode (server/discover: the device is dual-era, so
modern) and in the 2026-07-28 mode."""
import json

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from vdevice import board_root, stdio_params

CONFIG = {"name": "bench-board", "test_tools": True, "page_bytes": 700}


def run(fn):
    return anyio.run(fn)


@pytest.fixture
def params(tmp_path):
    return stdio_params(board_root(tmp_path, CONFIG))


async def all_tools(client):
    tools, cursor, pages = [], None, 0
    while True:
        r = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools += r.tools
        pages += 1
        cursor = r.next_cursor
        if not cursor:
            return tools, pages


@pytest.mark.parametrize("mode, version", [("legacy", "2025-11-25"), ("auto", "2026-07-28"),
                                           ("2026-07-28", "2026-07-28")])
def test_handshake_tools_and_paging(params, mode, version):
    """The device serves both eras on one stdio link: legacy through initialize, auto finds
    the modern era with server/discover, and a modern client sends no initialize at all."""
    async def main():
        async with Client(params, mode=mode, read_timeout_seconds=20) as c:
            assert c.protocol_version == version
            if mode != "2026-07-28":  # a client that skips server/discover learns it from each result
                assert c.server_info.name == "bench-board"
            tools, pages = await all_tools(c)
            names = [t.name for t in tools]
            assert pages >= 2, "a 700-byte page budget must split the tool list"
            assert sorted(names) == sorted(set(names)), "a tool listed twice across pages"
            assert {"device_info", "device_reset", "echo", "slow", "fail", "add"} <= set(names)

            r = await c.call_tool("add", {"a": 2, "b": 40.5})
            assert not r.is_error and r.structured_content == {"sum": 42.5}
            r = await c.call_tool("echo", {"text": "héllo"})
            assert r.content[0].text == "héllo"
            if version == "2026-07-28":
                assert r.meta["io.modelcontextprotocol/serverInfo"]["name"] == "bench-board"
            info = (await c.call_tool("device_info", {})).structured_content
            assert info["micropython"] == "1.25.0" and info["heap_alloc"] > 0 and len(info["device_id"]) == 12

            r = await c.call_tool("add", {"a": "two", "b": 1})
            assert r.is_error and "arguments.a" in r.content[0].text
            r = await c.call_tool("add", {"a": 1})
            assert r.is_error and "arguments.b: required" in r.content[0].text
            r = await c.call_tool("device_reset", {"confirm": False})
            assert r.is_error and "confirm" in r.content[0].text
            with pytest.raises(MCPError) as e:  # a protocol error in MCP, both eras
                await c.call_tool("nope", {})
            assert e.value.error.code == -32602 and "unknown tool: nope" in e.value.error.message
            r = await c.call_tool("fail", {"message": "boom"})
            assert r.is_error and r.content[0].text == "boom"
    run(main)


def test_resources_prompts_and_logging(params):
    async def main():
        logs = []

        async def on_log(p):
            logs.append(p)

        async with Client(params, mode="legacy", logging_callback=on_log, read_timeout_seconds=20) as c:
            uris, cursor = set(), None
            while True:  # paged like tools, by the 700-byte budget
                page = await c.list_resources(cursor=cursor, cache_mode="bypass")
                uris |= {str(r.uri) for r in page.resources}
                cursor = page.next_cursor
                if not cursor:
                    break
            assert {"device://info", "device://config", "device://log"} <= uris
            cfg = json.loads((await c.read_resource("device://config", cache_mode="bypass")).contents[0].text)
            assert cfg["name"] == "bench-board" and cfg["max_line"] == 16384
            await c.subscribe_resource("device://log")
            with pytest.raises(Exception) as e:
                await c.read_resource("device://nothing", cache_mode="bypass")
            assert "not found" in str(e.value)

            prompts = (await c.list_prompts()).prompts
            assert [p.name for p in prompts] == ["health_check"]
            g = await c.get_prompt("health_check", {"focus": "memory"})
            assert "device_info" in g.messages[0].content.text and "memory" in g.messages[0].content.text

            await c.set_logging_level("debug")
            await c.call_tool("fail", {"message": "sensor 3 lost"})
            with anyio.fail_after(5):
                while not logs:
                    await anyio.sleep(0.05)
            assert logs[0].level == "error" and logs[0].data == "sensor 3 lost"
            recs = json.loads((await c.read_resource("device://log", cache_mode="bypass")).contents[0].text)
            assert recs[-1]["data"] == "sensor 3 lost"

            await c.set_logging_level("critical")
            n = len(logs)
            await c.call_tool("fail", {"message": "filtered out"})
            await c.call_tool("device_info", {})  # a round trip after: a notification would be here by now
            assert logs[n:] == [], "a log record below the level set came through"
    run(main)


def test_progress_and_cancel(params):
    async def main():
        progress = []

        async def on_progress(done, total, message):
            progress.append((done, total, message))

        async with Client(params, mode="legacy", read_timeout_seconds=20) as c:
            r = await c.call_tool("slow", {"seconds": 0.3, "steps": 3}, progress_callback=on_progress)
            assert r.structured_content == {"slept": 0.3, "steps": 3}
            assert [p[0] for p in progress] == [1, 2, 3] and progress[-1][1] == 3

            progress.clear()
            with anyio.move_on_after(0.5) as scope:  # abandoning the call sends notifications/cancelled
                await c.call_tool("slow", {"seconds": 3, "steps": 30}, progress_callback=on_progress)
            assert scope.cancelled_caught
            seen = len(progress)
            await anyio.sleep(0.6)
            # the device is still serving, and the cancelled tool reports no more progress
            assert (await c.call_tool("echo", {"text": "still here"})).content[0].text == "still here"
            assert len(progress) == seen
    run(main)
