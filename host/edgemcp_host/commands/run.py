"""`edgemcp run` (what `make run` starts): a virtual device behind the bridge on
http://127.0.0.1:8765/mcp, with the example models on it and what an MCP client needs to
connect. Ctrl-C stops everything."""
import argparse
import asyncio
import json
import os
import pathlib
import shutil
import sys

from .. import paths

from .bridge import parse_hostport, setup_logging, stop_on_sigterm, warn_exposed

EXAMPLES = """examples:
  edgemcp run                       (make run)
  edgemcp run --http 127.0.0.1:9000
  edgemcp run --serial /dev/ttyACM0 a board instead of the virtual device
"""


def register(sub):
    p = sub.add_parser("run", help="a virtual device behind the bridge on http://127.0.0.1:8765/mcp",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--http", type=parse_hostport, default=("127.0.0.1", 8765), metavar="HOST:PORT",
                   help="where to serve (default 127.0.0.1:8765)")
    p.add_argument("--serial", action="append", default=[], metavar="[NAME=]PORT|virtual",
                   help="devices (default: one virtual device)")
    p.add_argument("--vdev-root", metavar="DIR", help="virtual device filesystems' parent folder")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request device timeout in seconds")
    p.add_argument("--token", default=os.environ.get("EDGEMCP_TOKEN"), help="require this bearer token")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run)


EXAMPLE_MODELS = paths.REPO / "models"
EXAMPLE_FILES = (".tflite", ".labels", ".json")


def seed_models(root):
    """The repository's example models (and their labels) in a virtual device's /models, so
    that `infer` answers at once; files the user put there are left alone."""
    dest = pathlib.Path(root) / "models"
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(EXAMPLE_MODELS.iterdir()) if EXAMPLE_MODELS.is_dir() else ():
        if f.suffix in EXAMPLE_FILES and not (dest / f.name).exists():
            shutil.copyfile(f, dest / f.name)


def _shown(path):
    """path as a command line run from here would name it."""
    try:
        return str(pathlib.Path(path).relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def banner(url, bridge, token):
    inspector = "build/node/node_modules/.bin/mcp-inspector"
    lines = [f"edgemcp bridge ready: {url}", ""]
    for link in bridge.links.values():
        lines.append(f"device {link.name} ({link.transport.describe()}, {link.state}): {url}/{link.name}")
        for t in link.tools:
            desc = (t.get("description") or "").split("\n")[0]
            lines.append(f"  {link.name}.{t['name']:<24} {desc}")
    auth = f" --header 'Authorization: Bearer {token}'" if token else ""
    image = EXAMPLE_MODELS / "person.raw"
    for link in bridge.links.values():
        if any(t["name"] == "infer" for t in link.tools) and image.exists():
            edgemcp = _shown(pathlib.Path(sys.executable).parent / "edgemcp")
            token_arg = " --token $EDGEMCP_TOKEN" if token else ""
            lines += ["", "Classify the bundled person image on the device, through the bridge:",
                      (f"  {edgemcp} call {link.name} infer model=person_detect input=@{_shown(image)} "
                       f"--bridge {url}{token_arg}")]
            break
    lines += ["", "MCP Inspector (CLI):",
              (f"  PATH=$PWD/build/node/node_modules/.bin:$PATH {inspector} --cli {url} "
               f"--transport http --method tools/list{auth}"),
              "", "MCP client configuration:"]
    entry = {"type": "http", "url": url}
    if token:
        entry["headers"] = {"Authorization": f"Bearer {token}"}
    lines.append(json.dumps({"mcpServers": {"edgemcp": entry}}, indent=2))
    lines += ["", "Ctrl-C stops the bridge and the devices."]
    return "\n".join(lines)


def run(args):
    from ..bridge import Bridge, serve_http
    from .bridge import make_links

    setup_logging(args.verbose)
    args.serial = args.serial or ["virtual"]
    try:
        links = make_links(args)
        for link in links:
            if link.transport.kind == "virtual":
                seed_models(link.transport.root)
        bridge = Bridge(links)
    except (ValueError, FileNotFoundError) as e:
        print(f"edgemcp run: {e}", file=sys.stderr)
        return 2
    host, port = args.http
    warn_exposed(host, args.token)

    async def main():
        stop_on_sigterm()
        await bridge.start()
        try:
            await serve_http(bridge, host, port, args.token,
                             ready=lambda url: print(banner(url, bridge, args.token), flush=True))
        finally:
            await bridge.stop()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\nstopped", file=sys.stderr)
    return 0
