"""The host's protocol vocabulary (edgemcp_host/protocol.py) against the firmware's, so the two
sides cannot drift apart: JSON-RPC error codes and MCP versions (firmware/edgemcp/server.py),
MCP-over-MQTT topic prefixes and user property names (firmware/edgemcp/mqtt_link.py), read from
the firmware's sources; and the client-id rule, run on both sides over the same sample ids (the
firmware's on the virtual device binary)."""
import ast
import json
import pathlib
import re
import subprocess

import pytest

from edgemcp_host import protocol

FIRMWARE = pathlib.Path(__file__).resolve().parents[2] / "firmware/edgemcp"

SERVER_NAMES = ("VERSIONS", "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS",
                "INTERNAL_ERROR", "RESOURCE_NOT_FOUND")
MQTT_NAMES = ("SERVER_PRESENCE", "SERVER_CONTROL", "SERVER_CAPABILITY", "CLIENT_PRESENCE", "CLIENT_CAPABILITY",
              "RPC", "PROP_CLIENT_ID", "PROP_COMPONENT", "PROP_META", "PROP_SERVER_NAME", "DEFAULT_NAME")

# (id, usable): non-empty, none of '/', '+', '#', NUL.
SAMPLE_IDS = [
    ("c0ffee", True), ("0123456789abcdef" * 4, True), ("edgemcp-bridge-1", True), ("h\xe9llo", True),
    ("a b", True), ("$mcp", True), ("-_.", True), ("", False), ("a/b", False), ("/", False), ("a+b", False),
    ("+", False), ("x#", False), ("#", False), ("nul\x00in", False), ("\x00", False),
]


def module_constants(path):
    """The module-level `NAME = literal` and `NAME = const(literal)` assignments of a source file."""
    out = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "const" \
                and len(value.args) == 1:
            value = value.args[0]
        try:
            out[node.targets[0].id] = ast.literal_eval(value)
        except ValueError:
            pass  # not a literal: not part of the vocabulary
    return out


def check_same(source, names):
    fw = module_constants(FIRMWARE / source)
    missing = [n for n in names if n not in fw]
    assert not missing, (f"firmware/edgemcp/{source} defines no module-level {', '.join(missing)} "
                         f"(a literal or const(literal)), which the host's protocol.py is checked against")
    for n in names:
        host = getattr(protocol, n)
        assert host == fw[n], f"{n}: host protocol.py {host!r}, firmware/edgemcp/{source} {fw[n]!r}"


def test_jsonrpc_codes_and_versions_match_the_firmware():
    check_same("server.py", SERVER_NAMES)


def test_mqtt_topics_and_properties_match_the_firmware():
    check_same("mqtt_link.py", MQTT_NAMES)


def test_server_names_and_the_disconnected_notification_match_the_firmware():
    fw = module_constants(FIRMWARE / "mqtt_link.py")
    assert json.loads(fw["DISCONNECTED"]) == json.loads(protocol.DISCONNECTED)
    # the name that gives way to the device id is the device's default name (config.py)
    tree = ast.parse((FIRMWARE / "config.py").read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "defaults")
    ret = next(n for n in ast.walk(fn) if isinstance(n, ast.Return))
    assert ast.literal_eval(ret.value)["name"] == protocol.DEFAULT_NAME == fw["DEFAULT_NAME"]


def test_server_name_rule():
    assert protocol.server_name("esp32", "edgemcp", "7cdfa1b2c3d4") == "edgemcp/esp32/7cdfa1b2c3d4"
    assert protocol.server_name("linux", "kitchen", "7cdfa1b2c3d4") == "edgemcp/linux/kitchen"
    assert protocol.server_name("a/b", "c+d#", "x") == "edgemcp/a_b/c_d_"
    assert protocol.usable_server_name("site/a/b") and not protocol.usable_server_name("")
    assert not protocol.usable_server_name("a/+") and not protocol.usable_server_name("a/#")
    assert not protocol.usable_server_name(None)


def test_server_name_filters_from_connack():
    assert protocol.name_filters('["edgemcp/+/keep", "other/#"]') == ["edgemcp/+/keep", "other/#"]
    for bad in ("", "nope", "{}", "[]", '"edgemcp/#"', "[1]", '[""]', None):
        assert protocol.name_filters(bad) is None, bad


def test_client_id_rule_on_the_host():
    assert [protocol.valid_client_id(s) for s, _ in SAMPLE_IDS] == [ok for _, ok in SAMPLE_IDS]
    assert not protocol.valid_client_id(None) and not protocol.valid_client_id(17)
    assert protocol.clean_level("a/b+c#d\x00") == "a_b_c_d_" and protocol.clean_level("") == "_"


def test_client_id_rule_matches_the_firmware(device_bin):
    ids = [s for s, _ in SAMPLE_IDS]
    code = ("import json\nimport edgemcp.mqtt_link as m\n"
            "f = getattr(m, 'valid_client_id', None)\n"
            "print(json.dumps(None if f is None else [bool(f(s)) for s in %r]))\n" % (ids,))
    r = subprocess.run([device_bin, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got is not None, \
        "firmware edgemcp.mqtt_link has no valid_client_id(s), which the host's rule is checked against"
    host = [protocol.valid_client_id(s) for s in ids]
    assert got == host, [(s, g, h) for s, g, h in zip(ids, got, host) if g != h]


def test_topic_builders():
    t = protocol.ServerTopics("5eed", "edgemcp/linux/b1")
    assert (t.presence, t.control, t.capability, t.rpc("c1")) == (
        "$mcp-server/presence/5eed/edgemcp/linux/b1", "$mcp-server/5eed/edgemcp/linux/b1",
        "$mcp-server/capability/5eed/edgemcp/linux/b1", "$mcp-rpc/c1/5eed/edgemcp/linux/b1")
    assert protocol.split_presence(t.presence) == ("5eed", "edgemcp/linux/b1")
    assert protocol.client_of(protocol.client_presence("c1")) == ("presence", "c1")
    assert protocol.client_of(protocol.client_capability("c1")) == ("capability", "c1")
    assert protocol.client_of(t.rpc("c1")) == ("rpc", "c1")
    for other in ("$mcp-rpc/c1", t.control, "edgemcp/x/events"):
        assert protocol.client_of(other) == (None, None)
    assert json.loads(protocol.DISCONNECTED) == {"jsonrpc": "2.0", "method": "notifications/disconnected"}
    assert protocol.LATEST_VERSION == protocol.VERSIONS[0]


HOST = pathlib.Path(protocol.__file__).parent
VERSION_LIKE = re.compile(r"^\d{4}-\d\d-\d\d$")


def own_vocabulary(path):
    """The JSON-RPC codes, MCP versions and binding names a module spells itself (docstrings aside)."""
    tree = ast.parse(path.read_text(), str(path))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            docs.add(id(node.body[0].value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
                and isinstance(node.operand.value, int) and 32000 <= node.operand.value <= 32768:
            found.append(-node.operand.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            v = node.value
            if v.startswith(("$mcp", "MCP-")) or VERSION_LIKE.match(v):
                found.append(v)
    return found


@pytest.mark.parametrize("path", sorted(str(p.relative_to(HOST)) for p in HOST.rglob("*.py")
                                        if p.name != "protocol.py"))
def test_host_modules_spell_no_vocabulary_of_their_own(path):
    # Codes, versions, topics and property names are spelled in protocol.py only.
    assert own_vocabulary(HOST / path) == [], f"{path}: use edgemcp_host.protocol"
