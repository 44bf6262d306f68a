# The tflite module's Python API on the virtual device (run by test_device_scripts.py).
# over board heap: it loads person_detect (300 KB) into RAM to check the interpreter keeps the model by reference; a board without PSRAM cannot (tests/e2e/test_infer_sdk.py checks the error it gives)
import array
import gc
import os

import tflite

MODELS = os.getenv("EDGEMCP_MODELS") or "models"


def load(name):
    with open("%s/%s.tflite" % (MODELS, name), "rb") as f:
        return f.read()


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return str(e)
    raise AssertionError("%s not raised" % exc.__name__)


hw = load("hello_world_int8")
it = tflite.Interpreter(hw)
assert it.input_count == 1 and it.output_count == 1
d = it.get_input_details(0)
assert sorted(d) == ["dtype", "name", "scale", "shape", "zero_point"], d
assert d["shape"] == (1, 1) and d["dtype"] == "int8" and isinstance(d["scale"], float) and d["scale"] > 0
assert isinstance(d["zero_point"], int) and isinstance(d["name"], str) and d["name"]
o = it.get_output_details(0)
assert o["dtype"] == "int8" and o["shape"] == (1, 1)
raises(IndexError, it.get_input_details, 1)
raises(IndexError, it.get_output, 1)

# any buffer of exactly the input's size
results = []
for buf in (b"\x10", bytearray(b"\x10"), array.array("b", [16]), memoryview(b"\x10")):
    it.set_input(buf, 0)
    it.invoke()
    results.append(bytes(it.get_output(0)))
assert len(set(results)) == 1, results
assert "needs 1 bytes" in raises(ValueError, it.set_input, b"\x00\x00", 0)
out = it.get_output(0)
assert isinstance(out, array.array) and len(out) == 1
buf = bytearray(1)
assert it.get_output(0, buf) is buf and bytes(buf) == results[0]
raises(ValueError, it.get_output, 0, bytearray(3))
it.reset()

# arena: exact by default, a bigger one is accepted, a smaller one says what it needs
need = it.arena_used_bytes()
assert 0 < need <= 1392, need
assert tflite.Interpreter(hw, arena_size=need).arena_used_bytes() == need
tflite.Interpreter(hw, arena_size=need + 1000).invoke()
msg = raises(MemoryError, tflite.Interpreter, hw, arena_size=need - 1)
assert str(need) in msg, msg
raises(ValueError, tflite.Interpreter, hw, arena_size=-1)
assert it.operators() == ["FULLY_CONNECTED"] * 3

# float model: float32 arrays in and out
fl = tflite.Interpreter(load("hello_world_float"))
assert fl.get_input_details(0)["dtype"] == "float32"
fl.set_input(array.array("f", [1.5]), 0)
fl.invoke()
y = fl.get_output(0)
assert -1.2 < y[0] < 1.2

# the model is kept by reference, not copied: constructing costs far less than the model
pd = load("person_detect")
gc.collect()
before = gc.mem_alloc()
p = tflite.Interpreter(memoryview(pd))
gc.collect()
grown = gc.mem_alloc() - before
assert grown < len(pd) // 2, (grown, len(pd))
assert grown >= p.arena_used_bytes()
print("person_detect: model %d B, interpreter + arena %d B on the heap" % (len(pd), grown))

# a model buffer moved under the interpreter is refused, not read
ba = bytearray(hw)
m = tflite.Interpreter(ba)
m.invoke()
ba.extend(bytes(4096))
raises(ValueError, m.invoke)

# weights are read in place; a model at an odd address (as a frozen bytes constant may be) has
# its wider constants (int32 biases here) copied into the arena, aligned: an ESP32 faults on
# unaligned words. Same outputs, a larger arena.
shifted = memoryview(bytearray(1) + hw)[1:]
s = tflite.Interpreter(shifted)
a = tflite.Interpreter(bytearray(hw))
assert s.arena_used_bytes() > a.arena_used_bytes()
for v in (-128, -5, 0, 77, 127):
    for m in (s, a):
        m.set_input(bytes([v & 255]), 0)
        m.invoke()
    assert bytes(s.get_output(0)) == bytes(a.get_output(0)), v

# malformed input is a ValueError
raises(ValueError, tflite.Interpreter, b"")
raises(ValueError, tflite.Interpreter, hw[:100])
raises(TypeError, tflite.Interpreter, 42)
print("ok")
