"""A virtual device driven line by line, for tests that send what no SDK client would."""
import json
import os
import select
import subprocess
import time

from vdevice import device_cmd, device_env


class RawDevice:
    def __init__(self, root, heap="2M"):
        cmd = device_cmd()
        cmd[1:1] = ["-X", f"heapsize={heap}"]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env={**os.environ, **device_env(root)})
        self._buf = b""
        self._next_id = 1000
        self.others = []  # messages that arrived while request() waited for its answer

    def send_raw(self, data: bytes):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, msg):
        self.send_raw(json.dumps(msg).encode() + b"\n")

    def recv(self, timeout=10):
        """The next message the device sends, or None after `timeout` seconds of silence."""
        end = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError(f"device exited: {self.p.wait()} {self.p.stderr.read().decode()[-2000:]}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, method, params=None, timeout=10):
        self._next_id += 1
        rid = self._next_id
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        while True:
            r = self.recv(timeout)
            assert r is not None, f"no answer to {method}"
            if r.get("id") == rid:
                return r
            self.others.append(r)

    def initialize(self, version="2025-11-25"):
        r = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                        "clientInfo": {"name": "test", "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
