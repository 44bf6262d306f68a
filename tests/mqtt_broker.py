"""A real mosquitto broker for tests, on a free loopback port, with a config file written here.

    from mqtt_broker import Broker     # the fixture mqtt_broker is registered by e2e/conftest.py

    def test_x(mqtt_broker):            # anonymous broker, stopped after the test
        url = mqtt_broker.url           # "mqtt://127.0.0.1:PORT"

    with Broker(tmp_path, users={"dev": "secret"}) as b:   # password file, no anonymous
        b.stop(); b.start()             # same port, e.g. for an outage

    Broker(tmp_path, tls=(cert_pem, key_pem)).start()       # TLS listener, url mqtts://...
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder, users=None, port=None, extra_conf="", tls=None):
        # tls: (certfile, keyfile) in PEM: the listener speaks TLS and url is mqtts://
        self.folder = os.fspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.url = "%s://%s:%d" % ("mqtts" if tls else "mqtt", self.host, self.port)
        self.proc = None
        self.log_path = os.path.join(self.folder, "mosquitto.log")
        conf = ["listener %d %s" % (self.port, self.host), "persistence false",
                "log_dest stderr", "log_type all"]  # stderr: unbuffered, so log() is current
        if tls:
            conf += ["certfile " + os.fspath(tls[0]), "keyfile " + os.fspath(tls[1])]
        if users:
            pw = os.path.join(self.folder, "passwords")
            open(pw, "w").close()
            for u, p in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", pw, u, p], check=True, capture_output=True, timeout=30)
            conf += ["allow_anonymous false", "password_file " + pw]
        else:
            conf.append("allow_anonymous true")
        if os.geteuid() == 0:  # else mosquitto drops to its own user, who cannot read our files
            conf.append("user root")
        if extra_conf:
            conf.append(extra_conf)
        self.conf_path = os.path.join(self.folder, "mosquitto.conf")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(conf) + "\n")

    def start(self, timeout=10):
        if self.proc:
            return self
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf_path], stdout=subprocess.DEVNULL,
                                         stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError("mosquitto exited:\n" + self.log()[-2000:])
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not listen on port %d within %ss" % (self.port, timeout))

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def kill(self):
        """An abrupt end (SIGKILL): no DISCONNECT to anyone."""
        if self.proc:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture
def mqtt_broker(tmp_path):
    with Broker(tmp_path / "mosquitto") as b:
        yield b
