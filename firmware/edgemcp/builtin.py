# The tools, resources and prompt every edgemcp device has.
import gc
import sys
import time
import binascii
import machine
from .registry import tool, resource, prompt, ToolError
from . import app, config, logs, VERSION

_START = time.ticks_ms()


def device_id():
    return binascii.hexlify(machine.unique_id()).decode()


def _info():
    gc.collect()
    v = sys.implementation.version
    return {
        "name": app.cfg["name"],
        "board": getattr(sys.implementation, "_machine", sys.platform),
        "platform": sys.platform,
        "firmware": VERSION,
        "micropython": "%d.%d.%d" % (v[0], v[1], v[2]),
        "device_id": device_id(),
        "uptime_ms": time.ticks_diff(time.ticks_ms(), _START),
        "heap_free": gc.mem_free(),
        "heap_alloc": gc.mem_alloc(),
    }


@tool("Board, firmware and MicroPython versions, device id, uptime and heap (after a collection).",
      annotations={"readOnlyHint": True})
def device_info():
    return _info()


@tool("Soft-reset the device (the app restarts; connections drop). Needs confirm: true.",
      {"confirm": {"type": "boolean", "description": "must be true"}},
      annotations={"destructiveHint": True})
def device_reset(confirm):
    if confirm is not True:
        raise ToolError("refusing to reset: pass confirm: true")
    app.stop(reset=True)
    return "resetting"


@resource("device://info", description="Same as the device_info tool.")
def info():
    return _info()


@resource("device://config", description="The device configuration, secrets redacted.")
def device_config():
    return config.redacted(app.cfg)


@resource("device://log", description="The most recent device log records, oldest first.")
def device_log():
    return logs.records()


@prompt("Ask the model to check this device's health with its tools and resources.",
        [{"name": "focus", "description": "what to look at closely (memory, errors, ...)", "required": False}])
def health_check(focus=None):
    t = ("Check the health of the edgemcp device '%s'. Call the device_info tool and read the "
         "device://log resource. Report free and allocated heap, uptime and any warnings or errors "
         "in the log, and say whether anything needs attention." % app.cfg["name"])
    if focus:
        t += " Look closely at: " + focus + "."
    return t
