"""`edgemcp bridge`: serve serial devices (boards or virtual devices) to MCP clients."""
import argparse
import asyncio
import logging
import os
import signal
import sys

EXAMPLES = """examples:
  edgemcp bridge --serial virtual --http 127.0.0.1:8765
      a virtual device on http://127.0.0.1:8765/mcp (all devices) and /mcp/virtual1 (that one)
  edgemcp bridge --serial /dev/ttyACM0 --serial lab=virtual --stdio
      a board and a virtual device named "lab" to one MCP client on stdin/stdout
  edgemcp bridge --serial virtual --stdio --device virtual1
      only that device, with its own tool names (as an MCP client's command)
  edgemcp bridge --mqtt --stdio --fleet
      every device on the broker behind one tool per distinct tool, with a `device` argument
  EDGEMCP_TOKEN=s3cret edgemcp bridge --serial virtual --http 0.0.0.0:8765 --allow-host mybox.lan
      another interface, asked for explicitly, with a bearer token

names: tools and prompts are DEVICE.NAME on the aggregated endpoint, resources
edgemcp://DEVICE/URI (the device's URI kept whole); per-device endpoints use the device's names;
the fleet endpoint (/mcp/fleet, --fleet) has each tool once, called with device=NAME or "*".
"""


def add_device_args(p):
    p.add_argument("--serial", action="append", metavar="[NAME=]PORT|virtual", default=[],
                   help="a device: a serial port (a board on USB) or 'virtual' (the unix build on a "
                        "pseudo-terminal); repeat for more devices. Default name: virtualN or the port's name")
    p.add_argument("--vdev-root", metavar="DIR",
                   help="parent folder of the virtual devices' filesystems (DIR/NAME; default build/vdev)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a device may take to answer one request (progress restarts it; default 60)")


def make_links(args):
    from ..serial_link import make_link
    links, virtuals = [], 0
    for spec in args.serial:
        name, sep, target = spec.partition("=")
        if (target if sep else spec) == "virtual":
            virtuals += 1
        index = virtuals if (target if sep else spec) == "virtual" else len(links) + 1
        links.append(make_link(spec, index, vdev_root=args.vdev_root, timeout=args.timeout))
    return links


def parse_hostport(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{s!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]") or "127.0.0.1", int(port)


def register(sub):
    p = sub.add_parser("bridge", help="serve devices to MCP clients over stdio or Streamable HTTP",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_args(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="one MCP client on stdin/stdout (the default)")
    mode.add_argument("--http", type=parse_hostport, metavar="HOST:PORT",
                      help="Streamable HTTP on HOST:PORT (endpoints /mcp and /mcp/DEVICE); only loopback "
                           "addresses unless you name another one here")
    p.add_argument("--device", metavar="NAME", help="stdio: serve only this device, with its own names")
    p.add_argument("--fleet", action="store_true",
                   help="stdio: serve the fleet endpoint (one tool per distinct tool, a `device` argument)")
    p.add_argument("--fleet-concurrency", type=int, default=16, metavar="N",
                   help="device calls a fleet fan-out (device \"*\") runs at once (default 16)")
    p.add_argument("--token", default=os.environ.get("EDGEMCP_TOKEN"),
                   help="HTTP: require 'Authorization: Bearer TOKEN' (default: $EDGEMCP_TOKEN)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="HTTP: another Host/Origin name clients use to reach the bridge (DNS-rebinding check)")
    p.add_argument("--session-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="HTTP: end a session (and cancel its device work) after this long without any "
                        "open request from its client (default 600)")
    p.add_argument("-v", "--verbose", action="store_true", help="log the bridge's work on stderr")
    from ..bridge_mqtt import add_arguments as add_mqtt_arguments
    add_mqtt_arguments(p)
    p.set_defaults(func=run)


def warn_exposed(host, token):
    from ..bridge import LOOPBACK
    if host not in LOOPBACK and not token:
        print(f"edgemcp: warning: serving on {host} without a token: anyone who can reach it can call the "
              "devices' tools (set --token or EDGEMCP_TOKEN)", file=sys.stderr)


def setup_logging(verbose):
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def run(args):
    from ..bridge import Bridge, serve_http, serve_stdio
    from ..fleet import FLEET

    setup_logging(args.verbose)
    if not args.serial and args.mqtt is None:
        print("edgemcp bridge: no devices: add --serial PORT or --serial virtual", file=sys.stderr)
        return 2
    if args.fleet and (args.device or args.http):
        print("edgemcp bridge: --fleet is for --stdio without --device; over HTTP it is /mcp/fleet", file=sys.stderr)
        return 2
    if args.fleet_concurrency < 1:
        print("edgemcp bridge: --fleet-concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        bridge = Bridge(make_links(args), args.fleet_concurrency)
    except (ValueError, FileNotFoundError) as e:
        print(f"edgemcp bridge: {e}", file=sys.stderr)
        return 2
    if args.device and args.device not in bridge.links:
        print(f"edgemcp bridge: no device {args.device!r} (devices: {', '.join(bridge.links)})", file=sys.stderr)
        return 2
    if args.device and args.http:
        print("edgemcp bridge: --device is for --stdio; over HTTP each device has /mcp/NAME", file=sys.stderr)
        return 2

    async def main():
        from .. import bridge_mqtt
        stop_on_sigterm()
        await bridge.start()
        mqtt = await bridge_mqtt.start(args, bridge)
        try:
            if args.http:
                host, port = args.http
                warn_exposed(host, args.token)

                def ready(url):
                    print(f"edgemcp bridge: {url} (fleet: {url}/fleet; devices: " +
                          ", ".join(f"{url}/{n}" for n in bridge.links) + ")", file=sys.stderr, flush=True)
                await serve_http(bridge, host, port, args.token, args.allow_host, ready, args.session_timeout)
            else:
                await serve_stdio(bridge, FLEET if args.fleet else args.device)
        finally:
            if mqtt:
                await mqtt.stop()
            await bridge.stop()

    try:
        with asyncio.Runner(loop_factory=event_loop) as runner:
            runner.run(main())
    except asyncio.CancelledError:  # SIGTERM: everything was stopped on the way out
        pass
    return 0


def event_loop():
    """uvloop's event loop where it is installed (the package depends on it but on Windows, which
    it does not support), else asyncio's: each call the bridge relays crosses the loop several
    times (HTTP, the SDK's streams, the device's line), and uvloop's turns cost less."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def stop_on_sigterm():
    """SIGTERM (a service manager, `kill`) stops the command like Ctrl-C does: the main task is
    cancelled, so devices are stopped and presences cleared instead of left running."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
