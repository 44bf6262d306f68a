"""The bridge's commands as a user runs them: `edgemcp call` (virtual device, bridge name, URL),
`edgemcp devices` (with a bridge), `edgemcp run` (what `make run` starts: banner, Ctrl-C), and
`--help` with examples on every command."""
import json
import os
import signal
import subprocess
import time

import pytest

from support import ROOT
from _support.bridge import CLI, BridgeProc, env, write_configs


def cli(*args, timeout=60, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env(**kw), cwd=ROOT)


@pytest.mark.parametrize("command", ["bridge", "run", "devices", "call"])
def test_help_has_examples(command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "edgemcp " + command in r.stdout


def test_call_virtual(tmp_path):
    write_configs(tmp_path, ("virtual1",))
    r = cli("call", "virtual", "echo", "text=42", "--vdev-root", str(tmp_path))
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr
    r = cli("call", "virtual", "add", "--json", '{"a": 1}', "b=2", "--vdev-root", str(tmp_path))
    assert r.returncode == 0 and json.loads(r.stdout) == {"sum": 3}, r.stderr
    r = cli("call", "virtual", "fail", "message=nope", "--vdev-root", str(tmp_path))
    assert r.returncode == 1 and "nope" in r.stdout
    r = cli("call", "virtual", "echo", "--vdev-root", str(tmp_path))  # text missing: the device says so
    assert r.returncode == 1 and "text" in r.stdout
    r = cli("call", "virtual", "echo", "oops", "--vdev-root", str(tmp_path))
    assert r.returncode == 2 and "key=value" in r.stderr
    (tmp_path / "words.txt").write_text("hi there")  # key=@FILE: the file's bytes, base64
    r = cli("call", "virtual", "echo", f"text=@{tmp_path / 'words.txt'}", "--vdev-root", str(tmp_path))
    assert r.returncode == 0 and r.stdout == "aGkgdGhlcmU=\n", r.stderr
    r = cli("call", "virtual", "echo", "text=@@home", "--vdev-root", str(tmp_path))
    assert r.returncode == 0 and r.stdout == "@home\n", r.stderr
    r = cli("call", "virtual", "echo", "text=@/no/such/file", "--vdev-root", str(tmp_path))
    assert r.returncode == 2 and "cannot read /no/such/file" in r.stderr, r.stderr


def test_call_and_devices_through_a_bridge(tmp_path):
    b = BridgeProc(tmp_path, ("a", "b"), token="s3cret")
    try:
        r = cli("call", "b", "device_info", "--bridge", b.base, EDGEMCP_TOKEN="s3cret")
        assert r.returncode == 0 and json.loads(r.stdout)["name"] == "dev-b", r.stderr
        r = cli("call", b.url + "/a", "echo", "text=by url", "--token", "s3cret")
        assert r.returncode == 0 and r.stdout == "by url\n", r.stderr
        r = cli("call", "a", "fail", "--bridge", b.url, "--token", "s3cret")
        assert r.returncode == 1
        r = cli("call", "a", "echo", "text=x", "--bridge", b.url, "--token", "wrong")
        assert r.returncode == 1 and "401" in r.stderr
        r = cli("call", "zz", "echo", "text=x", "--bridge", b.url, "--token", "s3cret")
        assert r.returncode == 1
        r = cli("devices", "--bridge", b.base, "--json", "--token", "s3cret")
        assert r.returncode == 0, r.stderr
        devices = {d["name"]: d for d in json.loads(r.stdout)["bridge"]}
        assert set(devices) == {"a", "b"} and devices["a"]["state"] == "up" and "echo" in devices["a"]["tools"]
        r = cli("devices", "--bridge", b.base, "--token", "s3cret")
        assert r.returncode == 0 and "bridge:a\tup" in r.stdout
    finally:
        b.stop()


def test_run_banner_and_ctrl_c(tmp_path):
    p = subprocess.Popen([*CLI, "run", "--http", "127.0.0.1:0", "--vdev-root", str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        lines = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        out = "".join(lines)
        assert "Ctrl-C stops" in out, out + p.stderr.read() if p.poll() is not None else out
        url = out.split("edgemcp bridge ready: ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        assert "virtual1.device_info" in out and "virtual1.device_reset" in out
        assert f"--cli {url} --transport http --method tools/list" in out
        config = json.loads(out[out.index("{"):out.rindex("}") + 1])
        assert config == {"mcpServers": {"edgemcp": {"type": "http", "url": url}}}
        r = cli("call", "virtual1", "device_info", "--bridge", url)
        assert r.returncode == 0 and json.loads(r.stdout)["device_id"] == "7669727475616c31"
        # the example models are on the virtual device: the printed command classifies the image
        ready = out.split("through the bridge:\n")[1].split("\n")[0].split()
        assert ready[1:5] == ["call", "virtual1", "infer", "model=person_detect"], ready
        assert ready[5] == "input=@models/person.raw" and ready[-2:] == ["--bridge", url], ready
        r = cli(*ready[1:])
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert result["output"] == [-113, 113] and result["top_k"][0]["label"] == "person", result
        assert (tmp_path / "virtual1/models/person_detect.labels").exists()
        r = cli("devices", "--bridge", url, "--json")
        pid = json.loads(r.stdout)["bridge"][0]["pid"]
        os.kill(pid, 0)
        p.send_signal(signal.SIGINT)
        assert p.wait(15) == 0
        with pytest.raises(ProcessLookupError):  # the virtual device went with it
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
    finally:
        if p.poll() is None:
            p.kill()
