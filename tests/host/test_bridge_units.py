"""Host-side pieces of the bridge on their own: the namespace mapping, device names, the
board classifier, `edgemcp call`'s argument parsing, a DeviceLink on a real virtual device
(ids, timeouts with cancellation, device errors), and the link core on a fake transport."""
import asyncio
import json

import pytest
from mcp.shared.exceptions import MCPError
from serial.tools.list_ports_common import ListPortInfo

from edgemcp_host.bridge import Bridge, View
from edgemcp_host.commands.call import build_args
from edgemcp_host.commands.devices import classify
from edgemcp_host.link import DeviceError, Link, LinkError
from edgemcp_host.protocol import METHOD_NOT_FOUND, VERSIONS
from edgemcp_host.serial_link import make_link


def links(*names):
    return [make_link(f"{n}=virtual", 1) for n in names]


def test_names_and_uris_round_trip():
    b = Bridge(links("a", "b-2"))
    agg, one = View(b), View(b, "b-2")
    la, lb = b.links["a"], b.links["b-2"]
    assert agg.name_out(lb, "echo") == "b-2.echo" and one.name_out(lb, "echo") == "echo"
    assert agg.name_in("b-2.echo", "tool") == (lb, "echo")
    assert agg.name_in("a.x.y", "tool") == (la, "x.y")  # the device part ends at the first dot
    assert one.name_in("echo", "tool") == (lb, "echo")
    assert agg.uri_out(la, "device://info") == "edgemcp://a/device://info"
    assert agg.uri_in("edgemcp://a/device://sensor/{id}") == (la, "device://sensor/{id}")
    assert one.uri_out(lb, "device://info") == "device://info" and one.uri_in("device://log") == (lb, "device://log")
    for bad in ("echo", "zz.echo", ".echo"):
        with pytest.raises(MCPError) as e:
            agg.name_in(bad, "tool")
        assert e.value.error.code == -32602
    for bad in ("device://info", "edgemcp://zz/device://info", "edgemcp://a"):
        with pytest.raises(MCPError) as e:
            agg.uri_in(bad)
        assert e.value.error.code == -32002


def test_device_names():
    assert make_link("virtual", 3).name == "virtual3"
    assert make_link("/dev/ttyACM0", 1).name == "ttyACM0"
    assert make_link("lab=/dev/serial/by-id/usb-Espressif_USB_JTAG-if00", 1).name == "lab"
    for bad in ("has space=virtual", "a.b=virtual", "x" * 33 + "=virtual"):
        with pytest.raises(ValueError):
            make_link(bad, 1)
    with pytest.raises(ValueError, match="same name"):
        Bridge(links("a", "a"))


def port(device, vid=None, pid=None, description="n/a", manufacturer=None):
    p = ListPortInfo(device, skip_link_detection=True)
    p.vid, p.pid, p.description, p.manufacturer = vid, pid, description, manufacturer
    return p


def test_classify_ports():
    assert "ESP32-S3" in classify(port("/dev/ttyACM0", 0x303A, 0x1001))
    assert "MicroPython" in classify(port("/dev/ttyACM1", 0xF055, 0x9800))
    assert classify(port("/dev/ttyUSB0", 0x10C4, 0xEA60))
    assert classify(port("/dev/ttyUSB1", 0x1234, 0x5678, "USB JTAG/serial debug unit"))
    assert classify(port("/dev/ttyS0")) is None
    assert classify(port("/dev/ttyUSB2", 0x1234, 0x5678, "Some Modem", "ACME")) is None


def test_call_arguments():
    schema = {"properties": {"text": {"type": "string"}, "n": {"type": "integer"}, "flag": {"type": "boolean"}}}
    assert build_args(["text=42", "n=42", "flag=true", "other=[1,2]", "word=hello"], None, schema) == \
        {"text": "42", "n": 42, "flag": True, "other": [1, 2], "word": "hello"}
    assert build_args(["n=2"], '{"n": 1, "text": "t"}', schema) == {"n": 2, "text": "t"}
    assert build_args(["text="], None, None) == {"text": ""}
    for bad in (["novalue"], ["=x"]):
        with pytest.raises(ValueError):
            build_args(bad, None, schema)
    with pytest.raises(ValueError):
        build_args([], "[1]", schema)


@pytest.fixture
def vroot(tmp_path, device_bin, monkeypatch):
    monkeypatch.setenv("EDGEMCP_DEVICE_BIN", device_bin)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "edgemcp.json").write_text(json.dumps({"test_tools": True}))
    return tmp_path


def test_link_on_a_virtual_device(vroot):
    async def main():
        link = make_link("dev=virtual", 1, vdev_root=vroot, timeout=0.5)
        await link.start()
        try:
            assert link.state == "up" and link.protocol_version == "2025-11-25"
            assert {"echo", "slow", "device_info"} <= {t["name"] for t in link.tools}
            # Many requests in flight on one line, answered by id.
            texts = [f"t{i}" for i in range(64)]
            rs = await asyncio.gather(*(link.request("tools/call", {"name": "echo", "arguments": {"text": t}},
                                                     timeout=10) for t in texts))
            assert [r["content"][0]["text"] for r in rs] == texts
            with pytest.raises(DeviceError) as e:
                await link.request("no/such/method")
            assert e.value.code == -32601
            # Past its timeout the request fails and the device is told to stop.
            t0 = asyncio.get_running_loop().time()
            with pytest.raises(LinkError, match="did not answer tools/call within 0.5 s"):
                await link.request("tools/call", {"name": "slow", "arguments": {"seconds": 2, "steps": 1}})
            assert asyncio.get_running_loop().time() - t0 < 1.5
            assert link.info()["pending"] == 0
            await asyncio.sleep(2.5)
            assert link.stray == 0  # the device did not finish the abandoned call
            # Progress keeps a long call alive past the per-request timeout.
            seen = []

            async def on_progress(p):
                seen.append(p["progress"])
            r = await link.request("tools/call", {"name": "slow", "arguments": {"seconds": 1.6, "steps": 8}},
                                   on_progress=on_progress)
            assert r["structuredContent"]["steps"] == 8 and seen == [1, 2, 3, 4, 5, 6, 7, 8]
        finally:
            await link.stop()
        assert link.transport.proc is None
    asyncio.run(main())


class FakeTransport:
    kind = "fake"
    pid = None

    def describe(self):
        return "fake"


class FakeLink(Link):
    """The link core over a transport that records what goes out; the test plays the device."""

    def __init__(self, **kw):
        super().__init__("fake", FakeTransport(), **kw)
        self.sent = []

    def _connected(self):
        return True

    def _send(self, msg, control=False):
        self.sent.append((control, msg))


def test_link_core_on_a_fake_transport():
    async def main():
        link = FakeLink(timeout=0.3)
        loop = asyncio.get_running_loop()

        def answer(rid, result=None, after=0.0):
            loop.call_later(after, link._on_message, {"jsonrpc": "2.0", "id": rid, "result": result or {}})

        # The handshake: initialize on the control route, then initialized and the tool list.
        init = asyncio.ensure_future(link._initialize())
        await asyncio.sleep(0)
        control, msg = link.sent[-1]
        assert control and msg["method"] == "initialize" and msg["params"]["protocolVersion"] == VERSIONS[0]
        answer(msg["id"], {"protocolVersion": VERSIONS[0], "capabilities": {"tools": {}}, "serverInfo": {"name": "f"}})
        await asyncio.sleep(0.01)
        assert [m.get("method") for c, m in link.sent[-2:]] == ["notifications/initialized", "tools/list"]
        answer(link.sent[-1][1]["id"], {"tools": [{"name": "t"}]})
        await asyncio.sleep(0.01)
        # Then the probe for the per-request era: older firmware answers -32601.
        probe = link.sent[-1][1]
        assert probe["method"] == "server/discover"
        assert probe["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
        link._on_message({"jsonrpc": "2.0", "id": probe["id"], "error": {"code": METHOD_NOT_FOUND, "message": "no"}})
        await init
        assert link.server_info == {"name": "f"} and [t["name"] for t in link.tools] == ["t"]
        assert link.modern == ()
        link.state = "up"

        # Progress restarts the clock: answered after 0.55 s with a timeout of 0.3 s.
        seen = []

        async def on_progress(p):
            seen.append(p["progress"])
        call = asyncio.ensure_future(link.request("tools/call", {"name": "t"}, on_progress=on_progress))
        await asyncio.sleep(0)
        rid = link.sent[-1][1]["id"]
        assert link.sent[-1][1]["params"]["_meta"] == {"progressToken": rid}
        for i, t in enumerate((0.2, 0.4), 1):
            loop.call_later(t, link._on_message, {"jsonrpc": "2.0", "method": "notifications/progress",
                                                  "params": {"progressToken": rid, "progress": i}})
        answer(rid, {"ok": True}, after=0.55)
        assert await call == {"ok": True} and seen == [1, 2]

        # No answer: the request fails and the device is told to stop; its late answer is no stray.
        with pytest.raises(LinkError, match="did not answer tools/call within 0.3 s"):
            await link.request("tools/call", {"name": "t"})
        cancel = link.sent[-1][1]
        assert cancel["method"] == "notifications/cancelled"
        answer(cancel["params"]["requestId"])
        answer(9999)  # never asked for
        await asyncio.sleep(0.01)
        assert link.stray == 1 and link.info()["pending"] == 0

        # An error from the device, and a request from it the bridge cannot serve.
        call = asyncio.ensure_future(link.request("nope"))
        await asyncio.sleep(0)
        link._on_message({"jsonrpc": "2.0", "id": link.sent[-1][1]["id"],
                          "error": {"code": METHOD_NOT_FOUND, "message": "no"}})
        with pytest.raises(DeviceError) as e:
            await call
        assert e.value.code == METHOD_NOT_FOUND
        link._on_message({"jsonrpc": "2.0", "id": "x", "method": "roots/list"})
        assert link.sent[-1][1] == {"jsonrpc": "2.0", "id": "x",
                                    "error": {"code": METHOD_NOT_FOUND, "message": "the bridge serves no requests"}}

        # The session ends: every request in flight fails at once.
        call = asyncio.ensure_future(link.request("tools/call", {"name": "t"}, timeout=10))
        await asyncio.sleep(0)
        link._mark_down("gone")
        with pytest.raises(LinkError, match="disconnected"):
            await call
        assert link.state == "down"
    asyncio.run(main())
