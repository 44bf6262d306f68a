"""The `edgemcp` command. Each subcommand lives in its own module under
edgemcp_host.commands and exposes `register(subparsers)`, which adds its parser and sets
`func(args) -> exit status`."""
import argparse
import importlib
import sys

# Subcommand modules, in the order `edgemcp --help` lists them.
COMMANDS = ["bridge", "run", "devices", "call", "mqtt", "flash", "install", "deploy", "config", "repl", "logs"]


def build_parser():
    p = argparse.ArgumentParser(
        prog="edgemcp",
        description="Bridge edgemcp devices (ESP32-S3 / MicroPython MCP servers) to MCP clients, "
        "and flash, deploy to and talk to the boards.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"edgemcp_host.commands.{name}").register(sub)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
