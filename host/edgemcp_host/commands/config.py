"""`edgemcp config`: read and edit the board's /edgemcp.json in place, through its REPL."""
import argparse
import json
import sys

from .. import console

PATH = "/edgemcp.json"

EXAMPLES = """examples:
  edgemcp config get --port /dev/ttyACM0            the whole config
  edgemcp config get name --port virtual            one key ("mqtt.url": a key inside "mqtt")
  edgemcp config set name kitchen --port /dev/ttyACM0
  edgemcp config set max_line 8192 --port virtual   VALUE is JSON when it parses (8192, true,
                                                    {"a": 1}), else a string
  edgemcp config set mqtt.url mqtt://10.0.0.2 --port /dev/ttyACM0
  edgemcp config unset test_tools --port virtual

set/unset rewrite the file (via /edgemcp.json.part and a rename) and soft-reset the board so
the app starts with it (--no-reset: not).
"""


class ConfigError(Exception):
    pass


def read_config(t):
    from mpremote.transport import TransportError
    try:
        raw = bytes(t.fs_readfile(PATH))
    except (OSError, TransportError) as e:
        if "ENOENT" in str(e) or getattr(e, "errno", None) == 2:
            return {}
        raise
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        raise ConfigError(f"{PATH} on the board is not valid JSON ({e}); fix it with "
                          "`edgemcp deploy --config FILE`") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{PATH} on the board is not a JSON object")
    return cfg


def write_config(t, cfg):
    t.fs_writefile(PATH + ".part", json.dumps(cfg, indent=2).encode() + b"\n")
    console.replace(t, PATH + ".part", PATH)


def lookup(cfg, key):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{key} is not set in {PATH}")
        node = node[part]
    return node


def assign(cfg, key, value):
    parts = key.split(".")
    node = cfg
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {part} is not an object")
    node[parts[-1]] = value


def remove(cfg, key):
    parts = key.split(".")
    parent = lookup(cfg, ".".join(parts[:-1])) if len(parts) > 1 else cfg
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise ConfigError(f"{key} is not set in {PATH}")
    del parent[parts[-1]]


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def run(args):
    from mpremote.transport import TransportError
    try:
        if args.action in ("set", "unset") and not args.key:
            raise ConfigError(f"config {args.action} needs KEY")
        if args.action == "set" and args.value is None:
            raise ConfigError("config set needs KEY VALUE")
        with console.raw_repl(args, restart=args.action == "get" or not args.no_reset) as t:
            cfg = read_config(t)
            if args.action == "get":
                value = lookup(cfg, args.key) if args.key else cfg
                print(json.dumps(value, indent=None if args.key else 2))
                return 0
            if args.action == "set":
                assign(cfg, args.key, parse_value(args.value))
            else:
                remove(cfg, args.key)
            write_config(t, cfg)
        print(f"config: {args.key} {'= ' + json.dumps(lookup(cfg, args.key)) if args.action == 'set' else 'removed'}"
              + ("" if args.no_reset else "; board soft-reset"))
    except (ConfigError, console.ConsoleError) as e:
        print(f"edgemcp config: {e}", file=sys.stderr)
        return 2
    except (TransportError, OSError) as e:
        print(f"edgemcp config: the board stopped answering: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub):
    p = sub.add_parser("config", help="get/set keys of the board's /edgemcp.json",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["get", "set", "unset"])
    p.add_argument("key", nargs="?", metavar="KEY", help="a key; dots reach into objects (mqtt.url)")
    p.add_argument("value", nargs="?", metavar="VALUE", help="for set: JSON, or else a string")
    console.add_port_arguments(p)
    p.add_argument("--no-reset", action="store_true", help="after set/unset, do not soft-reset")
    p.set_defaults(func=run)
