"""The virtual device on a pseudo-terminal, opened by path like a board's serial port, and the
`edgemcp` command run against it (tests of deploy, config, logs and the REPL)."""
import json
import os
import subprocess
import sys
import time

import pytest

from support import DEVICE_BIN, ROOT


@pytest.fixture
def vconsole(tmp_path, device_bin):
    from edgemcp_host.console import VirtualConsole
    v = VirtualConsole(tmp_path / "root", name="vtest", binary=device_bin)
    v.start()
    yield v
    v.close()


def edgemcp(*args, timeout=120, **kw):
    env = dict(os.environ, EDGEMCP_DEVICE_BIN=str(DEVICE_BIN))
    env.pop("EDGEMCP_PORT", None)
    return subprocess.run([sys.executable, "-m", "edgemcp_host.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT, **kw)


def mcp_initialize(path, timeout=15):
    """The app's answer to initialize on the port (the app runs: it is an MCP server there)."""
    import serial
    with serial.Serial(path, 115200, timeout=0.2) as s:
        end = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < end:
            s.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}}).encode() + b"\n")
            t = time.monotonic() + 1
            while time.monotonic() < t:
                buf += s.read(4096)
                for line in buf.split(b"\n")[:-1]:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue  # console text (the REPL, boot messages)
                    if isinstance(msg, dict):
                        if msg.get("id") == 1 and "result" in msg:
                            return msg["result"]
    raise AssertionError(f"no initialize answer on {path}: {buf[-300:]!r}")
