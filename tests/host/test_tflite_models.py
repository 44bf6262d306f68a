"""The tflite module on the virtual device against tflite-micro (the PyPI runtime, TFLite Micro's
reference kernels) on the real models: identical output bytes for 200 seeded random inputs per
model, the person images classified as the models README says, and an arena no bigger than
TFLite Micro's."""
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tflite"))
import tfl_testlib as T  # noqa: E402

MODELS = ["hello_world_int8", "hello_world_float", "micro_speech_quantized", "person_detect"]
# TFLite Micro's arena on x86-64 for these models (issue 4; the models README).
TFLM_ARENA = {"hello_world_int8": 1392, "micro_speech_quantized": 7520, "person_detect": 85232}
N = 200


def bmp_gray(path):
    """Raw 8-bit pixels of a 96x96 grey BMP, rows flipped to top-down."""
    data = path.read_bytes()
    off = int.from_bytes(data[10:14], "little")
    w = int.from_bytes(data[18:22], "little", signed=True)
    h = int.from_bytes(data[22:26], "little", signed=True)
    stride = (w + 3) & ~3
    rows = [data[off + r * stride: off + r * stride + w] for r in range(abs(h))]
    if h > 0:
        rows.reverse()
    return np.frombuffer(b"".join(rows), dtype=np.uint8).view(np.int8).reshape(1, 96, 96, 1)


@pytest.fixture(scope="module")
def results(device_bin, models_dir, tmp_path_factory):
    jobs, expected = [], []
    for seed, name in enumerate(MODELS):
        model = (models_dir / f"{name}.tflite").read_bytes()
        inputs = T.random_inputs(model, N, seed=1000 + seed)
        if name == "person_detect":
            inputs += [[bmp_gray(models_dir / "person.bmp")], [bmp_gray(models_dir / "no_person.bmp")]]
        expected.append(T.oracle(model, inputs))
        jobs.append({"model": models_dir / f"{name}.tflite", "inputs": inputs})
    got = T.device_batch(device_bin, jobs, tmp_path_factory.mktemp("models"))
    return dict(zip(MODELS, zip(expected, got)))


@pytest.mark.parametrize("name", MODELS)
def test_bit_exact_with_tflite_micro(results, name):
    expected, got = results[name]
    assert "error" not in got, got
    assert got["count"] == len(expected) >= N
    bad = [i for i, (e, g) in enumerate(zip(expected, got["records"])) if e != g]
    assert not bad, f"{len(bad)} of {len(expected)} outputs differ, first at input {bad[0]}"


def test_person_images(results):
    expected, got = results["person_detect"]
    person, no_person = (np.frombuffer(r, dtype=np.int8) for r in got["records"][-2:])
    assert person[1] > person[0], person       # index 1 is "person"
    assert no_person[0] > no_person[1], no_person


@pytest.mark.parametrize("name", sorted(TFLM_ARENA))
def test_arena_not_bigger_than_tflite_micro(results, name):
    arena = results[name][1]["arena"]
    assert 0 < arena <= TFLM_ARENA[name], arena
