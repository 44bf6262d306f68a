"""The MCP conformance suite (npm @modelcontextprotocol/conformance 0.1.16, server scenarios,
run with Node 22 from build/node) against the bridge's HTTP endpoints with a virtual device, and
its newest line (conformance-next, 0.2.0-alpha.12) with the requirements of 2025-11-25 and of
2026-07-28 against the per-device endpoint. Each scenario either passes or is named, with its
reason, in the committed baseline; the suite itself fails on a new failure and on a baseline
entry that now passes."""
import shutil
import subprocess

import pytest

from support import ROOT
from _support.bridge import BridgeProc, env

NODE = ROOT / "build/node/node_modules/.bin/node"
CONFORMANCE = ROOT / "build/node/node_modules/@modelcontextprotocol/conformance/dist/index.js"
CONFORMANCE_NEXT = ROOT / "build/node/node_modules/conformance-next/dist/index.js"
HERE = ROOT / "tests/e2e"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conformance")
    # the suite's fixtures (fixed tool, resource and prompt names) as a user's device module
    (tmp / "vdev/d").mkdir(parents=True)
    shutil.copy(HERE / "device_modules/conformance_fixtures.py", tmp / "vdev/d")
    b = BridgeProc(tmp, ("d",), config={"test_tools": True, "modules": ["conformance_fixtures"]})
    yield b
    b.stop()


@pytest.mark.parametrize("endpoint,baseline", [("/d", "conformance-baseline.yml"),
                                               ("", "conformance-baseline-aggregated.yml")])
def test_conformance(bridge, tmp_path, endpoint, baseline):
    if not CONFORMANCE.exists():
        pytest.fail(f"{CONFORMANCE} is missing: run `make setup`")
    r = subprocess.run([str(NODE), str(CONFORMANCE), "server", "--url", bridge.url + endpoint,
                        "--expected-failures", str(HERE / baseline), "-o", str(tmp_path / "results")],
                       capture_output=True, text=True, timeout=300, env=env(HOME=str(tmp_path)), cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "Baseline check passed" in out
    for scenario in ("server-initialize", "ping", "tools-list", "resources-list", "prompts-list",
                     "logging-set-level", "dns-rebinding-protection"):
        assert f"✓ {scenario}:" in out, scenario
    assert bridge.alive()


@pytest.mark.parametrize("requirements,baseline", [("2025-11-25", None),
                                                   ("2026-07-28", "conformance-next-baseline-2026-07-28.yml")])
def test_conformance_next(bridge, tmp_path, requirements, baseline):
    if not CONFORMANCE_NEXT.exists():
        pytest.fail(f"{CONFORMANCE_NEXT} is missing: run `make setup`")
    cmd = [str(NODE), str(CONFORMANCE_NEXT), "server", "--url", bridge.url + "/d", "--requirements", requirements,
           "-o", str(tmp_path / "results")]
    if baseline:
        cmd += ["--expected-failures", str(HERE / baseline)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env(HOME=str(tmp_path)), cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    if baseline:
        assert "Baseline check passed" in out
    else:
        assert " 0 failed" in out.split("Total:")[-1].splitlines()[0], out[-3000:]
    for scenario in ("tools-list", "tools-call-simple-text", "completion-complete", "resources-read-text",
                     "prompts-get-with-args", "dns-rebinding-protection"):
        assert f"✓ {scenario}:" in out, scenario
    if requirements == "2026-07-28":
        for scenario in ("caching", "sep-2164-resource-not-found", "input-required-result-multi-round",
                         "input-required-result-tampered-state", "http-header-validation"):
            assert f"✓ {scenario}:" in out, scenario
    assert bridge.alive()
