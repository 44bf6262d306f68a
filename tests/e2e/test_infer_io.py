"""The infer tool on any model, through the official mcp SDK client over stdio, on the board's
heap (128 KiB on the board-faithful build): every input and output of a generated two-input,
two-output model (nested lists as the tensors' shapes, results with each output's shape),
bit-exact with tflite-micro; the preprocess hint of <name>.json (scale, offset, and the dtype
of base64 data); a model frozen into the image (micro_speech_quantized, boards/unix/manifest.py)
run with no file; and bad input answered with errors that name the fault."""
import base64
import json
import os
import pathlib
import sys

import anyio
import numpy as np
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from support import DEVICE_BIN
from vdevice import board_root, device_env

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tflite"))
import tfl_testlib as T  # noqa: E402
from tfl_testlib import BO, FLOAT32, INT8, OP, S  # noqa: E402


def params(root):
    return StdioServerParameters(command=str(DEVICE_BIN), args=["-X", "heapsize=128K", "-m", "edgemcp"],
                                 env={**os.environ, **device_env(root)})


def two_by_two():
    """float32 a[2,3], b[2,3] -> add = a + b [2,3], mul = a * b [2,3]."""
    mb = T.ModelBuilder()
    a, b = mb.tensor([2, 3], FLOAT32, name="a"), mb.tensor([2, 3], FLOAT32, name="b")
    y0, y1 = mb.tensor([2, 3], FLOAT32, name="sum"), mb.tensor([2, 3], FLOAT32, name="product")
    mb.op(OP.ADD, [a, b], [y0], BO.AddOptions, S.AddOptionsT())
    mb.op(OP.MUL, [a, b], [y1], BO.MulOptions, S.MulOptionsT())
    return mb.build([a, b], [y0, y1])


def requant_int8(shape=(1, 2, 4)):
    """int8 in (scale 1/128, zero point 0) -> int8 out (scale 1/64, zero point 3), shape kept."""
    mb = T.ModelBuilder()
    x = mb.tensor(list(shape), INT8, scale=1 / 128, zero_point=0)
    y = mb.tensor(list(shape), INT8, scale=1 / 64, zero_point=3)
    mb.op(OP.QUANTIZE, [x], [y])
    return mb.build([x], [y])


def quantize_f32(values, scale, zp):
    """TFLite's input quantization in float32: round(v / scale) halves away from zero, + zp."""
    q = np.float32(values) / np.float32(scale)
    return np.clip(np.trunc(q + np.copysign(np.float32(0.5), q)) + zp, -128, 127).astype(np.int8)


def test_every_input_and_output_with_shapes_preprocess_and_frozen(tmp_path, models_dir):
    root = board_root(tmp_path, {"name": "io-board"})
    (root / "models").mkdir()
    (root / "models" / "two.tflite").write_bytes(two_by_two())
    (root / "models" / "img.tflite").write_bytes(requant_int8())
    # pixels 0..255 to [-1, 1): v / 128 - 1, sent as uint8 bytes or as numbers
    (root / "models" / "img.json").write_text(json.dumps({"preprocess": {"scale": 0.0078125, "offset": -1.0,
                                                                         "dtype": "uint8"}}))
    rng = np.random.default_rng(3)
    # eighths and sixteenths: decimals a float32 board reads exactly (longer ones it may read
    # to a neighbouring float)
    a, b = (rng.integers(-24, 24, (2, 3)) / 8).astype(np.float32), (rng.integers(-40, 40, (2, 3)) / 16).astype(np.float32)
    want = [np.frombuffer(x, np.float32) for x in [T.oracle(two_by_two(), [[a, b]])[0][:24],
                                                    T.oracle(two_by_two(), [[a, b]])[0][24:]]]
    pixels = rng.integers(0, 256, 8).astype(np.uint8)
    img_in = quantize_f32(pixels.astype(np.float32) * np.float32(0.0078125) + np.float32(-1.0), 1 / 128, 0)
    img_want = list(np.frombuffer(T.oracle(requant_int8(), [[img_in.reshape(1, 2, 4)]])[0], np.int8))
    speech = (models_dir / "micro_speech_quantized.tflite").read_bytes()
    feats = rng.integers(-128, 128, 1960).astype(np.int8)
    speech_want = list(np.frombuffer(T.oracle(speech, [[feats.reshape(1, 1960)]])[0], np.int8))

    async def main():
        async with Client(params(root), mode="legacy", read_timeout_seconds=60) as c:
            # two inputs (one nested as its shape, one flat), two outputs with their shapes
            r = await c.call_tool("infer", {"model": "two", "inputs": [a.tolist(), b.reshape(-1).tolist()]})
            assert not r.is_error, r.content[0].text
            s = r.structured_content
            assert [o["name"] for o in s["outputs"]] == ["sum", "product"]
            for o, w in zip(s["outputs"], want):
                assert o["shape"] == [2, 3] and o["dtype"] == "float32"
                got = np.array([m * 2.0 ** e for m, e in o["output_exact"]], np.float32)
                assert got.tobytes() == w.tobytes()
            assert s["output"] == s["outputs"][0]["output"] and s["shape"] == [2, 3]  # output 0 as before

            # the preprocess hint: uint8 bytes in base64, or the same pixels as numbers
            r = await c.call_tool("infer", {"model": "img", "input": base64.b64encode(pixels.tobytes()).decode()})
            assert not r.is_error, r.content[0].text
            assert r.structured_content["output"] == img_want and r.structured_content["shape"] == [1, 2, 4]
            r = await c.call_tool("infer", {"model": "img", "input": [[[int(p) for p in pixels[:4]],
                                                                       [int(p) for p in pixels[4:]]]]})
            assert not r.is_error and r.structured_content["output"] == img_want, r.content[0].text
            r = await c.call_tool("infer", {"model": "img", "input": base64.b64encode(bytes(7)).decode()})
            assert r.is_error and "8 values of uint8" in r.content[0].text, r.content[0].text

            # a frozen model: no file in /models, yet listed, described and run
            uris = {str(x.uri) for x in (await c.list_resources()).resources}
            assert "model://micro_speech_quantized" in uris
            d = json.loads((await c.read_resource("model://micro_speech_quantized")).contents[0].text)
            assert d["frozen"] is True
            r = await c.call_tool("infer", {"model": "micro_speech_quantized",
                                            "input": base64.b64encode(feats.tobytes()).decode()})
            assert not r.is_error and r.structured_content["output"] == speech_want, r.content[0].text

            # bad input: each error names what is wrong
            for args, text in (({"model": "two", "input": a.tolist()}, "takes 2 inputs"),
                               ({"model": "two", "inputs": [a.tolist()]}, "1 given, the model takes 2"),
                               ({"model": "two", "inputs": [[[1, 2], [3, 4]], b.tolist()]}, "inputs[0][0]"),
                               ({"model": "two", "inputs": [a.tolist(), [[1, 2, "x"], [4, 5, 6]]]}, "numbers only"),
                               ({"model": "two", "inputs": [a.tolist(), "AAAA"]}, "inputs[1]: input needs 24 bytes, got 3"),
                               ({"model": "two"}, "give input"),
                               ({"model": "img", "input": [1], "inputs": [[1]]}, "not both")):
                r = await c.call_tool("infer", args)
                assert r.is_error and text in r.content[0].text, (args, r.content[0].text)
    anyio.run(main)
