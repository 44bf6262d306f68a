"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector, run with Node 22 from build/node)
against the bridge, over Streamable HTTP and over stdio."""
import json
import subprocess

import pytest

from support import DEVICE_BIN, ROOT
from _support.bridge import CLI, BridgeProc, env, write_configs

NODE = ROOT / "build/node/node_modules/.bin/node"
INSPECTOR = ROOT / "build/node/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    b = BridgeProc(tmp_path_factory.mktemp("inspector"))
    yield b
    b.stop()


def inspector(tmp_path, *args):
    if not INSPECTOR.exists():
        pytest.fail(f"{INSPECTOR} is missing: run `make setup`")
    r = subprocess.run([str(NODE), str(INSPECTOR), "--cli", *args], capture_output=True, text=True, timeout=90,
                       env=env(HOME=str(tmp_path)), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_http_aggregated(bridge, tmp_path):
    tools = {t["name"] for t in inspector(tmp_path, bridge.url, "--method", "tools/list")["tools"]}
    assert {"a.echo", "a.device_info", "b.echo", "b.slow"} <= tools
    r = inspector(tmp_path, bridge.url, "--method", "tools/call", "--tool-name", "b.echo", "--tool-arg", "text=inspected")
    assert r["content"][0]["text"] == "inspected" and not r.get("isError")
    r = inspector(tmp_path, bridge.url, "--method", "resources/read", "--uri", "edgemcp://a/device://info")
    assert '"dev-a"' in r["contents"][0]["text"]
    prompts = {p["name"] for p in inspector(tmp_path, bridge.url, "--method", "prompts/list")["prompts"]}
    assert {"a.health_check", "b.health_check"} <= prompts


def test_http_per_device(bridge, tmp_path):
    tools = {t["name"] for t in inspector(tmp_path, bridge.url + "/b", "--transport", "http", "--method", "tools/list")["tools"]}
    assert {"echo", "device_info"} <= tools
    r = inspector(tmp_path, bridge.url + "/b", "--transport", "http", "--method", "tools/call", "--tool-name", "device_info")
    assert r["structuredContent"]["name"] == "dev-b"


def test_stdio(tmp_path):
    vroot = tmp_path / "vdev"
    write_configs(vroot, ("a", "b"))
    cmd = [*CLI, "bridge", "--vdev-root", str(vroot), "--serial", "a=virtual", "--serial", "b=virtual", "--stdio"]
    e = ["-e", f"EDGEMCP_DEVICE_BIN={DEVICE_BIN}"]
    tools = {t["name"] for t in inspector(tmp_path, *e, *cmd, "--method", "tools/list")["tools"]}
    assert {"a.echo", "b.echo"} <= tools
    r = inspector(tmp_path, *e, *cmd, "--method", "tools/call", "--tool-name", "a.add", "--tool-arg", "a=1", "b=2")
    assert r["structuredContent"] == {"sum": 3}
    r = inspector(tmp_path, *e, *cmd, "--device", "b", "--method", "prompts/get", "--prompt-name", "health_check")
    assert "dev-b" in r["messages"][0]["content"]["text"]
