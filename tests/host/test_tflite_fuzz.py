"""The libFuzzer target (ASan + UBSan) of the tflite core builds and runs clean for a short,
bounded time from the seed corpus (the real models and every generated operator model).
`make fuzz` runs the same target for longer."""
import os
import shutil
import subprocess

import pytest

from support import ROOT

SECONDS = 20


def test_fuzz_target_runs_clean(tmp_path, models_dir):
    if shutil.which("clang") is None:
        pytest.fail("clang is missing: run `make setup`")
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "cmodules/tflite/fuzz"), "run", f"FUZZ_TIME={SECONDS}",
                        f"BUILD={tmp_path}", f"MODELS={models_dir}"],
                       capture_output=True, text=True, timeout=SECONDS + 240, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert "Done" in r.stderr and "runs in" in r.stderr, r.stderr[-2000:]
