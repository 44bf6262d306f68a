# The virtual device: the firmware package exactly as the board freezes it, plus the unix
# board shims (file-backed flash partition, machine extras) under modules/, and one example
# model frozen into the image (firmware/models: it loads with only its arena on the heap).
import os

include("../../firmware/manifest.py")
freeze("modules")
include("../../firmware/models", models=[os.path.abspath("../../models/micro_speech_quantized.tflite")])
