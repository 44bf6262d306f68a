# edgemcp.schema.check on the device: each bad argument is named; good ones pass.
from edgemcp.schema import check
from edgemcp.registry import _schema

S = _schema({
    "name": {"type": "string", "minLength": 1, "maxLength": 8},
    "n": {"type": "integer", "minimum": 1, "maximum": 10},
    "x": {"type": "number", "default": 0},
    "on": {"type": "boolean", "default": False},
    "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
    "vals": {"type": "array", "items": {"type": "number"}, "maxItems": 3, "default": []},
    "opt": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"], "default": {}},
})
assert S["required"] == ["name", "n"], S

ok = [
    {"name": "a", "n": 1},
    {"name": "abcdefgh", "n": 10, "x": -1.5, "on": True, "mode": "b", "vals": [1, 2.5], "opt": {"k": 3}},
    {"name": "a", "n": 2.0},  # an integral float is an integer in JSON Schema
    {"name": "a", "n": 1, "extra": 1},  # additional properties are allowed unless the schema says no
]
for a in ok:
    assert check(S, a) is None, (a, check(S, a))

bad = [
    ({}, "arguments.name: required"),
    ({"name": "a"}, "arguments.n: required"),
    ({"name": 5, "n": 1}, "arguments.name: expected string"),
    ({"name": "", "n": 1}, "arguments.name: shorter than 1"),
    ({"name": "123456789", "n": 1}, "arguments.name: longer than 8"),
    ({"name": "a", "n": 0}, "arguments.n: must be >= 1"),
    ({"name": "a", "n": 11}, "arguments.n: must be <= 10"),
    ({"name": "a", "n": 1.5}, "arguments.n: expected integer"),
    ({"name": "a", "n": True}, "arguments.n: expected integer"),
    ({"name": "a", "n": 1, "x": "1"}, "arguments.x: expected number"),
    ({"name": "a", "n": 1, "x": False}, "arguments.x: expected number"),
    ({"name": "a", "n": 1, "on": 1}, "arguments.on: expected boolean"),
    ({"name": "a", "n": 1, "mode": "c"}, "arguments.mode: must be one of a, b"),
    ({"name": "a", "n": 1, "vals": [1, "2"]}, "arguments.vals[1]: expected number"),
    ({"name": "a", "n": 1, "vals": [1, 2, 3, 4]}, "arguments.vals: more than 3 items"),
    ({"name": "a", "n": 1, "opt": {}}, "arguments.opt.k: required"),
    ({"name": "a", "n": 1, "opt": {"k": "x"}}, "arguments.opt.k: expected integer"),
    ([1], "arguments: expected object"),
]
for a, msg in bad:
    got = check(S, a)
    assert got == msg, (a, got, msg)

closed = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
assert check(closed, {"a": 1}) is None
assert check(closed, {"b": 1}) == "arguments.b: unknown property"
print("ok")
