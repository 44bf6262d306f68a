"""The MCP Inspector CLI (npm, installed by `make node`) against the virtual device over stdio."""
import json
import os
import subprocess

import pytest

from support import DEVICE_BIN, ROOT
from vdevice import board_root

NODE_BIN = ROOT / "build/node/node_modules/.bin"


def inspector(root, *args, status=0):
    if not (NODE_BIN / "inspector").exists():
        pytest.fail("the MCP Inspector is missing: run `make node`")
    env = {**os.environ, "PATH": f"{NODE_BIN}:{os.environ['PATH']}"}
    cmd = ["inspector", "--cli", "-e", f"EDGEMCP_ROOT={root}", str(DEVICE_BIN), "-m", "edgemcp", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == status, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_inspector_lists_and_calls_tools(tmp_path):
    root = board_root(tmp_path, {"test_tools": True, "name": "inspected"})
    tools = {t["name"]: t for t in inspector(root, "--method", "tools/list")["tools"]}
    assert {"device_info", "device_reset", "echo", "add"} <= set(tools)
    reset = tools["device_reset"]["inputSchema"]  # confirm is optional: a client that can be asked is asked
    assert reset["properties"]["confirm"]["type"] == "boolean" and "required" not in reset

    r = inspector(root, "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=20", "--tool-arg", "b=22")
    assert r["structuredContent"] == {"sum": 42} and not r.get("isError")
    r = inspector(root, "--method", "tools/call", "--tool-name", "device_info")
    assert r["structuredContent"]["name"] == "inspected"
    r = inspector(root, "--method", "tools/call", "--tool-name", "device_reset", "--tool-arg", "confirm=false",
                  status=5)  # the Inspector's exit status for a tool result with isError
    assert r["isError"] is True and "confirm" in r["content"][0]["text"]
