"""Where the host finds the pieces of an edgemcp checkout (the virtual device binary)."""
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


def device_binary():
    """The virtual device: EDGEMCP_DEVICE_BIN, else build/unix/micropython-edgemcp."""
    p = pathlib.Path(os.environ.get("EDGEMCP_DEVICE_BIN", REPO / "build/unix/micropython-edgemcp"))
    if not p.exists():
        raise FileNotFoundError(f"virtual device binary {p} not found: run `make setup`")
    return p
