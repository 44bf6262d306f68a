# The tools, resources and prompt every edgemcp device has.
import gc
import sys
import time
import asyncio
import binascii
import machine
from .registry import tool, resource, prompt, ToolError
from . import config, events, server

_up = [0, time.ticks_ms()]  # uptime counted so far (ms), and the ticks it was counted to
_cfg = None  # the app's configuration and its stop(reset): given by setup()
_stop = None
_no_infer = None  # why this firmware cannot run models (no tflite module), else None


def uptime_ms():
    # ticks_ms wraps (ticks_diff is right for spans under 2**29 ms, 6.2 days, on a board): add
    # up the spans between readings instead (device_info, and _count_up's hourly one).
    now = time.ticks_ms()
    _up[0] += time.ticks_diff(now, _up[1])
    _up[1] = now
    return _up[0]


async def _count_up():
    while True:
        await asyncio.sleep(3600)
        uptime_ms()


def setup(cfg, stop, no_infer=None):
    global _cfg, _stop, _no_infer
    _cfg = cfg
    _stop = stop
    _no_infer = no_infer
    asyncio.create_task(_count_up())  # runs on the app's loop (MicroPython has one task queue)


def _info():
    gc.collect()
    v = sys.implementation.version
    r = {
        "name": _cfg["name"],
        "board": getattr(sys.implementation, "_machine", sys.platform),
        "platform": sys.platform,
        "firmware": server.settings["version"],
        "micropython": "%d.%d.%d" % (v[0], v[1], v[2]),
        "device_id": binascii.hexlify(machine.unique_id()).decode(),
        "uptime_ms": uptime_ms(),
        "heap_free": gc.mem_free(),
        "heap_alloc": gc.mem_alloc(),
        "queue_depth": events.depth(),
        "inference": _no_infer is None,
    }
    if _no_infer:
        r["inference_unavailable"] = _no_infer
    return r


# One report, as a tool and as a resource.
tool("Board, firmware and MicroPython versions, device id, uptime, heap (after a collection) and "
     "the events waiting in the flash queue.",
     name="device_info", annotations={"readOnlyHint": True})(_info)
resource("device://info", name="info", description="Same as the device_info tool.")(_info)


@tool("Soft-reset the device (the app restarts; connections drop). Asks the user to confirm when the "
      "client can ask; else needs confirm: true.",
      {"confirm": {"type": "boolean", "description": "true: reset without asking", "default": False}},
      annotations={"destructiveHint": True}, ctx=True)
async def device_reset(ctx, confirm=False):
    if confirm is not True:
        if not ctx.can_ask("elicitation/create"):
            raise ToolError("refusing to reset: pass confirm: true")
        r = await ctx.elicit("Reset the device '%s'? Its connections drop while it restarts." % _cfg["name"],
                             {"type": "object", "properties": {"reset": {"type": "boolean", "title": "Reset now"}},
                              "required": ["reset"]})
        if r.get("action") != "accept" or (r.get("content") or {}).get("reset") is not True:
            raise ToolError("reset not confirmed")
    _stop(reset=True)
    return "resetting"


@resource("device://config", description="The device configuration, secrets redacted.")
def device_config():
    return config.redacted(_cfg)


@resource("device://log", description="The most recent device log records, oldest first.")
def device_log():
    return server.log_ring


@prompt("Ask the model to check this device's health with its tools and resources.",
        [{"name": "focus", "description": "what to look at closely (memory, errors, ...)", "required": False}],
        complete={"focus": ("memory", "errors", "log", "uptime", "queue")})
def health_check(focus=None):
    t = ("Check the health of the edgemcp device '%s'. Call the device_info tool and read the "
         "device://log resource. Report free and allocated heap, uptime and any warnings or errors "
         "in the log, and say whether anything needs attention." % _cfg["name"])
    if focus:
        t += " Look closely at: " + focus + "."
    return t
