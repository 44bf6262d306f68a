# Device log records: the last few kept for device://log, each sent to the sessions whose
# logging level lets it through (MCP notifications/message). stdout belongs to the protocol.
import time
from . import server

_ring = []
size = 16  # set from the config


def log(level, data, logger="edgemcp"):
    try:
        n = server.LEVELS.index(level)
    except ValueError:
        n, level = 1, "info"
    if len(_ring) >= size:
        _ring.pop(0)
    _ring.append({"t": time.ticks_ms(), "level": level, "logger": logger, "data": data})
    for s in server.sessions:
        if s.ready and n >= s.level:
            server.notify(s, "notifications/message", {"level": level, "logger": logger, "data": data})
    server.notify_resource_updated("device://log")


def records():
    return _ring
