"""Store-and-forward over the serial link, device side: events wait in the flash queue until
the bridge acknowledges them (`edgemcp/events/subscribe`, `notifications/edgemcp/event`,
`edgemcp/events/ack`), in order, and survive the device process being killed."""
import json
import time

from rawdevice import RawDevice
from vdevice import board_root

EVENT = "notifications/edgemcp/event"


def events_until(dev, n, timeout=10):
    got = [m for m in dev.others if m.get("method") == EVENT]
    dev.others = [m for m in dev.others if m.get("method") != EVENT]
    while len(got) < n:
        m = dev.recv(timeout)
        assert m is not None, f"only {len(got)} of {n} events arrived"
        if m.get("method") == EVENT:
            got.append(m["params"])
    return got


def queue_stats(dev):
    r = dev.request("resources/read", {"uri": "device://queue"})
    return json.loads(r["result"]["contents"][0]["text"])


def test_events_wait_for_the_bridge_and_survive_a_kill(tmp_path):
    root = board_root(tmp_path, {"test_tools": True})
    dev = RawDevice(root)
    try:
        dev.initialize()
        r = dev.request("tools/call", {"name": "emit", "arguments": {"stream": "temp", "data": 21.5, "count": 20}})
        first = r["result"]["structuredContent"]["first_seq"]
        assert r["result"]["structuredContent"]["last_seq"] == first + 19
        assert queue_stats(dev)["records"] == 20
        assert not [m for m in dev.others if m.get("method") == EVENT], "events sent before anyone subscribed"
    finally:
        dev.p.kill()  # power gone: nothing was delivered
        dev.p.wait()

    dev = RawDevice(root)
    try:
        dev.initialize()
        assert dev.request("edgemcp/events/subscribe", {})["result"] == {"pending": 20, "forwarding": "serial"}
        got = events_until(dev, 1)
        # one in flight until acknowledged; unacknowledged, the same one comes again later
        assert got[0]["seq"] == first and got[0]["event"] == {"seq": first, "ts": got[0]["event"]["ts"],
                                                                 "stream": "temp", "data": {"i": 0, "data": 21.5}}
        seen = [got[0]["seq"]]
        for _ in range(19):
            dev.request("edgemcp/events/ack", {"seq": seen[-1]})
            seen.append(events_until(dev, 1)[0]["seq"])
        dev.request("edgemcp/events/ack", {"seq": seen[-1]})
        assert seen == list(range(first, first + 20))
        # the queue is acknowledged by the drain task right after the ack request
        for _ in range(50):
            if queue_stats(dev)["records"] == 0:
                break
            time.sleep(0.02)
        assert queue_stats(dev)["records"] == 0
        # a new event while subscribed goes out at once
        dev.request("tools/call", {"name": "emit", "arguments": {"stream": "door", "data": "open"}})
        ev = events_until(dev, 1)[0]
        assert ev["seq"] == first + 20 and ev["event"]["stream"] == "door"
        assert dev.request("edgemcp/events/ack", {"seq": "x"})["error"]["code"] == -32602
    finally:
        dev.close()
