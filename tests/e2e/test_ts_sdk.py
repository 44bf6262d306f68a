"""The TypeScript SDKs as independent clients (npm @modelcontextprotocol/sdk 1.x, the v1 line,
and @modelcontextprotocol/client 2.x, the v2 line, run by Node from build/node through
tests/e2e/ts_client.mjs): straight to the virtual device over stdio and through the bridge over
Streamable HTTP, in the legacy handshake and (v2) auto negotiation, which finds the 2026-07-28
era on this dual-era device: list, call, progress, cancel, subscribe (legacy), elicitation and
sampling answered by the client's handlers."""
import json
import os
import subprocess

import pytest

from support import DEVICE_BIN, ROOT
from _support.bridge import BridgeProc
from vdevice import board_root, device_env

NODE = ROOT / "build/node/node_modules/.bin/node"
SCRIPT = ROOT / "tests/e2e/ts_client.mjs"
CASES = [("v1", "legacy"), ("v2", "legacy"), ("v2", "auto")]
pytestmark = pytest.mark.timeout(180)


def ts(sdk, mode, *target, env=None):
    if not NODE.exists():
        pytest.fail(f"{NODE} is missing: run `make setup`")
    r = subprocess.run([str(NODE), str(SCRIPT), sdk, mode, *target], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "NODE_DIR": str(ROOT / "build/node"), **(env or {})})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    return out


def check(out, mode, all_progress):
    assert out["echo"] == "from ts" and out["after_cancel"] == "still here"
    assert out["slow"] == {"slept": 0.3, "steps": 3}
    # Over stdio both SDKs can drop the last progress notification when it arrives in the same
    # instant as the result (their stdio reader settles the call first): every earlier one must come.
    assert out["progress"] == [1, 2, 3] if all_progress else out["progress"] in ([1, 2], [1, 2, 3])
    assert out["cancelled"] == "rejected"
    assert out["greet"] == "Tess -> hi Tess"  # the device's questions, answered by the client's handlers
    if mode == "legacy":
        assert out["subscribed"] is True
    if out["sdk"] == "v2":
        assert out["version"] == ("2026-07-28" if mode == "auto" else "2025-11-25")


@pytest.mark.parametrize("sdk,mode", CASES)
def test_ts_sdk_straight_to_the_device_over_stdio(tmp_path, sdk, mode):
    root = board_root(tmp_path, {"test_tools": True})
    out = ts(sdk, mode, "stdio", str(DEVICE_BIN), "-m", "edgemcp", env=device_env(root))
    check(out, mode, all_progress=False)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    b = BridgeProc(tmp_path_factory.mktemp("ts-bridge"), ("a",))
    yield b
    b.stop()


@pytest.mark.parametrize("sdk,mode", CASES)
@pytest.mark.parametrize("endpoint", ["/a", ""])
def test_ts_sdk_through_the_bridge_over_http(bridge, sdk, mode, endpoint):
    out = ts(sdk, mode, "http", bridge.url + endpoint)
    check(out, mode, all_progress=True)
    assert bridge.alive()
