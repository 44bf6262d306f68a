# MicroPython side of the bit-exactness tests: runs every input record of a file through one
# tflite.Interpreter and writes the raw output bytes, so one process serves hundreds of inputs.
# usage: micropython-edgemcp run_batch.py MODEL INPUTS OUTPUTS
import json
import sys

import tflite

model_path, in_path, out_path = sys.argv[1:4]
with open(model_path, "rb") as f:
    model = f.read()
it = tflite.Interpreter(model)
ins = [it.get_input_details(i) for i in range(it.input_count)]
outs = [it.get_output_details(i) for i in range(it.output_count)]
size_of = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8, "bool": 1}
in_bytes = []
for d in ins:
    n = size_of[d["dtype"]]
    for s in d["shape"]:
        n *= s
    in_bytes.append(n)
bufs = [bytearray(n) for n in in_bytes]
count = 0
with open(in_path, "rb") as fin, open(out_path, "wb") as fout:
    while True:
        done = False
        for i, b in enumerate(bufs):
            if fin.readinto(b) != len(b):
                done = True
                break
            it.set_input(b, i)
        if done:
            break
        it.invoke()
        for i in range(it.output_count):
            fout.write(it.get_output(i))
        count += 1
print(json.dumps({"count": count, "arena": it.arena_used_bytes(), "inputs": ins, "outputs": outs}))
