"""The fleet endpoint (`/mcp/fleet`, `edgemcp bridge --stdio --fleet`): every device of the bridge
behind a tool list that does not grow with the fleet.

- One tool per distinct device tool (same name and input schema), with a required `device`
  argument: one device that has the tool (an `enum` of them up to ENUM_MAX devices, a pattern
  beyond), or "*" to call every device that has it, or those listed in the optional `devices`.
  A fan-out call runs at most `concurrency` device calls at a time and returns one result per
  device (`structuredContent.results`); a device that fails is reported in its own entry and the
  call is an error only when every device failed.
- Two tools with the same name and different schemas (different firmware) are two fleet tools:
  the one more devices have keeps the name, the other is NAME.SCHEMAHASH (the same on every
  bridge of the fleet).
- `fleet_devices` (a tool) and `fleet://devices` (a resource): every device with its kind,
  board, firmware, state, last seen, and what its device_info reports (heap, queue depth,
  uptime), asked of each device that is up when read.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import time

from mcp.shared.exceptions import MCPError

from .link import DeviceError, LinkError
from .protocol import INVALID_PARAMS, RESOURCE_NOT_FOUND

log = logging.getLogger("edgemcp.fleet")

FLEET = "fleet"  # the endpoint's name: no device may be called so
ENUM_MAX = 64  # device names listed in a tool's schema up to this many (a model reads them all)
DEVICE_PATTERN = r"^(\*|[A-Za-z0-9_./-]{1,64})$"
DEVICES_TOOL = "fleet_devices"
DEVICES_URI = "fleet://devices"
INFO_TIMEOUT = 5.0  # s a device may take to answer device_info for the fleet report
SELECTORS = ("device", "devices")


def _schema_key(schema):
    return hashlib.sha256(json.dumps(schema or {}, sort_keys=True).encode()).hexdigest()[:8]


class Group:
    """One fleet tool: a device tool (name and input schema) and the devices that have it."""

    def __init__(self, tool, key):
        self.tool = tool
        self.key = key
        self.devices = []
        self.name = tool["name"]


def catalog(links):
    """fleet tool name -> Group, for the devices that are up, in a deterministic order."""
    groups = {}
    for link in sorted(links, key=lambda lk: lk.name):
        if link.state != "up":
            continue
        for t in link.tools:
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                continue
            props = (t.get("inputSchema") or {}).get("properties") or {}
            if any(s in props for s in SELECTORS):
                log.warning("device %s: tool %s has its own %s argument: left off the fleet endpoint",
                            link.name, t["name"], "/".join(s for s in SELECTORS if s in props))
                continue
            key = (t["name"], _schema_key(t.get("inputSchema")))
            groups.setdefault(key, Group(t, key[1])).devices.append(link.name)
    by_name = {}
    for g in groups.values():
        by_name.setdefault(g.name, []).append(g)
    out = {}
    for name, gs in sorted(by_name.items()):
        gs.sort(key=lambda g: (-len(g.devices), g.key))
        for i, g in enumerate(gs):
            g.name = name if i == 0 else f"{name}.{g.key}"
            out[g.name] = g
    return out


def fleet_tool(g):
    """The MCP tool of a Group: the device tool's schema with the selectors in front."""
    t = g.tool
    schema = copy.deepcopy(t.get("inputSchema") or {"type": "object"})
    device = {"type": "string", "description": "the device to call, or \"*\" for every device that has "
              "this tool (or those in `devices`); fleet_devices lists them"}
    if len(g.devices) <= ENUM_MAX:
        device["enum"] = [*g.devices, "*"]
    else:
        device["pattern"] = DEVICE_PATTERN
    schema["properties"] = {
        "device": device,
        "devices": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True,
                    "description": "with device \"*\": call only these devices"},
        **(schema.get("properties") or {})}
    schema["required"] = ["device", *[r for r in schema.get("required") or () if r not in SELECTORS]]
    out = {"name": g.name, "inputSchema": schema,
           "description": f"{t.get('description') or g.tool['name']} (on {len(g.devices)} "
                          f"device{'s' if len(g.devices) != 1 else ''}; device \"*\" calls them all and "
                          "returns one result per device)"}
    for k in ("title", "annotations"):
        if k in t:
            out[k] = t[k]
    # No outputSchema: a fan-out's result is the list of the devices' results, not one of them.
    return out


DEVICES_TOOL_DEF = {
    "name": DEVICES_TOOL,
    "description": "Every device of the fleet: name, kind (serial, virtual or mqtt), board, firmware, state "
                   "(up/down), last seen, and its heap, event queue depth and uptime (asked of each "
                   "device that is up).",
    "inputSchema": {"type": "object", "properties": {
        "state": {"type": "string", "enum": ["up", "down"], "description": "only devices in this state"}}},
    "annotations": {"readOnlyHint": True},
}

REPORTED = ("board", "micropython", "device_id", "uptime_ms", "heap_free", "heap_alloc", "queue_depth")


class Fleet:
    def __init__(self, bridge, concurrency=16):
        if concurrency < 1:
            raise ValueError("fleet concurrency must be at least 1")
        self.bridge = bridge
        self.concurrency = concurrency
        self.reports = {}  # device name -> the last device_info it answered, and when
        self._sig, self._groups, self._held = None, {}, ()

    def catalog(self):
        """catalog() of the bridge's links, made again only when a device joins, leaves, goes up
        or down or has a new tool list (200 devices' schemas are not hashed on every call)."""
        links = list(self.bridge.links.values())
        sig = tuple((lk.name, lk.state, id(lk.tools)) for lk in links)
        if sig != self._sig:
            # the lists are held so that no new list can get an old one's id
            self._sig, self._groups, self._held = sig, catalog(links), [lk.tools for lk in links]
        return self._groups

    def tools(self):
        return [DEVICES_TOOL_DEF, *(fleet_tool(g) for g in self.catalog().values())]

    async def call(self, name, arguments, on_progress=None, on_log=None):
        if name == DEVICES_TOOL:
            state = (arguments or {}).get("state")
            rows = [r for r in await self.devices() if state in (None, r["state"])]
            return {"content": [{"type": "text", "text": json.dumps({"devices": rows})}],
                    "structuredContent": {"devices": rows}}
        groups = self.catalog()
        g = groups.get(name)
        if g is None:
            raise MCPError(code=INVALID_PARAMS, message=f"unknown tool {name!r} on the fleet",
                           data={"tools": [DEVICES_TOOL, *groups]})
        args = dict(arguments or {})
        device, devices = args.pop("device", None), args.pop("devices", None)
        if not isinstance(device, str):
            raise MCPError(code=INVALID_PARAMS, message=f"{name}: `device` is required: one of the devices "
                           "that have the tool, or \"*\"", data={"devices": g.devices})
        if device != "*":
            if devices is not None:
                raise MCPError(code=INVALID_PARAMS, message=f"{name}: `devices` goes with device \"*\"")
            if device not in g.devices:
                raise MCPError(code=INVALID_PARAMS, message=f"device {device!r} has no tool {name!r} on the fleet"
                               " (or is not up)", data={"devices": g.devices})
            return await self.bridge.call_tool(self.bridge.links[device], g.tool["name"], args,
                                               on_progress=on_progress, on_log=on_log)
        if devices is None:
            targets = g.devices
        elif (isinstance(devices, list) and devices and all(isinstance(d, str) for d in devices)
              and len(set(devices)) == len(devices)):
            targets = devices
        else:
            raise MCPError(code=INVALID_PARAMS, message=f"{name}: `devices` is a non-empty list of distinct "
                           "device names")
        return await self._fan_out(g, targets, args, on_progress)

    async def _fan_out(self, g, targets, args, on_progress):
        gate = asyncio.Semaphore(self.concurrency)
        done = [0]

        async def one(dev):
            entry = {"device": dev}
            if dev not in g.devices:
                entry["error"] = {"code": INVALID_PARAMS, "message": f"device {dev!r} has no tool {g.name!r} "
                                  "on the fleet (or is not up)"}
                return entry
            async with gate:
                try:
                    r = await self.bridge.call_tool(self.bridge.links[dev], g.tool["name"], args)
                except MCPError as e:
                    entry["error"] = {"code": e.code, "message": e.message}
                else:
                    entry.update(r)
                    entry["isError"] = bool(r.get("isError"))
            done[0] += 1
            if on_progress is not None:
                await on_progress({"progress": done[0], "total": len(targets), "message": f"{dev} answered"})
            return entry

        results = await asyncio.gather(*(one(d) for d in targets))
        failed = sum(1 for r in results if "error" in r or r.get("isError"))
        summary = {"results": results, "devices": len(results), "failed": failed}
        return {"content": [{"type": "text", "text": json.dumps(summary)}], "structuredContent": summary,
                "isError": failed == len(results)}

    async def devices(self):
        """The fleet report: one row per device, device_info asked anew of those that are up."""
        links = sorted(self.bridge.links.values(), key=lambda lk: lk.name)
        # one moment's states: a row says "up" only if its device was up when its report was asked
        # (one that comes up meanwhile shows its earlier state, not "up" without a report)
        states = {lk.name: lk.state for lk in links}
        gate = asyncio.Semaphore(self.concurrency)

        async def ask(link):
            if states[link.name] != "up" or not any(t.get("name") == "device_info" for t in link.tools):
                return
            async with gate:
                try:
                    r = await link.request("tools/call", {"name": "device_info", "arguments": {}},
                                           timeout=INFO_TIMEOUT)
                except (LinkError, DeviceError) as e:
                    log.info("device %s: device_info for the fleet report: %s", link.name, e)
                    return
            info = r.get("structuredContent")
            if isinstance(info, dict) and not r.get("isError"):
                self.reports[link.name] = (info, time.time())

        await asyncio.gather(*(ask(lk) for lk in links))
        return [self._row(lk, states[lk.name]) for lk in links]

    def _row(self, link, state):
        info, at = self.reports.get(link.name, ({}, None))
        si = link.server_info or {}
        row = {"device": link.name, "kind": link.transport.kind, "state": state,
               "board": info.get("board"), "firmware": info.get("firmware") or si.get("version"),
               "last_seen": _iso(link.last_seen), "reported_at": _iso(at), "tools": len(link.tools),
               "last_error": link.last_error}
        for k in REPORTED:
            if k != "board":
                row[k] = info.get(k)
        if getattr(link, "sid", None):
            row["server_id"], row["server_name"] = link.sid, link.server_name
        return row

    async def read(self, uri):
        if uri != DEVICES_URI:
            raise MCPError(code=RESOURCE_NOT_FOUND, message=f"unknown resource {uri!r} on the fleet "
                           f"(it has {DEVICES_URI})", data={"uri": uri})
        return {"contents": [{"uri": DEVICES_URI, "mimeType": "application/json",
                              "text": json.dumps({"devices": await self.devices()})}]}


DEVICES_RESOURCE = {"uri": DEVICES_URI, "name": "devices", "mimeType": "application/json",
                    "description": "Same as the fleet_devices tool."}


def _iso(t):
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
