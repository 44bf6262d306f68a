"""`edgemcp repl`: the board's MicroPython REPL on this terminal (mpremote's terminal loop)."""
import argparse
import sys

from .. import console

EXAMPLES = """examples:
  edgemcp repl --port /dev/ttyACM0
  edgemcp repl --port virtual
  edgemcp repl --port /dev/ttyACM0 --no-interrupt   attach without stopping what runs

Ctrl-C first stops the app (it leaves for the REPL); Ctrl-] (or Ctrl-X) leaves this terminal,
the board stays at the REPL. At the REPL: Ctrl-D soft-resets (the app starts again), Ctrl-E
paste mode, Ctrl-A/Ctrl-B raw/friendly REPL.
"""


class _State:  # what mpremote's terminal loop uses of its state
    def __init__(self, transport):
        self.transport = transport


def run(args):
    from mpremote.console import Console
    from mpremote.repl import do_repl_main_loop
    if not sys.stdin.isatty():
        print("edgemcp repl: needs a terminal on stdin", file=sys.stderr)
        return 2
    try:
        with console.console_path(args) as path:
            t = console.transport(path, args.baud)
            try:
                print(f"Connected to {args.port}. Ctrl-] to leave.", flush=True)
                if not args.no_interrupt:
                    t.serial.write(b"\r\x03")  # stop the app (or a running program): the REPL answers
                term = Console()
                term.enter()
                try:
                    do_repl_main_loop(_State(t), term, term.write, escape_non_printable=False,
                                      code_to_inject=None, file_to_inject=None)
                finally:
                    term.exit()
            finally:
                t.close()
        print("\nLeft the REPL (the board stays there; Ctrl-D at the REPL restarts the app).")
    except console.ConsoleError as e:
        print(f"edgemcp repl: {e}", file=sys.stderr)
        return 2
    return 0


def register(sub):
    p = sub.add_parser("repl", help="the board's MicroPython REPL on this terminal (Ctrl-] leaves)",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    console.add_port_arguments(p)
    p.add_argument("--no-interrupt", action="store_true",
                   help="do not send Ctrl-C on connecting (the app keeps running)")
    p.set_defaults(func=run)
