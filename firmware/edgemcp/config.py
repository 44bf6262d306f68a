# The device configuration: /edgemcp.json on the device filesystem, over built-in defaults,
# so a device with no file works.
import json
try:
    import jsoncheck
except ImportError:  # stock firmware: the same check in Python
    from . import jsonstrict as jsoncheck

PATH = "/edgemcp.json"


def defaults():
    # A fresh dict each call: the app keeps one configuration, not a second copy of defaults.
    return {
        "name": "edgemcp",
        "max_line": 16384,  # bytes in one serial line (one JSON-RPC message)
        "page_bytes": 4096,  # budget of one tools/list (resources/list, prompts/list) page
        "log_records": 16,  # records kept for device://log
        "models_dir": "/models",
        "queue_policy": "drop_oldest",  # a full event queue drops its oldest events ("reject": emit fails)
        "queue_dir": "/eventq",  # without a raw "queue" partition (stock firmware): the queue's files here
        "queue_size": 65536,  # ... and their size when first made (16 sectors of 4 KiB)
        "test_tools": False,  # the echo/slow/fail fixture tools for tests and clients' conformance runs
        "modules": [],  # modules to import at start (their @tool/@resource/@prompt declarations)
    }


_SECRET = ("password", "secret", "token", "psk", "key")


def load(path=PATH):
    """-> (config dict, problem or None). A missing file is not a problem; a bad one is
    reported and the defaults are used."""
    cfg = defaults()
    try:
        with open(path) as f:
            text = f.read()
        jsoncheck.check(text, 64)  # json.loads alone takes a truncated file for a shorter object
        user = json.loads(text)
    except OSError:
        return cfg, None
    except ValueError as e:
        return cfg, "%s is not valid JSON (%s): using defaults" % (path, e)
    if not isinstance(user, dict):
        return cfg, "%s must hold a JSON object: using defaults" % path
    cfg.update(user)
    return cfg, None


def redacted(v):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            lk = k.lower()
            out[k] = "***" if any(w in lk for w in _SECRET) and x not in (None, "") else redacted(x)
        return out
    if isinstance(v, list):
        return [redacted(x) for x in v]
    return v
