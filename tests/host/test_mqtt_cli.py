"""`edgemcp mqtt pub|sub` against a real mosquitto on a free loopback port."""
import json
import os
import subprocess
import sys
import time

from mqtt_broker import Broker

EDGEMCP = [sys.executable, "-m", "edgemcp_host.cli"]


def edgemcp(*args, input=None, timeout=30, env=None):
    return subprocess.run([*EDGEMCP, *args], capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, "EDGEMCP_CONFIG": "/nonexistent", **(env or {})})


def test_pub_sub_qos_retain_user_properties(tmp_path):
    with Broker(tmp_path).start() as b:
        assert edgemcp("mqtt", "pub", "--broker", b.url, "-r", "-q", "1", "-U", "unit=C", "home/temp", "21.5").returncode == 0
        sub = subprocess.Popen([*EDGEMCP, "mqtt", "sub", "--broker", b.url, "--json", "--count", "3", "--timeout", "20",
                                "home/#"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = json.loads(sub.stdout.readline())  # the retained message arrives on subscribe
            assert first == {"topic": "home/temp", "payload": "21.5", "qos": 1, "retain": True,
                             "user_properties": {"unit": "C"}}
            assert edgemcp("mqtt", "pub", "--broker", b.url, "home/door", "open").returncode == 0
            r = edgemcp("mqtt", "pub", "--broker", b.url, "-q", "2", "home/light", "-", input='{"on": true}')
            assert r.returncode == 0, r.stderr
            out, err = sub.communicate(timeout=20)
        finally:
            sub.kill()
        assert sub.returncode == 0, err
        rest = [json.loads(x) for x in out.splitlines()]
        assert [(m["topic"], m["payload"], m["retain"]) for m in rest] == [
            ("home/door", "open", False), ("home/light", '{"on": true}', False)]


def test_broker_from_environment_and_plain_output(tmp_path):
    with Broker(tmp_path).start() as b:
        env = {"EDGEMCP_MQTT_URL": b.url}
        sub = subprocess.Popen([*EDGEMCP, "mqtt", "sub", "--count", "1", "--timeout", "20", "a/b"],
                               stdout=subprocess.PIPE, text=True, env={**os.environ, **env, "EDGEMCP_CONFIG": "/nonexistent"})
        time.sleep(1.0)  # let it subscribe: this message is not retained
        assert edgemcp("mqtt", "pub", "a/b", "hello world", env=env).returncode == 0
        out, _ = sub.communicate(timeout=20)
        assert out == "a/b hello world\n"


def test_authentication(tmp_path):
    with Broker(tmp_path, users={"dev": "s3cret"}).start() as b:
        ok = edgemcp("mqtt", "pub", "--broker", b.url, "-u", "dev", "-P", "s3cret", "t", "x")
        assert ok.returncode == 0, ok.stderr
        bad = edgemcp("mqtt", "pub", "--broker", b.url, "-u", "dev", "-P", "wrong", "t", "x")
        assert bad.returncode == 1 and "refused the connection" in bad.stderr
        url_creds = edgemcp("mqtt", "pub", "--broker", b.url.replace("mqtt://", "mqtt://dev:s3cret@"), "t", "x")
        assert url_creds.returncode == 0, url_creds.stderr


def test_clear_errors():
    from mqtt_broker import free_port
    r = edgemcp("mqtt", "pub", "--broker", f"mqtt://127.0.0.1:{free_port()}", "t", "x")
    assert r.returncode == 1 and "cannot reach the broker" in r.stderr
    r = edgemcp("mqtt", "pub", "--broker", "http://127.0.0.1:1", "t", "x")
    assert r.returncode == 1 and "mqtt:// or mqtts://" in r.stderr
    r = edgemcp("mqtt", "pub", "--broker", "mqtt://127.0.0.1:1", "-U", "novalue", "t", "x")
    assert r.returncode == 1 and "KEY=VALUE" in r.stderr


def test_shared_subscription_splits_messages_between_consumers(tmp_path):
    """Two `sub --share workers` consumers get each message once between them (MQTT 5 shared
    subscription); a plain subscriber beside them gets every message."""
    with Broker(tmp_path).start() as b:
        cmd = [*EDGEMCP, "mqtt", "sub", "--broker", b.url, "--json", "--timeout", "30"]
        workers = [subprocess.Popen([*cmd, "--share", "workers", "jobs/#"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        watcher = subprocess.Popen([*cmd, "--count", "40", "jobs/#"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while b.log().count("$share/workers/jobs/#") < 2 or b.log().count("\tjobs/#") < 1:
                assert time.monotonic() < deadline, b.log()[-2000:]
                time.sleep(0.1)
            for i in range(40):
                assert edgemcp("mqtt", "pub", "--broker", b.url, "-q", "1", f"jobs/{i % 3}", str(i)).returncode == 0
            out, err = watcher.communicate(timeout=30)
            assert watcher.returncode == 0, err
            assert sorted(int(json.loads(x)["payload"]) for x in out.splitlines()) == list(range(40))
            got = []
            for w in workers:
                w.terminate()
                out, _ = w.communicate(timeout=10)
                got.append([int(json.loads(x)["payload"]) for x in out.splitlines()])
        finally:
            for p in (*workers, watcher):
                p.kill()
                p.wait()
        assert all(got), f"one consumer got nothing: {got}"
        assert sorted(got[0] + got[1]) == list(range(40))  # each message once between the two
    r = edgemcp("mqtt", "sub", "--broker", b.url, "--share", "a/b", "t")
    assert r.returncode == 1 and "group name" in r.stderr
    r = edgemcp("mqtt", "sub", "--broker", b.url, "--share", "g", "$share/g/t")
    assert r.returncode == 1 and "shared subscription already" in r.stderr
