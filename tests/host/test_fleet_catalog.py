"""The fleet endpoint's catalog and calls (fleet.py) on links whose requests are answered here:
one tool per distinct tool with the `device` selector, schema variants kept apart, the enum and
the pattern, fan-out with bounded concurrency and per-device failures, and the refusals."""
import asyncio

import pytest
from mcp.shared.exceptions import MCPError

from edgemcp_host.bridge import Bridge
from edgemcp_host.fleet import DEVICES_TOOL, ENUM_MAX, catalog, fleet_tool
from edgemcp_host.link import DeviceError, LinkError
from edgemcp_host.serial_link import make_link

ECHO = {"name": "echo", "description": "Echo the text back.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}
ECHO_V2 = {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"},
                                                                               "loud": {"type": "boolean"}}}}
INFO = {"name": "device_info", "inputSchema": {"type": "object", "properties": {}}}


class Answers:
    """What the fake devices answer, and how many calls were in flight at most."""

    def __init__(self):
        self.active = self.peak = 0


def fleet_of(tools_by_device, answer=None, concurrency=16):
    links, answers = [], Answers()
    for n, (name, tools) in enumerate(tools_by_device.items()):
        link = make_link(f"{name}=virtual", n + 1)
        link.state, link.tools = "up", tools

        async def request(method, params=None, link=link, **kw):
            answers.active += 1
            answers.peak = max(answers.peak, answers.active)
            try:
                await asyncio.sleep(0.01)
                return (answer or default_answer)(link, method, params)
            finally:
                answers.active -= 1
        link.request = request
        links.append(link)
    return Bridge(links, concurrency), answers


def default_answer(link, method, params):
    if params["name"] == "device_info":
        return {"content": [], "structuredContent": {"board": "esp32s3", "heap_free": 1000, "queue_depth": 2,
                                                     "uptime_ms": 5, "firmware": "0.1.0"}}
    return {"content": [{"type": "text", "text": f"{link.name}:{params['arguments'].get('text')}"}]}


def test_one_tool_per_distinct_tool_with_the_device_selector():
    b, _ = fleet_of({"a": [ECHO, INFO], "b": [ECHO, INFO], "c": [ECHO_V2], "d": [ECHO]})
    b.links["d"].state = "down"  # a device that is away offers nothing
    groups = catalog(b.links.values())
    assert set(groups) == {"echo", "device_info", next(n for n in groups if n.startswith("echo."))}
    assert groups["echo"].devices == ["a", "b"]  # the schema more devices have keeps the name
    variant = next(g for n, g in groups.items() if n.startswith("echo."))
    assert variant.devices == ["c"] and variant.tool is ECHO_V2
    t = fleet_tool(groups["echo"])
    assert t["inputSchema"]["required"] == ["device", "text"]
    assert t["inputSchema"]["properties"]["device"]["enum"] == ["a", "b", "*"]
    assert t["inputSchema"]["properties"]["text"] == {"type": "string"}
    assert "outputSchema" not in t and "2 devices" in t["description"]
    names = [x["name"] for x in b.fleet.tools()]
    assert names[0] == DEVICES_TOOL and len(names) == 4
    assert ECHO["inputSchema"]["required"] == ["text"]  # the device's own schema is left alone


def test_large_fleets_get_a_pattern_not_an_enum():
    b, _ = fleet_of({f"d{i:03}": [ECHO] for i in range(ENUM_MAX + 1)})
    dev = fleet_tool(catalog(b.links.values())["echo"])["inputSchema"]["properties"]["device"]
    assert "enum" not in dev and dev["pattern"]


def test_a_tool_with_its_own_device_argument_is_left_off():
    own = {"name": "pick", "inputSchema": {"type": "object", "properties": {"device": {"type": "string"}}}}
    b, _ = fleet_of({"a": [own, ECHO]})
    assert set(catalog(b.links.values())) == {"echo"}


def test_single_call_fan_out_and_partial_failures():
    def answer(link, method, params):
        if link.name == "b":
            raise LinkError("device 'b' did not answer tools/call within 60 s")
        if link.name == "c":
            return {"content": [{"type": "text", "text": "no"}], "isError": True}
        return default_answer(link, method, params)

    b, answers = fleet_of({n: [ECHO] for n in "abcdefgh"}, answer, concurrency=3)

    async def main():
        one = await b.fleet.call("echo", {"device": "a", "text": "hi"})
        assert one["content"][0]["text"] == "a:hi"
        progress = []

        async def on_progress(p):
            progress.append(p["progress"])
        r = await b.fleet.call("echo", {"device": "*", "text": "x"}, on_progress)
        res = {e["device"]: e for e in r["structuredContent"]["results"]}
        assert list(res) == list("abcdefgh")
        assert res["a"]["content"][0]["text"] == "a:x" and res["a"]["isError"] is False
        assert "did not answer" in res["b"]["error"]["message"]
        assert res["c"]["isError"] is True
        assert r["structuredContent"]["failed"] == 2 and r["isError"] is False
        assert answers.peak == 3 and progress == list(range(1, 9))
        sel = await b.fleet.call("echo", {"device": "*", "devices": ["d", "zz"], "text": "y"})
        out = sel["structuredContent"]["results"]
        assert [e["device"] for e in out] == ["d", "zz"] and "has no tool" in out[1]["error"]["message"]
        allbad = await b.fleet.call("echo", {"device": "*", "devices": ["b"], "text": "y"})
        assert allbad["isError"] is True
        # A device error (JSON-RPC) is that device's entry too.
        b.links["a"].request = lambda *a, **k: _raise(DeviceError({"code": -32602, "message": "bad text"}))
        r = await b.fleet.call("echo", {"device": "*", "devices": ["a"], "text": 1})
        assert r["structuredContent"]["results"][0]["error"] == {"code": -32602, "message": "bad text"}
        m = b.metrics.exposition().decode()
        assert 'edgemcp_tool_calls_total{device="d",tool="echo"}' in m

    asyncio.run(main())


async def _raise(e):
    raise e


@pytest.mark.parametrize("args, text", [
    ({"text": "x"}, "`device` is required"),
    ({"device": "zz", "text": "x"}, "has no tool"),
    ({"device": "a", "devices": ["a"], "text": "x"}, "goes with device"),
    ({"device": "*", "devices": [], "text": "x"}, "non-empty list"),
    ({"device": "*", "devices": ["a", "a"], "text": "x"}, "distinct"),
    ({"device": "*", "devices": "a", "text": "x"}, "non-empty list"),
])
def test_bad_selectors_are_invalid_params(args, text):
    b, _ = fleet_of({"a": [ECHO]})
    with pytest.raises(MCPError) as e:
        asyncio.run(b.fleet.call("echo", args))
    assert e.value.code == -32602 and text in e.value.message


def test_unknown_tool_and_resource():
    b, _ = fleet_of({"a": [ECHO]})
    with pytest.raises(MCPError) as e:
        asyncio.run(b.fleet.call("nope", {"device": "a"}))
    assert e.value.code == -32602 and e.value.data["tools"] == [DEVICES_TOOL, "echo"]
    with pytest.raises(MCPError) as e:
        asyncio.run(b.fleet.read("fleet://nope"))
    assert e.value.code == -32002 and e.value.data == {"uri": "fleet://nope"}


def test_devices_report_asks_device_info_of_devices_that_are_up():
    b, _ = fleet_of({"a": [ECHO, INFO], "b": [INFO]})
    b.links["b"].state = "down"
    rows = asyncio.run(b.fleet.devices())
    assert [r["device"] for r in rows] == ["a", "b"]
    a, down = rows
    assert a["state"] == "up" and a["board"] == "esp32s3" and a["heap_free"] == 1000
    assert a["queue_depth"] == 2 and a["uptime_ms"] == 5 and a["reported_at"] and a["kind"] == "virtual"
    assert down["state"] == "down" and down["board"] is None and down["heap_free"] is None


def test_devices_report_rows_keep_the_state_they_were_asked_in():
    # b comes up while a's device_info is answered: its row says what it was when asked (down),
    # not "up" without a report
    def answer(link, method, params):
        b.links["b"].state = "up"
        return default_answer(link, method, params)
    b, _ = fleet_of({"a": [ECHO, INFO], "b": [ECHO, INFO]}, answer=answer)
    b.links["b"].state = "down"
    rows = {r["device"]: r for r in asyncio.run(b.fleet.devices())}
    assert rows["a"]["state"] == "up" and rows["a"]["heap_free"] == 1000
    assert rows["b"]["state"] == "down" and rows["b"]["heap_free"] is None
    again = {r["device"]: r for r in asyncio.run(b.fleet.devices())}  # asked now that it is up
    assert again["b"]["state"] == "up" and again["b"]["heap_free"] == 1000


def test_no_device_named_fleet():
    with pytest.raises(ValueError, match="fleet"):
        Bridge([make_link("fleet=virtual", 1)])


def test_the_catalog_follows_the_devices():
    b, _ = fleet_of({"a": [ECHO], "b": [INFO]})
    first = b.fleet.catalog()
    assert b.fleet.catalog() is first and set(first) == {"echo", "device_info"}
    b.links["b"].tools = [INFO, ECHO]  # a new tool list (list_changed)
    assert b.fleet.catalog()["echo"].devices == ["a", "b"]
    b.links["a"].state = "down"
    assert b.fleet.catalog()["echo"].devices == ["b"]
    del b.links["a"]  # an MQTT device that left
    assert set(b.fleet.catalog()) == {"echo", "device_info"}
