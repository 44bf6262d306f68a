# Models as MCP tools: every <models_dir>/*.tflite (config "models_dir", default /models) gets a
# model://<name> resource, and the infer tool runs any of them. Optional <name>.labels (one label
# per line) and <name>.json (description, input layout). A model loads on first use and stays.
import os
import time
import binascii
import json
import array
import tflite
from .registry import tool, resource, ToolError

_dir = "/models"
_loaded = {}  # name -> tflite.Interpreter
_labels = {}
_CODES = {"int8": "b", "uint8": "B", "int16": "h", "int32": "i", "float32": "f"}
_F32 = array.array("f", [0.0])  # rounds a number to float32
_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-2 ** 31, 2 ** 31 - 1)}


def _names():
    try:
        return sorted(f[:-7] for f in os.listdir(_dir) if f.endswith(".tflite"))
    except OSError:
        return []


def _load(name):
    it = _loaded.get(name)
    if it is None:
        if name not in _names():
            raise ToolError("no model %r in %s (found: %s)" % (name, _dir, ", ".join(_names()) or "none"))
        path = "%s/%s.tflite" % (_dir, name)
        size = os.stat(path)[6]
        try:
            data = bytearray(size)  # read in place: no growing buffer, no copy
        except MemoryError:
            raise ToolError("model %s does not fit in the heap: its file needs %d bytes" % (name, size))
        with open(path, "rb") as f:
            f.readinto(data)
        try:
            it = tflite.Interpreter(data)
        except ValueError as e:
            raise ToolError("model %s: %s" % (name, e))
        except MemoryError as e:
            # the module's message says how many bytes the arena needs
            e = str(e)
            raise ToolError("model %s: %s" % (name, e if "heap" in e else "does not fit in the heap: " + e))
        _loaded[name] = it
    return it


def _meta(name):
    try:
        with open("%s/%s.json" % (_dir, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _label_list(name):
    if name not in _labels:
        try:
            with open("%s/%s.labels" % (_dir, name)) as f:
                _labels[name] = [s.strip() for s in f.read().split("\n") if s.strip()]
        except OSError:
            _labels[name] = None
    return _labels[name]


def info(name):
    try:
        it = _load(name)
    except ToolError as e:  # too big for this heap, or malformed: the resource says so
        return {"name": name, "error": str(e)}
    d = {
        "name": name,
        "inputs": [_details(it.get_input_details(i)) for i in range(it.input_count)],
        "outputs": [_details(it.get_output_details(i)) for i in range(it.output_count)],
        "exact": "output integers are exact; dequantized = (output - zero_point) * scale, and "
                 "scale_exact [m, e] is the scale exactly (m * 2**e); JSON reals are rounded "
                 "(float32 boards print about 7 significant digits)",
        "arena_bytes": it.arena_used_bytes(),
        "operators": it.operators(),
    }
    m = _meta(name)
    if m:
        d["meta"] = m
    if _label_list(name):
        d["labels"] = _label_list(name)
    return d


def _exact(x):
    # A float32 as [m, e] with x == m * 2**e exactly: a JSON number is not (a float32 board
    # prints about 7 digits, and reads 9-digit decimals to a neighbouring float).
    f = _F32
    f[0] = x
    b = bytes(f)
    e = (b[3] & 127) << 1 | b[2] >> 7
    m = (b[2] & 127) << 16 | b[1] << 8 | b[0]
    if e:
        m |= 0x800000
    else:
        e = 1
    e -= 150
    while m and not m & 1:
        m >>= 1
        e += 1
    return [-m if b[3] & 128 else m, e if m else 0]


def _details(d):
    if d["dtype"] != "float32":
        d["scale_exact"] = _exact(d["scale"])
    return d


def _pack(d, values, raw):
    # Real values are quantized with the input's scale and zero point; raw ones are the tensor's
    # own integers. (Whether a JSON number has a ".0" says nothing: clients differ.)
    a = array.array(_CODES[d["dtype"]])
    if d["dtype"] == "float32":
        for v in values:
            a.append(float(v))
        return a
    lo, hi = _RANGE[d["dtype"]]
    f = _F32
    f[0] = d["scale"]
    scale = f[0]
    for v in values:
        if not raw:
            # TFLite's quantization, in single precision on every build: value / scale rounded
            # to float32, then to the nearest integer, halves away from zero; plus zero point.
            f[0] = v
            f[0] = f[0] / scale
            x = f[0]
            q = int(x)
            x -= q
            v = q + (1 if x >= 0.5 else -1 if x <= -0.5 else 0) + d["zero_point"]
        elif v != int(v):
            raise ToolError("input: raw values must be integers")
        a.append(min(max(int(v), lo), hi))
    return a


@tool("Run a model from the device's models folder on one input. `input`: a list of real "
      "numbers (quantized with the input's scale and zero point; with raw: true, the tensor's own "
      "integer values) or base64 of the raw input tensor bytes. Returns the raw and dequantized output, the top_k "
      "classes (with labels when <model>.labels exists) and the invoke time in microseconds. "
      "`output` is exact; `dequantized` is rounded to what the board prints: exactly, it is "
      "(output - zero_point) * m * 2**e with [m, e] = output_quantization.scale_exact; a float32 "
      "output is exactly m * 2**e with [m, e] in output_exact.",
      {"model": {"type": "string", "description": "model name (file name without .tflite)"},
       "input": {"type": ["array", "string"], "items": {"type": "number"}},
       "raw": {"type": "boolean", "default": False, "description": "input numbers are already quantized"},
       "top_k": {"type": "integer", "minimum": 0, "default": 3}})
def infer(model, input, raw=False, top_k=3):
    it = _load(model)
    d = it.get_input_details(0)
    n = 1
    for s in d["shape"]:
        n *= s
    if isinstance(input, str):
        try:
            data = binascii.a2b_base64(input)
        except ValueError:
            raise ToolError("input: not valid base64")
    elif len(input) != n:
        raise ToolError("input: %d numbers given, the model takes %d" % (len(input), n))
    else:
        data = _pack(d, input, raw)
    try:
        it.set_input(data, 0)
    except ValueError as e:
        raise ToolError("input: %s" % e)
    t = time.ticks_us()
    it.invoke()
    us = time.ticks_diff(time.ticks_us(), t)
    out = list(it.get_output(0))
    od = it.get_output_details(0)
    deq = out if od["dtype"] == "float32" else [(v - od["zero_point"]) * od["scale"] for v in out]
    labels = _label_list(model)
    top = sorted(range(len(deq)), key=lambda i: -deq[i])[:top_k]
    top = [{"index": i, "score": deq[i], "label": labels[i] if labels and i < len(labels) else None} for i in top]
    r = {"model": model, "output": out, "dequantized": deq, "top_k": top, "invoke_us": us}
    if od["dtype"] != "float32":  # what makes the dequantized values exact for a client
        r["output_quantization"] = {"scale_exact": _exact(od["scale"]), "zero_point": od["zero_point"]}
    else:  # float32 outputs printed with ~7 digits are not exact: [m, e] each are
        r["output_exact"] = [_exact(v) for v in out]
    return r


def register(cfg):
    """Declares a model://<name> resource for every model in the configured folder."""
    global _dir
    _dir = cfg.get("models_dir") or "/models"
    for name in _names():
        m = _meta(name) or {}
        resource("model://" + name, name=name,
                 description=m.get("description") or "TFLite model %s: tensors, quantization, arena, operators" % name,
                 )(lambda n=name: info(n))
