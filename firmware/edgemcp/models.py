# Models as MCP tools: every <models_dir>/*.tflite (config "models_dir", default /models) and every
# model frozen into the image (firmware/models: the module edgemcp_frozen_models) gets a
# model://<name> resource, and the infer tool runs any of them. Optional <name>.labels (one label
# per line) and <name>.json (description, preprocess hint) in models_dir. A model loads on first
# use and stays; a file is read into the heap, a frozen model is used where it lies (in flash).
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


def _files():
    try:
        return [f[:-7] for f in os.listdir(_dir) if f.endswith(".tflite")]
    except OSError:
        return []


def _frozen():
    try:
        from edgemcp_frozen_models import MODELS
    except ImportError:
        return {}
    return MODELS


def _names():
    return sorted(set(_files()) | set(_frozen()))


def _load(name):
    it = _loaded.get(name)
    if it is None:
        if name in _files():  # a file in models_dir wins over a frozen model of that name
            path = "%s/%s.tflite" % (_dir, name)
            size = os.stat(path)[6]
            try:
                data = bytearray(size)  # read in place: no growing buffer, no copy
            except MemoryError:
                raise ToolError("model %s does not fit in the heap: its file needs %d bytes" % (name, size))
            with open(path, "rb") as f:
                f.readinto(data)
        elif name in _frozen():
            data = _frozen()[name]  # bytes in the image: the interpreter reads them in place
        else:
            raise ToolError("no model %r in %s (found: %s)" % (name, _dir, ", ".join(_names()) or "none"))
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
        "frozen": name not in _files() and name in _frozen(),
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


def _quantize(d, f, v):
    # TFLite's quantization, in single precision on every build: value / scale rounded to
    # float32, then to the nearest integer, halves away from zero; plus zero point.
    f[0] = d["scale"]
    scale = f[0]
    f[0] = v
    f[0] = f[0] / scale
    x = f[0]
    q = int(x)
    x -= q
    return q + (1 if x >= 0.5 else -1 if x <= -0.5 else 0) + d["zero_point"]


def _pack(d, values, raw, pre=None):
    # Real values are quantized with the input's scale and zero point; raw ones are the tensor's
    # own integers. (Whether a JSON number has a ".0" says nothing: clients differ.) pre: the
    # model's preprocess hint, real = value * scale + offset in float32 before that.
    a = array.array(_CODES[d["dtype"]])
    f = _F32
    if pre and not raw:
        f[0] = pre.get("scale", 1.0)
        ps = f[0]
        f[0] = pre.get("offset", 0.0)
        po = f[0]
    lo, hi = _RANGE.get(d["dtype"], (0, 0))
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ToolError("input: numbers only, got %r" % (v,))
        if pre and not raw:
            f[0] = v
            f[0] = f[0] * ps
            f[0] = f[0] + po
            v = f[0]
        if d["dtype"] == "float32":
            a.append(float(v))
            continue
        if not raw:
            v = _quantize(d, f, v)
        elif v != int(v):
            raise ToolError("input: raw values must be integers")
        a.append(min(max(int(v), lo), hi))
    return a


def _flatten(v, shape, path):
    # A list nested as the tensor's shape (the leading batch dimension of 1 may be left out) as
    # one flat list, row-major; a flat list as it is.
    if not (v and isinstance(v[0], list)):
        return v
    if len(shape) > 1 and shape[0] == 1 and len(v) != 1:
        shape = shape[1:]
    out = []

    def walk(x, dims, p):
        if not dims or not isinstance(x, list) or len(x) != dims[0]:
            raise ToolError("%s: does not match the input's shape %s" % (p, list(shape)))
        if len(dims) == 1:
            out.extend(x)
        else:
            for k, y in enumerate(x):
                walk(y, dims[1:], "%s[%d]" % (p, k))
    walk(v, list(shape), path)
    return out


def _input(it, i, v, raw, pre, path):
    d = it.get_input_details(i)
    n = 1
    for s in d["shape"]:
        n *= s
    if isinstance(v, str):
        try:
            data = binascii.a2b_base64(v)
        except ValueError:
            raise ToolError("%s: not valid base64" % path)
        if pre and pre.get("dtype") and not raw:  # the client's data type, not the tensor's
            code = _CODES.get(pre["dtype"])
            if code is None:
                raise ToolError("%s: preprocess dtype %r unknown" % (path, pre["dtype"]))
            if len(data) != n * (1 if code in "bB" else 2 if code == "h" else 4):
                raise ToolError("%s: %d bytes given, the model takes %d values of %s" % (path, len(data), n, pre["dtype"]))
            data = _pack(d, array.array(code, data), False, pre)
    elif isinstance(v, list):
        v = _flatten(v, d["shape"], path)
        if len(v) != n:
            raise ToolError("%s: %d numbers given, the model takes %d" % (path, len(v), n))
        data = _pack(d, v, raw, pre)
    else:
        raise ToolError("%s: expected a list of numbers or a base64 string" % path)
    try:
        it.set_input(data, i)
    except ValueError as e:
        raise ToolError("%s: %s" % (path, e))


def _output(it, i):
    d = it.get_output_details(i)
    out = list(it.get_output(i))
    r = {"name": d["name"], "shape": list(d["shape"]), "dtype": d["dtype"], "output": out}
    if d["dtype"] == "float32":  # printed with ~7 digits floats are not exact: [m, e] each are
        r["dequantized"] = out
        r["output_exact"] = [_exact(v) for v in out]
    else:  # what makes the dequantized values exact for a client
        r["dequantized"] = [(v - d["zero_point"]) * d["scale"] for v in out]
        r["output_quantization"] = {"scale_exact": _exact(d["scale"]), "zero_point": d["zero_point"]}
    return r


@tool("Run a model from the device's models folder (or frozen into its image). `input`: the model's "
      "input (input 0): a list of real numbers, flat or nested as the tensor's shape (quantized with "
      "the input's scale and zero point; with raw: true, the tensor's own integer values), or base64 "
      "of the raw input tensor bytes. `inputs`: one such entry per input tensor, for models with "
      "several. A preprocess hint in <model>.json (scale, offset, dtype) maps given "
      "values v to v * scale + offset first, and base64 to data of that dtype. Returns `outputs`, "
      "one per output tensor: name, shape, dtype, `output` (the tensor flat, in row-major order of "
      "`shape`), `dequantized`; and for output 0 also at the top level with the top_k classes "
      "(labels from <model>.labels) and the invoke time in microseconds. `output` is exact; "
      "`dequantized` is rounded to what the board prints: exactly, it is (output - zero_point) * "
      "m * 2**e with [m, e] = output_quantization.scale_exact; a float32 output is exactly m * 2**e "
      "with [m, e] in output_exact.",
      {"model": {"type": "string", "description": "model name (file name without .tflite)"},
       "input": {"type": ["array", "string", "null"], "items": {"type": ["number", "array"]}, "default": None},
       "inputs": {"type": ["array", "null"], "items": {"type": ["array", "string"]}, "default": None},
       "raw": {"type": "boolean", "default": False, "description": "input numbers are already quantized"},
       "top_k": {"type": "integer", "minimum": 0, "default": 3}})
def infer(model, input=None, inputs=None, raw=False, top_k=3):
    it = _load(model)
    if (input is None) == (inputs is None):
        raise ToolError("give input (the model's first input) or inputs (one per input), not both or neither")
    if inputs is None:
        inputs = [input]
        if it.input_count > 1:
            raise ToolError("input: the model takes %d inputs: give inputs, one per input" % it.input_count)
    elif len(inputs) != it.input_count:
        raise ToolError("inputs: %d given, the model takes %d" % (len(inputs), it.input_count))
    pre = (_meta(model) or {}).get("preprocess")
    for p in pre if isinstance(pre, list) else [pre]:
        if p is not None and not (isinstance(p, dict) and all(
                isinstance(p.get(k, 0), (int, float)) for k in ("scale", "offset"))):
            raise ToolError("%s.json: preprocess must be {scale, offset, dtype} or a list of them" % model)
    for i, v in enumerate(inputs):
        p = pre[i] if isinstance(pre, list) and i < len(pre) else pre if isinstance(pre, dict) else None
        _input(it, i, v, raw, p, "input" if input is not None else "inputs[%d]" % i)
    t = time.ticks_us()
    it.invoke()
    us = time.ticks_diff(time.ticks_us(), t)
    outs = [_output(it, i) for i in range(it.output_count)]
    r = dict(outs[0])  # output 0 at the top level too, as before: the same lists, not copies
    deq = r["dequantized"]
    labels = _label_list(model)
    top = sorted(range(len(deq)), key=lambda i: -deq[i])[:top_k]
    r.update(model=model, outputs=outs, invoke_us=us,
             top_k=[{"index": i, "score": deq[i], "label": labels[i] if labels and i < len(labels) else None}
                    for i in top])
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
