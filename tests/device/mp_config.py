# /edgemcp.json: defaults without it; a broken file is reported and the defaults are used, a
# truncated one included (MicroPython's json.loads alone would take it for a shorter object).
from edgemcp import config

P = "/tmp/edgemcp-test-config.json"


def load(text):
    with open(P, "w") as f:
        f.write(text)
    return config.load(P)


cfg, problem = config.load("/nonexistent/edgemcp.json")
assert problem is None and cfg == config.defaults()

cfg, problem = load('{"name": "kitchen", "max_line": 8192}')
assert problem is None and cfg["name"] == "kitchen" and cfg["max_line"] == 8192 and cfg["page_bytes"] == 4096

for bad in ('{"name": ', '{"name": "kitchen"', '[1,', '{"name" "x"}', "not json", ""):
    cfg, problem = load(bad)
    assert problem and "not valid JSON" in problem and cfg == config.defaults(), (bad, problem)

cfg, problem = load("[1, 2]")
assert "JSON object" in problem and cfg == config.defaults()

r = config.redacted({"mqtt": {"url": "mqtt://h", "password": "p", "api_key": "k", "token": ""}, "name": "n"})
assert r == {"mqtt": {"url": "mqtt://h", "password": "***", "api_key": "***", "token": ""}, "name": "n"}, r
print("ok")
