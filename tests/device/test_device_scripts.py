"""Runs every MicroPython test script tests/device/mp_*.py on the virtual device (the unix
build): a script passes when it exits 0; its output is shown on failure."""
import pathlib

import pytest

from support import run_micropython

SCRIPTS = sorted(pathlib.Path(__file__).parent.glob("mp_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_device_script(device_bin, script):
    r = run_micropython(script, timeout=600)
    assert r.returncode == 0, f"{script.name} failed\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"
