"""Runs every MicroPython test script tests/device/mp_*.py on the virtual device (the unix
build): a script passes when it exits 0; its output is shown on failure. On the board-faithful
build a script runs in the board's heap unless a line `# over board heap: <reason>` in it says
why it needs more (it holds a RAM copy of what the board keeps in flash)."""
import pathlib

import pytest

from support import run_micropython

SCRIPTS = sorted(pathlib.Path(__file__).parent.glob("mp_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_device_script(device_bin, script):
    reason = None
    for line in script.read_text().splitlines():
        if line.startswith("# over board heap:"):
            reason = line.split(":", 1)[1].strip()
    r = run_micropython(script, timeout=600, over_board=reason)
    assert r.returncode == 0, f"{script.name} failed\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"
