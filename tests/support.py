"""Where things are for the tests (the repository, the virtual device binary, the real models)
and how to run MicroPython code on the virtual device; imported by conftest.py and by tests."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVICE_BIN = pathlib.Path(os.environ.get("EDGEMCP_DEVICE_BIN", ROOT / "build/unix/micropython-edgemcp"))
MODELS = pathlib.Path(os.environ.get("EDGEMCP_MODELS", ROOT.parent / "shared/models"))


def run_micropython(code_or_path, *args, timeout=120, env=None, cwd=None, heap="2M"):
    """Run a MicroPython script (a path, or source text) on the virtual device binary.
    Returns the CompletedProcess; the caller asserts on returncode and output."""
    cmd = [str(DEVICE_BIN), "-X", f"heapsize={heap}"]
    if isinstance(code_or_path, pathlib.Path):
        cmd += [str(code_or_path), *args]
    else:
        cmd += ["-c", code_or_path, *args]
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e,
                          cwd=cwd or ROOT)
