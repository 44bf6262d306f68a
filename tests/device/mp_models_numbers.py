# Numbers in and out of the infer tool (firmware/edgemcp/models.py) agree on the 64-bit and the
# board-faithful (float32) builds: quantization is TFLite's (value / scale in float32, halves
# away from zero, plus zero point, clamped), and scales are given exactly as [m, e] = m * 2**e.
from edgemcp import models

d = {"dtype": "int8", "scale": 0.1, "zero_point": 0}
# 0.15 / 0.1 is 1.4999999999999998 in double but 1.5 in float32, as on the board and in TFLite
assert list(models._pack(d, [0.15, -0.15, 0.25, -0.25, 0.05, -0.05, 0.04], False)) == [2, -2, 3, -3, 1, -1, 0]
d = {"dtype": "int8", "scale": 0.00390625, "zero_point": -128}
assert list(models._pack(d, [0.0, 0.5, 0.998046875, 1.0, 2.0, -1.0], False)) == [-128, 0, 127, 127, 127, -128]
d = {"dtype": "uint8", "scale": 0.5, "zero_point": 10}
assert list(models._pack(d, [0.25, 0.75, -0.25, -100, 1000], False)) == [11, 12, 9, 0, 255]
assert list(models._pack(d, [3, 400, -9], True)) == [3, 255, 0]

# scales exactly: m * 2**e is the float32 nearest the scale, whatever JSON makes of it
for x, me in ((0.00390625, [1, -8]), (0.5, [1, -1]), (3.0, [3, 0]), (0.0, [0, 0]),
              (853253 / 8388608, [853253, -23]), (0.35546875, [91, -8]), (-0.75, [-3, -2])):
    assert models._exact(x) == me, (x, models._exact(x))
print("ok")
