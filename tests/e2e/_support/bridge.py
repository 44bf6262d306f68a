"""Shared by the bridge tests (no tests here): start `edgemcp bridge` as a user would, with
virtual devices in a temporary folder, and talk to it."""
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

from support import DEVICE_BIN, ROOT

CONFIG = {"test_tools": True}
CLI = [sys.executable, "-m", "edgemcp_host.cli"]


def env(**extra):
    e = dict(os.environ, EDGEMCP_DEVICE_BIN=str(DEVICE_BIN), PYTHONUNBUFFERED="1")
    e.update(extra)
    return e


def write_configs(vroot, devices, config=None):
    for d in devices:
        (vroot / d).mkdir(parents=True, exist_ok=True)
        (vroot / d / "edgemcp.json").write_text(json.dumps(dict(config or CONFIG, name=f"dev-{d}")))


def bridge_cmd(vroot, devices, *extra):
    cmd = [*CLI, "bridge", "--vdev-root", str(vroot)]
    for d in devices:
        cmd += ["--serial", f"{d}=virtual"]
    return cmd + list(extra)


class BridgeProc:
    """`edgemcp bridge --http 127.0.0.1:0` in a subprocess; stderr kept in a file."""

    def __init__(self, tmp, devices=("a", "b"), *extra, config=None, token=None, device_bin=None):
        if not DEVICE_BIN.exists():
            pytest.fail(f"{DEVICE_BIN} is missing: run `make setup`")
        self.tmp = pathlib.Path(tmp)
        self.vroot = self.tmp / "vdev"
        self.devices = devices
        self.token = token
        write_configs(self.vroot, devices, config)
        self.log = self.tmp / "bridge.log"
        e = env(**({"EDGEMCP_DEVICE_BIN": str(device_bin)} if device_bin else {}))
        if token:
            e["EDGEMCP_TOKEN"] = token
        self.proc = subprocess.Popen(bridge_cmd(self.vroot, devices, "--http", "127.0.0.1:0", "-v", *extra),
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"), env=e, cwd=ROOT)
        deadline = time.monotonic() + 40
        self.url = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith("edgemcp bridge: http://"):
                    self.url = line.split()[2]
            if self.url:
                break
            time.sleep(0.1)
        if not self.url:
            self.stop()
            pytest.fail("bridge did not start:\n" + self.log.read_text(errors="replace"))
        self.base = self.url[:-len("/mcp")]

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def devices_info(self):
        req = urllib.request.Request(self.base + "/devices", headers=self.headers())
        with urllib.request.urlopen(req, timeout=10) as r:
            return {d["name"]: d for d in json.load(r)["devices"]}

    def wait_state(self, name, state, timeout=30, connects=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.devices_info()[name]
            if d["state"] == state and (connects is None or d["connects"] >= connects):
                return d
            time.sleep(0.1)
        raise AssertionError(f"device {name} not {state} after {timeout} s: {self.devices_info()[name]}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http_client(url, token=None, **kw):
    """An mcp SDK Client for a bridge URL (with the bearer token when given)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token else None)
    return http, Client(streamable_http_client(url, http_client=http), **kw)
