# A model frozen into the image (boards/unix/manifest.py freezes micro_speech_quantized through
# firmware/models) is found by name with no file, loads with only its interpreter and arena on
# the heap (the bytes stay in the image: in flash on a board), and answers as the same model
# read from a file does. Prints the heap cost of both.
import binascii
import gc
import os

from edgemcp import models

MODELS = os.getenv("EDGEMCP_MODELS") or "models"
NAME = "micro_speech_quantized"


def cost(folder):
    models._dir = folder
    models._loaded.clear()
    gc.collect()
    a = gc.mem_alloc()
    it = models._load(NAME)
    gc.collect()
    b = gc.mem_alloc()
    r = models.infer(NAME, input=binascii.b2a_base64(bytes(range(256)) * 7 + bytes(168)).decode())
    gc.collect()
    c = gc.mem_alloc()
    return b - a, c - b, it.arena_used_bytes(), r, models.info(NAME)["frozen"]


size = os.stat("%s/%s.tflite" % (MODELS, NAME))[6]
with open("%s/%s.tflite" % (MODELS, NAME), "rb") as f:
    assert models._frozen()[NAME] == f.read()
frozen = cost("/no/such/folder")
assert frozen[4] is True and NAME in models._names()
from_file = cost(MODELS)
assert from_file[4] is False
assert frozen[3]["output"] == from_file[3]["output"] and len(frozen[3]["output"]) == 4
# the file's bytes are on the heap, the frozen ones are not (their arena holds a copy of the few
# int32 constants a frozen bytes constant leaves unaligned, tflite's Interpreter copies them)
assert from_file[0] - frozen[0] + frozen[2] - from_file[2] >= size, (from_file, frozen)
assert frozen[0] < frozen[2] + 4096, frozen  # interpreter tables beside the arena
print("frozen %s: load +%d B (arena %d B), infer +%d B; from a file: load +%d B (arena %d B), infer +%d B; "
      "model %d B" % (NAME, frozen[0], frozen[2], frozen[1], from_file[0], from_file[2], from_file[1], size))
print("ok")
