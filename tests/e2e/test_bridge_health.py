"""The bridge's /healthz and /metrics against a real bridge process, a virtual device, the mcp SDK
client and mosquitto: /metrics parsed by prometheus_client's own parser and its counters checked
against the calls made; /healthz unhealthy while the broker is down and healthy once it is back
on the same port."""
import json
import time
import urllib.error
import urllib.request

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from _support.bridge import BridgeProc, http_client
from mqtt_broker import Broker

pytestmark = pytest.mark.timeout(150)

TOKEN = "health-test-token"


def get(bridge, path, token=None, headers=None):
    """(status, headers, body bytes) of a GET, errors included."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(bridge.base + path, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def healthz(bridge):
    status, _, body = get(bridge, "/healthz")
    return status, json.loads(body)


def wait_health(bridge, status, timeout):
    t0 = time.monotonic()
    while True:
        got, body = healthz(bridge)
        if got == status:
            return time.monotonic() - t0, body
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"/healthz not {status} after {timeout} s: {got} {body}")
        time.sleep(0.1)


def scrape(bridge):
    status, headers, body = get(bridge, "/metrics", TOKEN)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


async def _calls(bridge):
    http, client = http_client(bridge.url, token=TOKEN, mode="legacy", read_timeout_seconds=30)
    async with http, client as c:
        for i in range(3):
            assert (await c.call_tool("h.echo", {"text": f"hi {i}"})).content[0].text == f"hi {i}"
        assert (await c.call_tool("h.add", {"a": 2, "b": 3})).structured_content == {"sum": 5}
        assert (await c.call_tool("h.fail", {"message": "boom"})).is_error  # a tool error
        for ghost in ("h.ghost-1", "h.ghost-2"):  # names a device does not list: one label
            with pytest.raises(MCPError, match="unknown tool"):  # MCP's protocol error -32602
                await c.call_tool(ghost, {})
        r = await c.call_tool("h.emit", {"stream": "test", "count": 4})
        assert not r.is_error, r
        with pytest.raises(MCPError, match="timed out|did not answer|timeout"):  # a JSON-RPC error
            await c.call_tool("h.slow", {"seconds": 4, "steps": 1})  # over the bridge's --timeout 2


def test_metrics_count_the_calls_and_healthz_follows_the_broker(tmp_path):
    broker = Broker(tmp_path / "mosquitto").start()
    bridge = BridgeProc(tmp_path, ("h",), "--mqtt", broker.url, "--timeout", "2", token=TOKEN)
    try:
        bridge.wait_state("h", "up")
        # /healthz: no token needed (a probe carries none), Host still checked; /metrics needs it.
        _, body = wait_health(bridge, 200, 15)
        assert body["status"] == "ok"
        assert body["devices"] == [{"name": "h", "kind": "virtual", "state": "up"}]
        assert body["broker"]["state"] == "up" and body["broker"]["url"] == broker.url
        assert set(body["broker"]["links"]) == {"events", "discovery"}
        assert get(bridge, "/healthz", headers={"Host": "evil.example"})[0] == 421
        assert get(bridge, "/metrics")[0] == 401
        assert get(bridge, "/metrics", "wrong-token")[0] == 401

        before = scrape(bridge)
        assert value(before, "edgemcp_devices", kind="virtual", state="up") == 1
        assert value(before, "edgemcp_devices", kind="virtual", state="down") == 0
        assert value(before, "edgemcp_tool_call_seconds_count", device="h") is None  # nothing called yet
        assert value(before, "edgemcp_broker_up", link="events") == 1
        out0 = value(before, "edgemcp_mqtt_messages_total", direction="out")
        anyio.run(_calls, bridge)

        deadline = time.monotonic() + 15
        while True:  # the events are published once the device hands them over
            m = scrape(bridge)
            if value(m, "edgemcp_events_drained_total") == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert value(m, "edgemcp_events_drained_total") == 4
        calls = {tool: value(m, "edgemcp_tool_calls_total", device="h", tool=tool)
                 for tool in ("echo", "add", "fail", "emit", "slow")}
        assert calls == {"echo": 3, "add": 1, "fail": 1, "emit": 1, "slow": 1}
        assert value(m, "edgemcp_tool_errors_total", device="h", tool="fail", kind="tool") == 1
        assert value(m, "edgemcp_tool_errors_total", device="h", tool="slow", kind="protocol") == 1
        assert value(m, "edgemcp_tool_errors_total", device="h", tool="echo", kind="tool") is None
        assert value(m, "edgemcp_tool_calls_total", device="h", tool="(unknown)") == 2
        assert value(m, "edgemcp_tool_errors_total", device="h", tool="(unknown)", kind="protocol") == 2
        assert not any(labels and dict(labels).get("tool", "").startswith("ghost") for _, labels in m)
        assert value(m, "edgemcp_tool_call_seconds_count", device="h") == 9
        assert value(m, "edgemcp_tool_call_seconds_bucket", device="h", le="+Inf") == 9
        assert 0 < value(m, "edgemcp_tool_call_seconds_sum", device="h") < 30
        assert value(m, "edgemcp_events_queue_depth", device="h") is not None
        # 4 events, the presenter's and the MCP traffic: more out than before, and some in.
        assert value(m, "edgemcp_mqtt_messages_total", direction="out") >= out0 + 4
        assert value(m, "edgemcp_mqtt_messages_total", direction="in") > 0
        assert value(m, "edgemcp_link_reconnects_total", device="h") == 0
        assert value(m, "edgemcp_broker_reconnects_total") == 0

        broker.stop()
        took, body = wait_health(bridge, 503, 10)
        assert body["status"] == "unhealthy" and body["broker"]["state"] == "down"
        assert body["devices"] == [{"name": "h", "kind": "virtual", "state": "up"}]  # the device is fine
        assert value(scrape(bridge), "edgemcp_broker_up", link="events") == 0
        print(f"/healthz 503 {took:.2f} s after the broker stopped")

        broker.start()  # same port
        took, body = wait_health(bridge, 200, 30)
        assert body["broker"]["state"] == "up"
        print(f"/healthz 200 {took:.2f} s after the broker came back")
        m = scrape(bridge)
        assert value(m, "edgemcp_broker_up", link="events") == 1
        assert value(m, "edgemcp_broker_reconnects_total") == 1
        assert value(m, "edgemcp_tool_calls_total", device="h", tool="echo") == 3  # counters kept
    finally:
        bridge.stop()
        broker.stop()


def test_healthz_and_metrics_without_a_broker(tmp_path):
    bridge = BridgeProc(tmp_path, ("a", "b"))
    try:
        bridge.wait_state("a", "up")
        bridge.wait_state("b", "up")
        status, body = healthz(bridge)
        assert status == 200 and "broker" not in body
        assert sorted(d["name"] for d in body["devices"]) == ["a", "b"]
        m = scrape(bridge)
        assert value(m, "edgemcp_devices", kind="virtual", state="up") == 2
        assert value(m, "edgemcp_broker_up", link="events") is None
    finally:
        bridge.stop()
