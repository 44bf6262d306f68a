# The firmware's wiring as its parts see it: a protocol extension registers its methods with
# the server, registry entries are named fields, MCP-over-MQTT client ids follow one rule.
import json

from edgemcp import mqtt_link, prompt, registry, resource, server, tool

out = []
s = server.open_session(out.append)
assert s.ext is None  # an extension's per-session state: declared, empty until it is used


def _bad(s, rid, p):
    raise server.RpcError(server.INVALID_PARAMS, "bad on purpose", {"why": "test"})


server.register("test/echo", lambda s, rid, p: {"got": p})
server.register("test/bad", _bad)
server.receive(s, b'{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{}}')
assert json.loads(out[-1])["error"]["code"] == server.INVALID_REQUEST  # not initialized yet
server.receive(s, b'{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}')
server.receive(s, b'{"jsonrpc":"2.0","id":3,"method":"test/echo","params":{"a":1}}')
assert json.loads(out[-1]) == {"jsonrpc": "2.0", "id": 3, "result": {"got": {"a": 1}}}, out[-1]
server.receive(s, b'{"jsonrpc":"2.0","id":4,"method":"test/bad"}')
assert json.loads(out[-1])["error"] == {"code": -32602, "message": "bad on purpose", "data": {"why": "test"}}
server.close_session(s)
assert s not in server.sessions


@tool("Takes a context.", {"x": {"type": "integer"}}, ctx=True)
def with_ctx(ctx, x):
    return x


@tool("Takes nothing.")
def plain():
    return 1


e = registry.find_tool("with_ctx")
assert e.desc["name"] == "with_ctx" and e.fn is with_ctx and e.ctx is True
assert e.desc["inputSchema"]["required"] == ["x"]
e = registry.find_tool("plain")
assert e.ctx is False and e.desc["inputSchema"] == {"type": "object", "properties": {}}


@resource("test://a/{id}/b", description="a template")
def by_id(id):
    return id


@resource("test://fixed")
def fixed():
    return "f"


e, kw = registry.find_resource("test://a/7/b")
assert e.fn is by_id and kw == {"id": "7"} and e.desc["uriTemplate"] == "test://a/{id}/b"
assert registry.find_resource("test://a//b") is None and registry.find_resource("test://a/x/y/b") is None
e, kw = registry.find_resource("test://fixed")
assert e.fn is fixed and kw == {} and e.desc["uri"] == "test://fixed"


@prompt("A prompt.", [{"name": "a", "required": True}])
def ask(a):
    return a


assert registry.PROMPTS["ask"].fn is ask and registry.PROMPTS["ask"].desc["arguments"][0]["name"] == "a"

# One client-id rule for the MQTT binding: a non-empty topic level, no wildcard, no NUL.
for cid in ("c1", "a-b_c.d", "x" * 200, "\u00fc"):
    assert mqtt_link.valid_client_id(cid), cid
for cid in ("", "a/b", "a+b", "a#b", "a\x00b", "/", None, 5, b"ab"):
    assert not mqtt_link.valid_client_id(cid), cid
print("ok")
