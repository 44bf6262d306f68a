"""Inference as MCP tools on the virtual device, through the official mcp SDK client over stdio:
model://<name> resources and the infer tool on the real models copied into the board's /models,
person_detect labelling the two test images, and a model too big for the heap reported as a
tool error with the size it needs."""
import base64
import json
import os
import re
import pathlib
import shutil
import sys

import anyio
import pytest
import numpy as np
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from support import DEVICE_BIN
from vdevice import board_root, device_env

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tflite"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "host"))
import tfl_testlib as T  # noqa: E402
from test_tflite_models import bmp_gray  # noqa: E402


# person_detect needs ~450 KB of heap: a board with PSRAM. On the board-faithful build (the heap
# of an ESP32-S3 without it) the tests that run it say so; test_on_the_board_heap shows the rest.
PSRAM = "person_detect needs ~450 KB of heap: a board with PSRAM"


def params(root, heap="4M", over_board=PSRAM):
    env = {**os.environ, **device_env(root)}
    if over_board:
        env["EDGEMCP_HEAP_OVER_BOARD"] = over_board
    return StdioServerParameters(command=str(DEVICE_BIN), args=["-X", f"heapsize={heap}", "-m", "edgemcp"], env=env)


def make_root(tmp_path, models_dir, names):
    root = board_root(tmp_path, {"name": "infer-board"})
    (root / "models").mkdir()
    for n in names:
        shutil.copy(models_dir / f"{n}.tflite", root / "models" / f"{n}.tflite")
    (root / "models" / "person_detect.labels").write_text("no person\nperson\n")
    return root


def test_infer_person_detect_and_resources(tmp_path, models_dir):
    root = make_root(tmp_path, models_dir, ["person_detect", "hello_world_float", "hello_world_int8"])
    images = {label: bmp_gray(models_dir / f"{f}.bmp") for label, f in (("person", "person"), ("no person", "no_person"))}
    hello = (models_dir / "hello_world_float.tflite").read_bytes()
    expected_hello = np.frombuffer(T.oracle(hello, [[np.array([[1.25]], np.float32)]])[0], np.float32)

    async def main():
        async with Client(params(root), mode="legacy", read_timeout_seconds=60) as c:
            uris = {str(r.uri) for r in (await c.list_resources()).resources}
            assert {"model://person_detect", "model://hello_world_float"} <= uris, uris
            info = await c.read_resource("model://person_detect")
            d = json.loads(info.contents[0].text)
            assert d["inputs"][0]["shape"] == [1, 96, 96, 1] and d["inputs"][0]["dtype"] == "int8"
            assert 0 < d["arena_bytes"] <= 85232
            assert d["operators"].count("CONV_2D") == 14 and d["labels"] == ["no person", "person"]

            for label, img in images.items():
                r = await c.call_tool("infer", {"model": "person_detect",
                                                "input": base64.b64encode(img.tobytes()).decode()})
                assert not r.is_error, r.content[0].text
                s = r.structured_content
                assert s["top_k"][0]["label"] == label, s
                assert len(s["output"]) == 2 and s["invoke_us"] > 0
                assert abs(sum(s["dequantized"]) - 1.0) < 0.02  # softmax probabilities

            r = await c.call_tool("infer", {"model": "hello_world_float", "input": [1.25]})
            assert not r.is_error, r.content[0].text
            m, e = r.structured_content["output_exact"][0]  # exact on a float32 board too
            assert np.float32(m * 2.0 ** e) == expected_hello[0]
            r = await c.call_tool("infer", {"model": "hello_world_int8", "input": [1.25], "top_k": 1})
            assert not r.is_error and len(r.structured_content["top_k"]) == 1
            # a real 1 is the same input whether the client writes 1 or 1.0; raw: true takes the
            # tensor's own integer (here round(1 / scale) + zero_point)
            a = (await c.call_tool("infer", {"model": "hello_world_int8", "input": [1]})).structured_content
            b = (await c.call_tool("infer", {"model": "hello_world_int8", "input": [1.0]})).structured_content
            res = json.loads((await c.read_resource("model://hello_world_int8")).contents[0].text)
            q = res["inputs"][0]
            q1 = round(1 / q["scale"]) + q["zero_point"]
            r = (await c.call_tool("infer", {"model": "hello_world_int8", "input": [q1], "raw": True})).structured_content
            assert a["output"] == b["output"] == r["output"]
            r = await c.call_tool("infer", {"model": "hello_world_int8", "input": [1.5], "raw": True})
            assert r.is_error and "integers" in r.content[0].text

            r = await c.call_tool("infer", {"model": "nope", "input": [1.0]})
            assert r.is_error and "no model" in r.content[0].text
            r = await c.call_tool("infer", {"model": "hello_world_float", "input": [1.0, 2.0]})
            assert r.is_error and "takes 1" in r.content[0].text
            r = await c.call_tool("infer", {"model": "person_detect", "input": "AAAA"})
            assert r.is_error and "9216" in r.content[0].text
    anyio.run(main)


def test_model_too_big_for_the_heap_is_a_tool_error(tmp_path, models_dir):
    """person_detect's file (300 KB) fits these heaps, its arena does not: the error says how
    big the arena is; a small model still runs on the same device."""
    root = make_root(tmp_path, models_dir, ["person_detect", "hello_world_int8"])
    seen = []

    async def main(heap):
        async with Client(params(root, heap=heap), mode="legacy", read_timeout_seconds=60) as c:
            r = await c.call_tool("infer", {"model": "person_detect", "input": "AAAA"})
            assert r.is_error and "does not fit in the heap" in r.content[0].text, r.content[0].text
            seen.append(r.content[0].text)
            r = await c.call_tool("infer", {"model": "hello_world_int8", "input": [0.5]})
            assert not r.is_error, r.content[0].text
    for heap in ("400K", "440K", "480K"):
        anyio.run(main, heap)
        if re.search(r"arena of \d+ bytes", seen[-1]):
            break
    assert re.search(r"arena of [1-9]\d+ bytes", seen[-1]), seen


def test_on_the_board_heap(tmp_path, models_dir):
    """On the heap of an ESP32-S3 without PSRAM (128 KiB, the board-faithful build's): person_detect
    is a tool error that names its size, micro_speech classifies with real numbers and with base64."""
    root = make_root(tmp_path, models_dir, ["person_detect", "micro_speech_quantized"])
    model = (models_dir / "micro_speech_quantized.tflite").read_bytes()
    feats = np.random.default_rng(7).integers(-128, 128, 1960).astype(np.int8)
    expected = list(np.frombuffer(T.oracle(model, [[feats.reshape(1, 1960)]])[0], np.int8))

    async def main():
        async with Client(params(root, heap="128K", over_board=None), mode="legacy", read_timeout_seconds=60) as c:
            r = await c.call_tool("infer", {"model": "person_detect", "input": "AAAA"})
            assert r.is_error and "does not fit in the heap" in r.content[0].text, r.content[0].text
            assert re.search(r"\d{5,} bytes", r.content[0].text), r.content[0].text
            d = json.loads((await c.read_resource("model://person_detect")).contents[0].text)
            assert "does not fit in the heap" in d["error"] and re.search(r"\d{5,} bytes", d["error"]), d
            r = await c.call_tool("infer", {"model": "micro_speech_quantized",
                                            "input": base64.b64encode(feats.tobytes()).decode()})
            assert not r.is_error, r.content[0].text
            assert r.structured_content["output"] == expected
            r = await c.call_tool("infer", {"model": "micro_speech_quantized", "input": [int(v) for v in feats],
                                            "raw": True})
            assert not r.is_error and r.structured_content["output"] == expected, r.content[0].text
            q = r.structured_content["output_quantization"]
            m, e = q["scale_exact"]
            assert r.structured_content["dequantized"] == pytest.approx(
                [(v - q["zero_point"]) * m * 2.0 ** e for v in expected], rel=1e-6)
    anyio.run(main)
