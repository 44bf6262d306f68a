"""The bridge's `/healthz` and `/metrics` (Prometheus text format, made by `prometheus_client`
with one CollectorRegistry per bridge, never the process-global one).

Counted as they happen: tool calls, their errors and latency (per device and tool, by the
bridge's MCP endpoints). Read when scraped: devices by state, device link reconnects, the
broker links, the events relay's queue and MQTT messages in and out (broker.message_counts)."""
from __future__ import annotations

import collections

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from . import broker

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the format generate_latest writes
UNKNOWN_TOOL = "(unknown)"  # a name the device does not list: not a label value of its own
# Device calls take from a millisecond (a GPIO read) to seconds (an inference on a board).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, bridge):
        self.bridge = bridge
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter("edgemcp_tool_calls", "tools/call requests the bridge forwarded to a device",
                             ["device", "tool"], registry=self.registry)
        self.errors = Counter("edgemcp_tool_errors", "tools/call that failed: kind=tool (a result with "
                              "isError) or kind=protocol (a JSON-RPC error: link down, timeout, bad params)",
                              ["device", "tool", "kind"], registry=self.registry)
        self.latency = Histogram("edgemcp_tool_call_seconds", "tools/call latency through the bridge",
                                 ["device"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(_State(bridge))

    def tool_label(self, link, name):
        return name if any(t.get("name") == name for t in link.tools) else UNKNOWN_TOOL

    def observe_call(self, link, name, seconds, error=None):
        """One tools/call: error None, "tool" or "protocol"."""
        tool = self.tool_label(link, name)
        self.calls.labels(link.name, tool).inc()
        self.latency.labels(link.name).observe(seconds)
        if error:
            self.errors.labels(link.name, tool, error).inc()

    def exposition(self):
        return generate_latest(self.registry)


def broker_links(bridge):
    """name -> "up" | "down" for each broker connection of the bridge's MQTT side (empty without
    --mqtt): `events` (the bridge's own client) and `discovery` (the presence watcher)."""
    side = getattr(bridge, "mqtt", None)
    if side is None:
        return {}
    out = {"events": side.client}
    if side.discovery is not None:
        out["discovery"] = side.discovery.client
    return {k: "up" if c is not None and c.is_connected() else "down" for k, c in out.items()}


def health(bridge):
    """(HTTP status, JSON body) of /healthz: 200 while every broker link is up, else 503."""
    links = broker_links(bridge)
    ok = all(s == "up" for s in links.values())
    side = getattr(bridge, "mqtt", None)
    body = {"status": "ok" if ok else "unhealthy",
            "devices": [{"name": lk.name, "kind": lk.transport.kind, "state": lk.state}
                        for lk in bridge.links.values()]}
    if side is not None:
        body["broker"] = {"url": side._settings()["url"], "state": "up" if ok else "down", "links": links,
                          "reconnects": side.reconnects}
    return (200 if ok else 503), body


class _State:
    """What is read from the bridge at scrape time."""

    STATES = ("up", "down")

    def __init__(self, bridge):
        self.bridge = bridge

    def describe(self):
        return []  # built on each scrape: nothing to check at registration

    def collect(self):
        links = list(self.bridge.links.values())
        by_state = collections.Counter((lk.transport.kind, lk.state) for lk in links)
        g = GaugeMetricFamily("edgemcp_devices", "devices of the bridge by link kind and state",
                              labels=["kind", "state"])
        for kind in sorted({lk.transport.kind for lk in links}):
            for state in sorted(set(self.STATES) | {s for k, s in by_state if k == kind}):
                g.add_metric([kind, state], by_state[(kind, state)])
        yield g
        c = CounterMetricFamily("edgemcp_link_reconnects", "device link connections after the first",
                                labels=["device"])
        for lk in links:
            c.add_metric([lk.name], max(lk.connects - 1, 0))
        yield c
        side = getattr(self.bridge, "mqtt", None)
        if side is not None:
            g = GaugeMetricFamily("edgemcp_broker_up", "1 while the broker connection is up", labels=["link"])
            for name, state in broker_links(self.bridge).items():
                g.add_metric([name], 1 if state == "up" else 0)
            yield g
            yield CounterMetricFamily("edgemcp_broker_reconnects", "reconnections of the bridge's broker "
                                      "client after the first connection", value=side.reconnects)
            relay = side.relay
            if relay is not None:
                yield CounterMetricFamily("edgemcp_events_drained", "device events published to the broker",
                                          value=relay.published)
                yield CounterMetricFamily("edgemcp_events_duplicates", "device events the device sent again",
                                          value=relay.duplicates)
                g = GaugeMetricFamily("edgemcp_events_queue_depth", "device events published and not yet "
                                      "acknowledged to the device (waiting for the broker's PUBACK)",
                                      labels=["device"])
                for name, s in list(relay.streams.items()):
                    g.add_metric([name], len(s.inflight))
                yield g
        counts = broker.message_counts()
        c = CounterMetricFamily("edgemcp_mqtt_messages", "MQTT PUBLISH packets of this process's broker "
                                "clients", labels=["direction"])
        c.add_metric(["in"], counts["in"])
        c.add_metric(["out"], counts["out"])
        yield c
