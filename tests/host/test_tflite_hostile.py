"""Untrusted models on the virtual device: truncated and hand-crafted malformed models are refused
with ValueError; bit-flipped models either load and run or are refused (ValueError, or
MemoryError when a flipped shape asks for more than the heap); nothing crashes the process."""
import pathlib
import struct
import sys

import flatbuffers
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tflite"))
import tfl_testlib as T  # noqa: E402
from tfl_testlib import BO, FLOAT32, INT8, OP, S  # noqa: E402


def small_model(mutate=None, shape=(1, 7, 13, 3)):
    """A valid int8 CONV_2D -> AVERAGE_POOL_2D model; mutate(mb, tensors) may break it."""
    mb = T.ModelBuilder()
    rng = np.random.default_rng(0)
    x = mb.tensor(list(shape), INT8, scale=0.05, zero_point=1)
    w = mb.tensor([4, 3, 3, 3], INT8, data=rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), scale=0.01, zero_point=0)
    y = mb.tensor([1, 7, 13, 4], INT8, scale=0.1, zero_point=0)
    z = mb.tensor([1, 4, 7, 4], INT8, scale=0.1, zero_point=0)
    co = S.Conv2DOptionsT()
    co.strideW = co.strideH = 1
    po = S.Pool2DOptionsT()
    po.strideW = po.strideH = po.filterWidth = po.filterHeight = 2
    ops = [(OP.CONV_2D, [x, w, -1], [y], BO.Conv2DOptions, co), (OP.AVERAGE_POOL_2D, [y], [z], BO.Pool2DOptions, po)]
    io = {"inputs": [x], "outputs": [z]}
    if mutate:
        mutate(mb, ops, io)
    for op in ops:
        mb.op(*op)
    return mb.build(io["inputs"], io["outputs"])


def patch(data, offset, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def shape_vector_at(model):
    """Offset of the length word of tensor 0's shape vector [1, 7, 13, 3]."""
    i = model.find(struct.pack("<5i", 4, 1, 7, 13, 3))
    assert i > 0
    return i


def set_attr(idx, attr, value):
    def m(mb, ops, io):
        setattr(mb.tensors[idx], attr, value)
    return m


def crafted():
    good = small_model()
    sv = shape_vector_at(good)
    cases = {
        "empty": b"",
        "four_bytes": good[:4],
        "root_offset_past_end": patch(good, 0, "<I", len(good) + 64),
        "root_offset_huge": patch(good, 0, "<I", 0xFFFFFFF0),
        "vtable_offset_outside": patch(good, struct.unpack_from("<I", good, 0)[0], "<i", -0x7FFFFFF0),
        "vector_length_huge": patch(good, sv, "<I", 0x3FFFFFFF),
        "vector_length_past_end": patch(good, sv, "<I", (len(good) - sv) // 4),
        "huge_shape": small_model(set_attr(0, "shape", np.array([1, 70000, 70000, 3], np.int32))),
        "negative_dimension": small_model(set_attr(0, "shape", np.array([1, -7, 13, 3], np.int32))),
        "too_many_dimensions": small_model(set_attr(0, "shape", np.array([1] * 9, np.int32))),
        "buffer_index_out_of_range": small_model(set_attr(1, "buffer", 99)),
        "int8_without_quantization": small_model(set_attr(2, "quantization", None)),
        "shape_does_not_match_weights": small_model(set_attr(1, "shape", np.array([4, 3, 3, 2], np.int32))),
        "unknown_tensor_type": small_model(set_attr(2, "type", 13)),
    }

    def cycle(mb, ops, io):
        # operator 0 reads the output of operator 1, which reads operator 0's output
        ops[0] = (OP.CONV_2D, [3, 1, -1], [2]) + ops[0][3:]
        ops[1] = (OP.AVERAGE_POOL_2D, [2], [3]) + ops[1][3:]
    cases["cycle"] = small_model(cycle)

    def self_loop(mb, ops, io):
        ops[1] = (OP.AVERAGE_POOL_2D, [3], [3]) + ops[1][3:]
    cases["operator_reads_its_output"] = small_model(self_loop)

    def written_twice(mb, ops, io):
        ops.append((OP.AVERAGE_POOL_2D, [2], [3]) + ops[1][3:])
    cases["tensor_written_twice"] = small_model(written_twice)

    def writes_constant(mb, ops, io):
        ops[1] = (OP.AVERAGE_POOL_2D, [2], [1]) + ops[1][3:]
    cases["operator_writes_a_constant"] = small_model(writes_constant)

    def bad_index(mb, ops, io):
        ops[0] = (OP.CONV_2D, [0, 1, 57], [2]) + ops[0][3:]
    cases["tensor_index_out_of_range"] = small_model(bad_index)

    def negative_index(mb, ops, io):
        ops[0] = (OP.CONV_2D, [0, -7, -1], [2]) + ops[0][3:]
    cases["negative_tensor_index"] = small_model(negative_index)

    def never_computed(mb, ops, io):
        io["outputs"] = [3, mb.tensor([1, 4], INT8, scale=0.1)]
    cases["output_never_computed"] = small_model(never_computed)

    def zero_stride(mb, ops, io):
        ops[0][4].strideW = 0
    cases["zero_stride"] = small_model(zero_stride)

    mb = T.ModelBuilder()
    x = mb.tensor([1, 4], FLOAT32)
    y = mb.tensor([1, 4], FLOAT32)
    mb.op(OP.RELU, [x], [y])
    mb.ops[0].opcodeIndex = 5
    cases["opcode_index_out_of_range"] = mb.build([x], [y])

    def wrong_output_shape(mb, ops, io):
        mb.tensors[3].shape = np.array([1, 5, 7, 4], np.int32)
    cases["output_shape_mismatch"] = small_model(wrong_output_shape)

    cases["schema_version_2"] = _with_version(small_model(), 2)
    return cases


def _with_version(model, version):
    m = S.ModelT.InitFromPackedBuf(model, 0)
    m.version = version
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_crafted_and_truncated_models_give_value_error(device_bin, models_dir, tmp_path):
    cases = crafted()
    rng = np.random.default_rng(7)
    for name in ("hello_world_int8", "micro_speech_quantized", "person_detect"):
        model = (models_dir / f"{name}.tflite").read_bytes()
        cuts = sorted(set([1, 7, 8, 16, 64, 200, len(model) // 2, len(model) - 1] + list(rng.integers(9, len(model), 12))))
        for n in cuts:
            cases[f"{name}_truncated_{n}"] = model[:n]
    names = sorted(cases)
    got = T.device_batch(device_bin, [{"model": cases[n], "inputs": None} for n in names], tmp_path, heap="4M")
    wrong = {n: g for n, g in zip(names, got) if g.get("error") != "ValueError"}
    assert not wrong, wrong


@pytest.mark.parametrize("name", ["hello_world_int8", "micro_speech_quantized", "person_detect"])
def test_bit_flipped_models_never_crash(device_bin, models_dir, tmp_path, name):
    model = (models_dir / f"{name}.tflite").read_bytes()
    rng = np.random.default_rng(sum(map(ord, name)))
    # The tables sit in the first and last few KiB (weights are in between): flip there most.
    jobs = []
    for _ in range(120):
        b = bytearray(model)
        for _ in range(int(rng.integers(1, 6))):
            region = rng.integers(0, 3)
            pos = int(rng.integers(0, min(len(b), 4096))) if region == 0 else \
                int(rng.integers(max(0, len(b) - 8192), len(b))) if region == 1 else int(rng.integers(0, len(b)))
            b[pos] ^= 1 << int(rng.integers(0, 8))
        jobs.append({"model": bytes(b), "inputs": None})
    got = T.device_batch(device_bin, jobs, tmp_path, heap="4M", timeout=600)
    outcomes = {}
    for g in got:
        kind = g.get("error", "ok")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert set(outcomes) <= {"ok", "ValueError", "MemoryError"}, outcomes
    assert outcomes.get("ValueError", 0) > 0, outcomes


def test_shape_too_big_for_the_heap_is_a_memory_error(device_bin, tmp_path):
    """A well-formed model whose tensors need more than the heap: MemoryError naming the size."""
    def big(mb, ops, io):
        mb.tensors[0].shape = np.array([1, 2000, 2000, 3], np.int32)
        mb.tensors[2].shape = np.array([1, 2000, 2000, 4], np.int32)
        mb.tensors[3].shape = np.array([1, 1000, 1000, 4], np.int32)
    got = T.device_batch(device_bin, [{"model": small_model(big, shape=(1, 2000, 2000, 3)), "inputs": None}],
                         tmp_path, heap="4M")[0]
    assert got["error"] == "MemoryError", got
    need = 2000 * 2000 * 3 + 2000 * 2000 * 4  # input and conv output are alive together
    n = int(got["message"].split("arena of ")[1].split()[0])
    assert n >= need, got["message"]
