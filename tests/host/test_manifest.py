"""The EDGEMCP_S3 image freezes the same edgemcp package list as the unix virtual device: the
board manifest is read with MicroPython's own manifest tool (tools/manifestfile.py in the tree
the build uses), the unix list is what the unix build actually froze (frozen_content.c)."""
import importlib.util
import os
import pathlib
import re

import pytest

from support import DEVICE_BIN, ROOT

MPY = pathlib.Path(os.environ.get("MICROPY_DIR", ROOT / "build/micropython")).resolve()
BOARD = ROOT / "boards/EDGEMCP_S3"


def manifest_tool():
    path = MPY / "tools/manifestfile.py"
    if not path.exists():
        pytest.fail(f"no MicroPython tree at {MPY}: run `make setup`")
    spec = importlib.util.spec_from_file_location("manifestfile", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def frozen(manifest, port):
    mf = manifest_tool()
    m = mf.ManifestFile(mf.MODE_FREEZE, {
        "MPY_DIR": str(MPY), "MPY_LIB_DIR": str(MPY / "lib/micropython-lib"),
        "PORT_DIR": str(MPY / "ports" / port), "BOARD_DIR": str(manifest.parent)})
    m.execute(str(manifest))
    return {f.target_path: pathlib.Path(f.full_path).resolve() for f in m.files()}


def unix_frozen_names():
    src = DEVICE_BIN.parent / "frozen_content.c"
    if not src.exists():
        pytest.fail(f"{src} missing: run `make setup`")
    text = src.read_text()
    block = text[text.index("const char mp_frozen_names[]"):]
    block = block[:block.index("};")]
    return set(re.findall(r'"([^"]+?)\\0"', block))


def test_board_freezes_what_the_unix_build_freezes():
    board = frozen(BOARD / "manifest.py", "esp32")
    port_modules = {p.name for p in (MPY / "ports/esp32/modules").glob("*.py")}
    unix_shims = {p.name for p in (ROOT / "boards/unix/modules").glob("*.py")}
    startup = {"boot.py", "main.py"}  # the board's start-up; `-m edgemcp` on the unix build
    example_model = {"edgemcp_frozen_models.py"}  # the unix builds freeze one (firmware/models)
    board_pkg = set(board) - port_modules - startup
    assert example_model <= unix_frozen_names()
    unix_pkg = unix_frozen_names() - unix_shims - example_model
    assert board_pkg == unix_pkg
    assert any(n.startswith("edgemcp/") for n in board_pkg)
    assert "_boot.py" in board  # the port's start-up that mounts the vfs partition
    for name in startup:  # a flashed board runs the app without anything deployed
        assert board[name] == (ROOT / "firmware" / name).resolve()
    assert "edgemcp.main()" in (ROOT / "firmware/main.py").read_text()


def test_board_takes_only_micropython_and_this_repository():
    board = frozen(BOARD / "manifest.py", "esp32")
    for target, src in board.items():
        assert src.is_relative_to(MPY) or src.is_relative_to(ROOT / "firmware"), (target, src)
    # and nothing from micropython-lib (empty in Debian's tree; not fetched at build time)
    assert not any(src.is_relative_to(MPY / "lib/micropython-lib") for src in board.values())


def test_unix_and_board_manifests_share_the_package_list():
    shared = "firmware/manifest.py"
    for m in (BOARD / "manifest.py", ROOT / "boards/unix/manifest.py"):
        text = m.read_text()
        assert re.search(r'include\("[^"]*\.\./\.\./' + re.escape(shared) + r'"\)', text), m
