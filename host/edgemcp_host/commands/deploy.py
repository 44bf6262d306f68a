"""`edgemcp deploy`: put the config, models and other files on a board through its REPL
(mpremote), copying only files whose SHA-256 on the board differs, then soft-reset it."""
import argparse
import json
import pathlib
import posixpath
import sys
import time

from .. import board_files, console

EXAMPLES = """examples:
  edgemcp deploy --port /dev/ttyACM0 --config edgemcp.json --models models/
      /edgemcp.json and every .tflite under models/ as /models/NAME
  edgemcp deploy --port virtual --model models/hello_world_int8.tflite
  edgemcp deploy --port /dev/ttyACM0 tools/blink.py lib/:/lib
      extra files: SRC (to /NAME) or SRC:DEST; a folder is copied with everything in it

A file whose SHA-256 on the board (computed there) equals the local one is not copied again.
Each file is written to DEST.part and renamed, so an interrupted deploy leaves the old file.
Then the board is soft-reset and the app starts with the new files (--no-reset: not).
"""


class DeployError(Exception):
    pass


def plan(args):
    """[(local path, board path)] for everything asked for; errors before touching the board."""
    files = []
    if args.config:
        try:
            json.loads(pathlib.Path(args.config).read_text())
        except OSError as e:
            raise DeployError(f"config {args.config}: {e.strerror}") from e
        except ValueError as e:
            raise DeployError(f"config {args.config} is not valid JSON: {e}") from e
        files.append((pathlib.Path(args.config), "/edgemcp.json"))
    for m in args.model:
        files.append((_file(m), "/models/" + pathlib.Path(m).name))
    for d in args.models:
        d = pathlib.Path(d)
        if not d.is_dir():
            raise DeployError(f"models folder {d} not found")
        found = sorted(d.rglob("*.tflite"))
        if not found:
            raise DeployError(f"no .tflite files in {d}")
        files += [(f, "/models/" + f.relative_to(d).as_posix()) for f in found]
    for spec in args.files:
        src, sep, dest = spec.partition(":")
        src = pathlib.Path(src)
        if not src.exists():
            raise DeployError(f"{src} not found")
        dest = dest if sep else "/" + src.name
        if not dest.startswith("/"):
            dest = "/" + dest
        if src.is_dir():
            files += [(f, posixpath.join(dest, f.relative_to(src).as_posix()))
                      for f in sorted(src.rglob("*")) if f.is_file()]
        else:
            files.append((src, dest))
    if not files:
        raise DeployError("nothing to deploy: give --config, --model/--models or files")
    dests = [d for _, d in files]
    dup = {d for d in dests if dests.count(d) > 1}
    if dup:
        raise DeployError("two files for the same place on the board: " + ", ".join(sorted(dup)))
    return files


def _file(path):
    p = pathlib.Path(path)
    if not p.is_file():
        raise DeployError(f"{p} not found")
    return p


def run(args):
    from mpremote.transport import TransportError
    try:
        files = plan(args)
        t0 = time.monotonic()
        with console.raw_repl(args, restart=not args.no_reset) as t:
            copied, unchanged, nbytes = board_files.put_all(t, files)
        took = time.monotonic() - t0
        print(f"deploy: {copied} copied ({nbytes} bytes), {unchanged} unchanged, {took:.1f} s"
              + ("" if args.no_reset else "; board soft-reset, the app is running"))
    except (DeployError, board_files.CopyError, console.ConsoleError) as e:
        print(f"edgemcp deploy: {e}", file=sys.stderr)
        return 2
    except (TransportError, OSError) as e:
        print(f"edgemcp deploy: the board stopped answering: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub):
    p = sub.add_parser("deploy", help="put config, models and files on a board (skips unchanged)",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    console.add_port_arguments(p)
    p.add_argument("--config", "-c", metavar="FILE", help="JSON config, written as /edgemcp.json")
    p.add_argument("--model", "-m", action="append", default=[], metavar="FILE",
                   help="a model, written as /models/NAME (repeatable)")
    p.add_argument("--models", action="append", default=[], metavar="DIR",
                   help="every .tflite under DIR, written under /models/ (repeatable)")
    p.add_argument("files", nargs="*", metavar="SRC[:DEST]",
                   help="other files or folders (DEST default /NAME)")
    p.add_argument("--no-reset", action="store_true", help="do not soft-reset the board afterwards")
    p.set_defaults(func=run)
