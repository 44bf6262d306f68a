# Extends the unix port's built-in machine module with what a board has and the firmware uses.
import sys as _sys

# The documented way to extend a built-in: hide sys.path so the import finds the built-in.
_path = _sys.path
_sys.path = ()
try:
    from machine import *  # noqa: F401,F403
finally:
    _sys.path = _path
import os as _os

_uid = None


def unique_id():
    # Stable per virtual device: EDGEMCP_DEVICE_ID if set, else derived from the host name.
    global _uid
    if _uid is None:
        v = _os.getenv("EDGEMCP_DEVICE_ID")
        if v:
            _uid = v.encode()
        else:
            import binascii
            try:
                with open("/etc/hostname") as f:
                    h = f.read().strip()
            except OSError:
                h = "virtual"
            c = binascii.crc32(h.encode())
            _uid = bytes((0xED, 0x6E, c >> 24 & 255, c >> 16 & 255, c >> 8 & 255, c & 255))
    return _uid


def reset():
    soft_reset()
