"""The float32 kernels with a transcendental function (LOGISTIC and TANH, SOFTMAX's exp) against
tflite-micro on 131,072 values each, bit for bit: the specials (signed zeros, subnormals,
infinities, NaNs, the largest floats), both sides of every cutoff the reference functions
branch on, 65,536 random bit patterns (every exponent alike) and 32,768 ordinary values in
[-30, 30]. NaN matches NaN whatever its payload. Runs on the build EDGEMCP_BUILD names (make
test-s3 runs it on the board-faithful 32-bit build too)."""
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tflite"))
import tfl_testlib as T  # noqa: E402
from tfl_testlib import BO, FLOAT32, OP, S  # noqa: E402

CHUNK = 4096          # floats per invoke: the arena stays inside the board's heap
VALUES = 32 * CHUNK   # per operator


def _f32(bits):
    return float(np.array([bits], np.uint32).view(np.float32)[0])


# Where the reference functions change branch: LOGISTIC's cutoffs; tanh's 2**-55, 1 and 22 and
# half of expm1's thresholds (tanh takes expm1 of 2|x|: 27 ln2, ln2/2, 1.5 ln2, 2**-25); exp's
# overflow and underflow limits and |x| = 88.
EDGES = [16.619047164916992188, -9.0, 2.0 ** -55, 1.0, 22.0, 88.0, _f32(0x42b17218), _f32(0x42b17217),
         _f32(0xc2cff1b4), _f32(0xc2ce8ecf), 0.5, 0.25] + \
    [_f32(b) / 2 for b in (0x4195b844, 0x3eb17218, 0x3f851592, 0x33000000)]


def _neighbours(v):
    f = np.float32(v)
    out = []
    for s in (1.0, -1.0):
        x = np.float32(s * f)
        lo, hi = x, x
        for _ in range(3):
            lo, hi = np.nextafter(lo, np.float32(-np.inf)), np.nextafter(hi, np.float32(np.inf))
            out += [lo, hi]
        out.append(x)
    return out


def sweep_values(seed=13):
    bits = [0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00400000,
            0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
            0xffc00000, 0x7f800001, 0x7fbfffff, 0xff812345, 0x3f800000, 0xbf800000]
    special = list(np.array(bits, np.uint32).view(np.float32))
    for e in EDGES:
        special += _neighbours(e)
    rng = np.random.default_rng(seed)
    random_bits = rng.integers(0, 2 ** 32, size=2 * 32768, dtype=np.uint64).astype(np.uint32).view(np.float32)
    ordinary = rng.uniform(-30, 30, size=VALUES).astype(np.float32)
    v = np.concatenate([np.array(special, np.float32), random_bits, ordinary])[:VALUES]
    assert len(v) == VALUES
    return v


def one_op_model(code, beta=None):
    mb = T.ModelBuilder()
    shape = [CHUNK // 2, 2] if code == OP.SOFTMAX else [CHUNK]
    x, y = mb.tensor(shape, FLOAT32), mb.tensor(shape, FLOAT32)
    if code == OP.SOFTMAX:
        o = S.SoftmaxOptionsT()
        o.beta = beta
        mb.op(code, [x], [y], BO.SoftmaxOptions, o)
    else:
        mb.op(code, [x], [y])
    return mb.build([x], [y])


CASES = {"logistic": (OP.LOGISTIC, None), "tanh": (OP.TANH, None),
         # rows of two: each exp's argument is minus the gap to the row's maximum times beta;
         # a negative beta gives positive arguments (overflow to inf and inf/inf = NaN included)
         "softmax_beta1": (OP.SOFTMAX, 1.0), "softmax_beta_neg0.75": (OP.SOFTMAX, -0.75)}


def _inputs(name):
    v = sweep_values()
    if name.startswith("softmax"):
        # pair every value with a shuffled one, so the gaps cover the range too
        w = np.random.default_rng(7).permutation(v)
        v = np.stack([v, w], axis=1).reshape(-1)
    shape = (CHUNK // 2, 2) if name.startswith("softmax") else (CHUNK,)
    return [[v[i:i + CHUNK].reshape(shape).copy()] for i in range(0, len(v), CHUNK)]


def _mismatches(a, b):
    a, b = np.frombuffer(a, np.float32), np.frombuffer(b, np.float32)
    same = (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))
    return int((~same).sum())


@pytest.fixture(scope="module")
def results(device_bin, tmp_path_factory):
    jobs, expected = [], []
    for name in CASES:
        model = one_op_model(*CASES[name])
        inputs = _inputs(name)
        expected.append(T.oracle(model, inputs, arena_size=64 * 1024))
        jobs.append({"model": model, "inputs": inputs})
    got = T.device_batch(device_bin, jobs, tmp_path_factory.mktemp("sweep"))
    return dict(zip(CASES, zip(expected, got)))


@pytest.mark.parametrize("name", list(CASES))
def test_float_sweep_bit_exact(results, name):
    expected, got = results[name]
    assert "error" not in got, got
    assert got["count"] == len(expected) >= VALUES // CHUNK
    bad = sum(_mismatches(e, g) for e, g in zip(expected, got["records"]))
    print(f"{name}: {len(expected) * CHUNK} values, {bad} mismatches")
    assert bad == 0, f"{name}: {bad} of {VALUES} outputs differ from tflite-micro"
    # the sweep reaches the saturated ends, the NaNs and the ordinary middle
    out = np.concatenate([np.frombuffer(e, np.float32) for e in expected])
    assert np.isnan(out).any() and (out == 1.0).any() and ((out > 0.01) & (out < 0.99)).any()
