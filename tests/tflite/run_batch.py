# MicroPython side of the tflite tests: one process runs a list of jobs, so hundreds of inputs
# and dozens of models cost one start-up. usage: micropython-edgemcp run_batch.py JOBS.jsonl
# One job per line: {"model": path, "inputs": path or null, "outputs": path or null}, read one at
# a time with the heap collected before each, so every model starts on the heap of a board that
# loads one model (the board-faithful build's 128 KiB cannot also hold 300 jobs' paths, and a
# result left live splits the heap under the next model). Input records are
# the raw bytes of every input tensor, back to back; outputs are written the same way. With
# "inputs": null the model is invoked once with zeroed inputs (hostile-model runs).
# Prints one JSON line per job: arena bytes and tensor details, or the exception raised.
import gc
import json
import sys

import tflite

SIZE = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8, "bool": 1}


def nbytes(d):
    n = SIZE[d["dtype"]]
    for s in d["shape"]:
        n *= s
    return n


def run(job):
    with open(job["model"], "rb") as f:
        model = f.read()
    it = tflite.Interpreter(model)
    ins = [it.get_input_details(i) for i in range(it.input_count)]
    outs = [it.get_output_details(i) for i in range(it.output_count)]
    bufs = [bytearray(nbytes(d)) for d in ins]
    count = 0
    if job.get("inputs") is None:
        for i, b in enumerate(bufs):
            it.set_input(b, i)
        it.invoke()
        for i in range(it.output_count):
            it.get_output(i)
        count = 1
    else:
        with open(job["inputs"], "rb") as fin, open(job["outputs"], "wb") as fout:
            while True:
                if any(fin.readinto(b) != len(b) for b in bufs):
                    break
                for i, b in enumerate(bufs):
                    it.set_input(b, i)
                it.invoke()
                for i in range(it.output_count):
                    fout.write(it.get_output(i))
                count += 1
    return {"count": count, "arena": it.arena_used_bytes(), "inputs": ins, "outputs": outs}


with open(sys.argv[1]) as jobs:
    while True:
        line = jobs.readline()
        if not line:
            break
        gc.collect()
        try:
            r = run(json.loads(line))
        except Exception as e:
            r = {"error": type(e).__name__, "message": str(e)}
        print(json.dumps(r))
        r = line = None  # nothing of this job stays on the heap while the next one loads
