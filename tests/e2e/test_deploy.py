"""`edgemcp deploy`, `config` and `logs` against the virtual device on a pseudo-terminal, with
the real mpremote underneath (the device's board-level raw REPL): files arrive, a second
deploy copies nothing, a changed file is copied, the app restarts with the new config."""
import json
import os
import queue
import subprocess
import sys
import threading
import time

from _support.deploy import edgemcp, mcp_initialize
from support import DEVICE_BIN, ROOT


def tree(root):
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deploy_copies_skips_and_recopies(tmp_path, vconsole, models_dir):
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "cfg.json").write_text(json.dumps({"name": "deployed", "test_tools": True}))
    (src / "tool.py").write_text("X = 1\n")
    (src / "lib/a.py").write_text("A = 'a'\n")
    (src / "lib/blob.bin").write_bytes(bytes(range(256)) * 40)
    model = models_dir / "hello_world_int8.tflite"
    args = ["deploy", "--port", vconsole.path, "--config", str(src / "cfg.json"), "--model", str(model),
            str(src / "tool.py"), f"{src / 'lib'}:/lib"]

    r = edgemcp(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("copied    ") == 5 and "5 copied" in r.stdout
    root = vconsole.root
    assert (root / "edgemcp.json").read_bytes() == (src / "cfg.json").read_bytes()
    assert (root / "models/hello_world_int8.tflite").read_bytes() == model.read_bytes()
    assert (root / "tool.py").read_text() == "X = 1\n"
    assert (root / "lib/blob.bin").read_bytes() == (src / "lib/blob.bin").read_bytes()
    assert not list(root.rglob("*.part"))
    # soft-reset: the app is running again, with the deployed config
    assert mcp_initialize(vconsole.path)["serverInfo"]["name"] == "deployed"

    before = tree(root)
    r = edgemcp(*args)
    assert r.returncode == 0, r.stderr
    assert "0 copied" in r.stdout and r.stdout.count("unchanged ") == 5
    assert tree(root) == before  # not even rewritten (same mtimes)

    (src / "tool.py").write_text("X = 2\n")
    r = edgemcp(*args)
    assert r.returncode == 0, r.stderr
    assert "1 copied" in r.stdout and "copied    /tool.py" in r.stdout
    assert (root / "tool.py").read_text() == "X = 2\n"
    after = tree(root)
    assert {k for k in after if after[k] != before[k]} == {"tool.py"}


def test_deploy_bad_input_changes_nothing(tmp_path, vconsole):
    (vconsole.root / "edgemcp.json").write_text('{"name": "keep"}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": ')
    before = tree(vconsole.root)
    r = edgemcp("deploy", "--port", vconsole.path, "--config", str(bad))
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = edgemcp("deploy", "--port", vconsole.path, str(tmp_path / "missing.py"))
    assert r.returncode == 2 and "not found" in r.stderr
    r = edgemcp("deploy", "--port", str(tmp_path / "ttyNOPE"), str(bad))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert tree(vconsole.root) == before


def test_deploy_to_port_virtual(tmp_path, models_dir):
    # --port virtual starts the virtual device itself (VDEV_ROOT/virtual1)
    r = edgemcp("deploy", "--port", "virtual", "--vdev-root", str(tmp_path / "vdev"),
                "--model", str(models_dir / "hello_world_float.tflite"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "vdev/virtual1/models/hello_world_float.tflite").read_bytes() == \
        (models_dir / "hello_world_float.tflite").read_bytes()


def test_config_get_set_round_trip(vconsole):
    cfg_file = vconsole.root / "edgemcp.json"
    cfg_file.write_text(json.dumps({"name": "a", "max_line": 4096}))
    port = ["--port", vconsole.path]

    r = edgemcp("config", "get", "name", *port)
    assert r.returncode == 0 and json.loads(r.stdout) == "a", r.stderr
    r = edgemcp("config", "set", "name", "kitchen", *port)
    assert r.returncode == 0, r.stderr
    r = edgemcp("config", "set", "mqtt.url", "mqtt://127.0.0.1:1883", *port)
    assert r.returncode == 0, r.stderr
    r = edgemcp("config", "set", "page_bytes", "2048", *port)
    assert r.returncode == 0, r.stderr
    r = edgemcp("config", "get", "name", *port)
    assert json.loads(r.stdout) == "kitchen"
    r = edgemcp("config", "get", *port)
    assert json.loads(r.stdout) == {"name": "kitchen", "max_line": 4096, "page_bytes": 2048,
                                    "mqtt": {"url": "mqtt://127.0.0.1:1883"}}
    assert json.loads(cfg_file.read_text())["mqtt"] == {"url": "mqtt://127.0.0.1:1883"}
    r = edgemcp("config", "unset", "mqtt", *port)
    assert r.returncode == 0, r.stderr
    r = edgemcp("config", "get", "mqtt", *port)
    assert r.returncode == 2 and "not set" in r.stderr
    # the app was restarted with the file as edited
    assert mcp_initialize(vconsole.path)["serverInfo"]["name"] == "kitchen"


def test_config_refuses_to_overwrite_a_broken_file(vconsole):
    cfg_file = vconsole.root / "edgemcp.json"
    cfg_file.write_text('["not", "an object"]')
    r = edgemcp("config", "set", "name", "x", "--port", vconsole.path)
    assert r.returncode == 2 and "not a JSON object" in r.stderr
    assert cfg_file.read_text() == '["not", "an object"]'


def test_logs_live_and_kept(vconsole):
    r = edgemcp("config", "set", "test_tools", "true", "--port", vconsole.path)  # restarts the app
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, EDGEMCP_DEVICE_BIN=str(DEVICE_BIN))
    p = subprocess.Popen([sys.executable, "-m", "edgemcp_host.cli", "logs", "--port", vconsole.path,
                          "--json", "--count", "2", "--no-history"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    lines = {p.stdout: queue.Queue(), p.stderr: queue.Queue()}
    for stream, q in lines.items():
        threading.Thread(target=lambda s=stream, q=q: [q.put(x) for x in s], daemon=True).start()

    def line(stream, timeout=20):
        try:
            return lines[stream].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output from edgemcp logs") from None

    try:
        # printed once the level is set: every record from now on reaches it
        assert "log records at info and above" in line(p.stderr)

        def call_fail(message):
            # a tool call that logs, written to the device behind the logs command's back
            os.write(vconsole.device_fd, json.dumps({
                "jsonrpc": "2.0", "id": "t-" + message, "method": "tools/call",
                "params": {"name": "fail", "arguments": {"message": message}}}).encode() + b"\n")

        call_fail("boom-1")
        first = json.loads(line(p.stdout))
        assert first["level"] == "error" and first["data"] == "boom-1" and first["logger"] == "testtools"
        call_fail("boom-2")
        assert json.loads(line(p.stdout))["data"] == "boom-2"
        assert p.wait(20) == 0
    finally:
        p.kill()
        p.wait()
    # the records the device kept (device://log) come first on a new run
    r = edgemcp("logs", "--port", vconsole.path, "--json", "--count", "2", timeout=60)
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["data"] for line in r.stdout.splitlines()] == ["boom-1", "boom-2"]


def test_logs_starts_an_app_sitting_at_the_repl(vconsole):
    (vconsole.root / "edgemcp.json").write_text("[1]")  # not an object: a warning at start-up
    import serial
    with serial.Serial(vconsole.path, timeout=0.2) as s:
        s.write(b"\x03")  # the app leaves for the REPL
        end = time.monotonic() + 10
        out = b""
        while b">>> " not in out and time.monotonic() < end:
            out += s.read(256)
        assert b">>> " in out
    r = edgemcp("logs", "--port", vconsole.path, "--count", "1", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stdout and "must hold a JSON object" in r.stdout
