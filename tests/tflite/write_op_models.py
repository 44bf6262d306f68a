"""Writes every generated operator model of tests/host/test_tflite_ops.py into a folder (the
fuzzer's seed corpus). usage: python write_op_models.py DIR"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "host"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from test_tflite_ops import CASES  # noqa: E402

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name, build in CASES.items():
    (out / f"op_{name}.tflite").write_bytes(build())
print(f"wrote {len(CASES)} models to {out}")
