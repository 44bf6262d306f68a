"""Bad input on the serial link: each is answered with the right JSON-RPC error and the
device stays up (it answers ping afterwards)."""
import pytest

from rawdevice import RawDevice
from vdevice import board_root

PING = {"jsonrpc": "2.0", "id": "p", "method": "ping"}


@pytest.fixture
def dev(tmp_path):
    d = RawDevice(board_root(tmp_path, {"test_tools": True}))
    yield d
    d.close()


def assert_alive(dev):
    dev.send(PING)
    assert dev.recv() == {"jsonrpc": "2.0", "id": "p", "result": {}}


def error_of(dev, raw: bytes):
    dev.send_raw(raw)
    r = dev.recv()
    assert r is not None, f"no answer to {raw[:60]!r}"
    assert "error" in r, r
    return r["id"], r["error"]["code"]


@pytest.mark.parametrize("raw,rid,code", [
    (b"this is not json\n", None, -32700),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"\n', None, -32700),
    (b'{"jsonrpc": "2.0", "id": 1, "method" "ping"}\n', None, -32700),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"]\n', None, -32700),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "ping",}\n', None, -32700),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "ping"} trailing\n', None, -32700),
    (b'{"jsonrpc":"2.0","id":1,"method":"echo\xff\xfe"}\n', None, -32700),
    (b'{"jsonrpc": "1.0", "id": 3, "method": "ping"}\n', 3, -32600),
    (b'{"id": 4, "method": "ping"}\n', 4, -32600),
    (b'{"jsonrpc": "2.0", "id": 5}\n', 5, -32600),
    (b'{"jsonrpc": "2.0", "id": 6, "method": 17}\n', 6, -32600),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}\n', None, -32600),
    (b'{"jsonrpc": "2.0", "id": [1], "method": "ping"}\n', None, -32600),
    (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}\n', None, -32600),
    (b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}\n', None, -32600),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "ping", "params": "x"}\n', 7, -32600),
    (b'{"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": [1, 2]}\n', 8, -32602),
    (b'[{"jsonrpc": "2.0", "id": 9, "method": "ping"}]\n', None, -32600),
    (b'"just a string"\n', None, -32600),
    (b'{"jsonrpc": "2.0", "id": 10, "method": "server/discover", "params": {}}\n', 10, -32601),
    (b'{"jsonrpc": "2.0", "id": 11, "method": "no/such/method"}\n', 11, -32601),
    (b'{"jsonrpc": "2.0", "id": 12, "method": "tools/list", "params": {"cursor": "zz"}}\n', 12, -32602),
    (b'{"jsonrpc": "2.0", "id": 13, "method": "resources/read", "params": {"uri": "device://none"}}\n', 13, -32002),
    (b'{"jsonrpc": "2.0", "id": 14, "method": "prompts/get", "params": {"name": "nope"}}\n', 14, -32602),
    (b'{"jsonrpc": "2.0", "id": 15, "method": "logging/setLevel", "params": {"level": "loud"}}\n', 15, -32602),
    (b'{"jsonrpc": "2.0", "id": 16, "method": "tools/call", "params": {"arguments": {}}}\n', 16, -32602),
])
def test_bad_message(dev, raw, rid, code):
    dev.initialize()
    assert error_of(dev, raw) == (rid, code)
    assert_alive(dev)


def test_requests_before_initialize(dev):
    assert_alive(dev)  # ping is allowed before initialize
    assert error_of(dev, b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}\n') == (1, -32600)
    assert error_of(dev, b'{"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {}}\n') == (2, -32602)
    r = dev.initialize()
    assert r["result"]["protocolVersion"] == "2025-11-25"
    assert "tools" in dev.request("tools/list")["result"]


@pytest.mark.parametrize("asked,got", [("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                                       ("2025-03-26", "2025-03-26"), ("2024-11-05", "2025-11-25"),
                                       ("2099-01-01", "2025-11-25")])
def test_version_negotiation(dev, asked, got):
    assert dev.initialize(asked)["result"]["protocolVersion"] == got


def test_overlong_line_dropped_whole(dev):
    dev.initialize()
    # 20 KiB > the 16 KiB default: dropped whole, even though it is a valid request
    big = b'{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"echo","arguments":{"text":"' + b"x" * 20000 + b'"}}}\n'
    assert error_of(dev, big) == (None, -32600)
    # a line just under the maximum goes through
    text = "y" * 16000
    r = dev.request("tools/call", {"name": "echo", "arguments": {"text": text}})
    assert r["result"]["content"][0]["text"] == text
    assert_alive(dev)


def test_deeply_nested_json(dev):
    dev.initialize()
    deep = b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":' + b"[" * 5000 + b"]" * 5000 + b"}}}\n"
    assert error_of(dev, deep) == (None, -32600)
    # nesting within the limit is a normal request: here a bad argument type
    ok = b'{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"text":' + b"[" * 20 + b"]" * 20 + b"}}}\n"
    dev.send_raw(ok)
    r = dev.recv()
    assert r["id"] == 6 and r["result"]["isError"] and "arguments.text" in r["result"]["content"][0]["text"]
    assert_alive(dev)


def test_tool_call_errors_are_results(dev):
    """Bad arguments are the tool's error (a result); an unknown tool is a protocol error."""
    dev.initialize()
    e = dev.request("tools/call", {"name": "ghost", "arguments": {}})["error"]
    assert e["code"] == -32602 and "unknown tool: ghost" in e["message"] and e["data"] == {"tool": "ghost"}
    r = dev.request("tools/call", {"name": "slow", "arguments": {"seconds": 100}})["result"]
    assert r["isError"] and "arguments.seconds: must be <= 60" in r["content"][0]["text"]
    r = dev.request("tools/call", {"name": "slow", "arguments": {"seconds": 1, "steps": 2.5}})["result"]
    assert r["isError"] and "arguments.steps: expected integer" in r["content"][0]["text"]
    assert_alive(dev)


def test_cancel_suppresses_reply_and_stops_work(dev):
    dev.initialize()
    dev.send({"jsonrpc": "2.0", "id": 70, "method": "tools/call",
              "params": {"name": "slow", "arguments": {"seconds": 1.0, "steps": 10}, "_meta": {"progressToken": "t"}}})
    first = dev.recv()
    assert first["method"] == "notifications/progress" and first["params"]["progressToken"] == "t"
    dev.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 70, "reason": "test"}})
    assert_alive(dev)
    # nothing more from request 70: no reply, no progress, for longer than it would have run
    assert dev.recv(timeout=1.5) is None


def test_resource_updated_notification(dev):
    dev.initialize()
    assert dev.request("resources/subscribe", {"uri": "device://log"})["result"] == {}
    updated = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "device://log"}}
    dev.request("tools/call", {"name": "fail", "arguments": {}})
    assert updated in dev.others
    assert dev.request("resources/unsubscribe", {"uri": "device://log"})["result"] == {}
    dev.others.clear()
    dev.request("tools/call", {"name": "fail", "arguments": {}})
    assert dev.others and updated not in dev.others  # the log message came, the update did not


def test_ten_thousand_bad_messages_leak_nothing(dev):
    dev.initialize()
    def heap():
        return dev.request("tools/call", {"name": "device_info", "arguments": {}})["result"]["structuredContent"]["heap_alloc"]

    heap()  # first call warms what is made once
    before = heap()
    bad = [
        b"not json\n", b'{"jsonrpc": "2.0", "id": 1\n', b'{"jsonrpc":"2.0","id":2,"method":"\xff"}\n',
        b'{"jsonrpc": "1.0", "id": 3, "method": "ping"}\n', b'{"jsonrpc": "2.0", "id": [3], "method": "ping"}\n',
        b'[1, 2, 3]\n', b'{"jsonrpc": "2.0", "id": 4, "method": "nope"}\n', b"[" * 40 + b"]" * 40 + b"\n",
        b'{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "add", "arguments": {"a": "x"}}}\n',
        b'{"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "ghost"}}\n',
    ]
    sent = 0
    while sent < 10000:  # in batches, reading the answers, so neither side's pipe fills up
        batch = [bad[(sent + i) % len(bad)] for i in range(100)]
        dev.send_raw(b"".join(batch))
        for _ in batch:
            r = dev.recv()
            assert r is not None and ("error" in r or r["result"].get("isError")), r
        sent += len(batch)
    assert_alive(dev)
    after = heap()
    assert abs(after - before) <= 1024, f"heap in use went from {before} to {after} bytes"
