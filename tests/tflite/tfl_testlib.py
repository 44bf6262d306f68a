"""CPython helpers for the tflite tests: build small .tflite models with the TFLite schema classes
shipped in the tflite-micro wheel, run them on tflite-micro (the oracle) and, in one process, on
the virtual device (tests/tflite/run_batch.py)."""
import importlib.util
import json
import pathlib
import subprocess

import flatbuffers
import numpy as np
import tflite_micro
from tflite_micro.python.tflite_micro import runtime

HERE = pathlib.Path(__file__).resolve().parent
RUN_BATCH = HERE / "run_batch.py"

_p = pathlib.Path(tflite_micro.__file__).parent / "tensorflow/lite/micro/python/schema_py_generated.py"
_spec = importlib.util.spec_from_file_location("tflite_schema", _p)
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)

INT8, FLOAT32, INT32, INT16 = S.TensorType.INT8, S.TensorType.FLOAT32, S.TensorType.INT32, S.TensorType.INT16
INT64, UINT8 = S.TensorType.INT64, S.TensorType.UINT8
NP = {INT8: np.int8, FLOAT32: np.float32, INT32: np.int32, INT16: np.int16, INT64: np.int64, UINT8: np.uint8}
OP = S.BuiltinOperator
BO = S.BuiltinOptions


class ModelBuilder:
    """Tensors and operators of one subgraph; build() returns the .tflite bytes."""

    def __init__(self):
        self.tensors, self.buffers, self.ops, self.codes = [], [S.BufferT()], [], []

    def tensor(self, shape, dtype, data=None, scale=None, zero_point=None, qdim=0, name=None):
        t = S.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = dtype
        t.name = name or f"t{len(self.tensors)}"
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype=NP[dtype]).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = np.array(np.atleast_1d(scale), dtype=np.float32)
            zp = np.atleast_1d(zero_point if zero_point is not None else 0)
            if len(zp) == 1 and len(q.scale) > 1:
                zp = np.zeros(len(q.scale), dtype=np.int64)
            q.zeroPoint = np.array(zp, dtype=np.int64)
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, opt_type=0, opt=None):
        if code not in self.codes:
            self.codes.append(code)
        o = S.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array(outputs, dtype=np.int32)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opt
        self.ops.append(o)

    def build(self, inputs, outputs):
        sg = S.SubGraphT()
        sg.tensors, sg.operators = self.tensors, self.ops
        sg.inputs = np.array(inputs, dtype=np.int32)
        sg.outputs = np.array(outputs, dtype=np.int32)
        m = S.ModelT()
        m.version = 3
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.operatorCodes = []
        for c in self.codes:
            oc = S.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            m.operatorCodes.append(oc)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def oracle(model, inputs_list, arena_size=None):
    """Raw output bytes from tflite-micro for each list of input arrays (arena_size: for
    models whose tensors outgrow tflite-micro's default arena, 10 times the model's size)."""
    it = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    n_out = S.Model.GetRootAs(model, 0).Subgraphs(0).OutputsLength()
    res = []
    for inputs in inputs_list:
        for i, x in enumerate(inputs):
            it.set_input(x, i)
        it.invoke()
        res.append(b"".join(it.get_output(i).tobytes() for i in range(n_out)))
    return res


def device_batch(device_bin, jobs, workdir, timeout=300, heap="8M"):
    """Runs jobs [{model: bytes or path, inputs: [[arrays]] or None}] in one device process.
    Returns per job the result dict of run_batch.py plus 'records': raw output bytes per input."""
    workdir = pathlib.Path(workdir)
    spec = []
    for n, job in enumerate(jobs):
        model = job["model"]
        if isinstance(model, (bytes, bytearray)):
            mp = workdir / f"m{n}.tflite"
            mp.write_bytes(model)
        else:
            mp = pathlib.Path(model)
        entry = {"model": str(mp), "inputs": None, "outputs": None}
        if job.get("inputs") is not None:
            ip, op = workdir / f"in{n}.bin", workdir / f"out{n}.bin"
            ip.write_bytes(b"".join(x.tobytes() for inputs in job["inputs"] for x in inputs))
            entry.update(inputs=str(ip), outputs=str(op))
        spec.append(entry)
    jp = workdir / "jobs.jsonl"
    jp.write_text("".join(json.dumps(e) + "\n" for e in spec))
    r = subprocess.run([device_bin, "-X", f"heapsize={heap}", str(RUN_BATCH), str(jp)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"device process failed ({r.returncode})\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(jobs), r.stdout[-3000:]
    for job, entry, res in zip(jobs, spec, lines):
        if entry["outputs"] and "error" not in res:
            raw = pathlib.Path(entry["outputs"]).read_bytes()
            n = len(job["inputs"])
            size = len(raw) // n if n else 0
            assert size * n == len(raw)
            res["records"] = [raw[i * size:(i + 1) * size] for i in range(n)]
    return lines


def random_inputs(model, count, seed):
    """Seeded random inputs matching the model's input tensors (via the oracle's details)."""
    it = runtime.Interpreter.from_bytes(model)
    rng = np.random.default_rng(seed)
    res = []
    n_in = S.Model.GetRootAs(model, 0).Subgraphs(0).InputsLength()
    details = [it.get_input_details(i) for i in range(n_in)]
    for _ in range(count):
        xs = []
        for d in details:
            shape = tuple(d["shape"])
            if d["dtype"] == np.float32:
                xs.append(rng.uniform(-4, 4, size=shape).astype(np.float32))
            else:
                info = np.iinfo(d["dtype"])
                xs.append(rng.integers(info.min, info.max + 1, size=shape, dtype=d["dtype"]))
        res.append(xs)
    return res
