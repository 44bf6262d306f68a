"""`edgemcp call`: call one tool on one device and print the result."""
import argparse
import asyncio
import json
import os
import sys

EXAMPLES = """examples:
  edgemcp call virtual device_info
  edgemcp call /dev/ttyACM0 echo text=hello
  edgemcp call virtual1 device_reset confirm=true --bridge http://127.0.0.1:8765
  edgemcp call http://127.0.0.1:8765/mcp/virtual1 echo --json '{"text": "hi"}'

  edgemcp call virtual1 infer model=person_detect input=@models/person.raw --bridge http://127.0.0.1:8765

DEVICE is a serial port, 'virtual' (a fresh virtual device), a device name on the bridge given
with --bridge, or a bridge endpoint URL. Values are JSON when they parse as JSON (42, true,
[1,2]) unless the tool's schema says the argument is a string; key=@FILE sends the file's bytes
as base64 (key=@@text: the text "@text"). The exit status is 1 when the call fails or the tool
reports an error (isError).
"""


def parse_value(raw, prop):
    if raw.startswith("@@"):
        return raw[1:]
    if raw.startswith("@"):  # a file's bytes, for tools that take base64 (infer's raw tensor input)
        import base64
        try:
            with open(raw[1:], "rb") as f:
                return base64.b64encode(f.read()).decode()
        except OSError as e:
            raise ValueError(f"{raw}: cannot read {raw[1:]}: {e.strerror}") from None
    if (prop or {}).get("type") == "string":
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def build_args(pairs, json_args, schema):
    args = {}
    if json_args:
        args = json.loads(json_args)
        if not isinstance(args, dict):
            raise ValueError("--json must be a JSON object")
    props = (schema or {}).get("properties") or {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{pair!r}: arguments are key=value")
        args[key] = parse_value(raw, props.get(key))
    return args


def print_result(r):
    """r: a tools/call result as a wire dict. Returns the exit status."""
    for c in r.get("content") or []:
        if c.get("type") == "text":
            print(c.get("text", ""))
        else:
            print(json.dumps(c))
    if r.get("structuredContent") is not None and not r.get("content"):
        print(json.dumps(r["structuredContent"], indent=2))
    return 1 if r.get("isError") else 0


async def call_direct(args):
    from ..link import DeviceError, LinkError
    from ..serial_link import make_link

    try:
        link = make_link(args.device, 1, vdev_root=args.vdev_root, timeout=args.timeout)
    except FileNotFoundError as e:
        print(f"edgemcp call: {e}", file=sys.stderr)
        return 2
    try:
        await link.start()
        schema = next((t.get("inputSchema") for t in link.tools if t.get("name") == args.tool), None)
        tool_args = build_args(args.args, args.json, schema)
        r = await link.request("tools/call", {"name": args.tool, "arguments": tool_args})
    except (DeviceError, LinkError) as e:
        print(f"edgemcp call: {e}", file=sys.stderr)
        return 1
    finally:
        await link.stop()
    return print_result(r)


def _leaf(e):
    """The first real error inside the task groups the SDK raises."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


async def call_bridge(args, url):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPError

    async def refused(response):
        if response.status_code in (401, 403, 404, 421):
            raise PermissionError(f"{url}: HTTP {response.status_code}" +
                                  (" (missing or wrong --token)" if response.status_code == 401 else ""))

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    try:
        async with create_mcp_http_client(headers=headers) as http:
            http.event_hooks["response"].append(refused)
            async with Client(streamable_http_client(url, http_client=http)) as client:
                tools = (await client.list_tools()).tools
                schema = next((t.input_schema for t in tools if t.name == args.tool), None)
                tool_args = build_args(args.args, args.json, schema)
                r = await client.call_tool(args.tool, tool_args, read_timeout_seconds=args.timeout)
    except (Exception, BaseExceptionGroup) as group:
        e = _leaf(group)
        if isinstance(e, ValueError):
            raise e from None
        if not isinstance(e, (MCPError, httpx2.HTTPError, OSError)):
            raise
        print(f"edgemcp call: {e}", file=sys.stderr)
        return 1
    return print_result(r.model_dump(by_alias=True, mode="json", exclude_none=True))


def _options(p, defaults):
    p.add_argument("--json", metavar="ARGS", default=defaults,
                   help="tool arguments as a JSON object (key=value pairs override)")
    p.add_argument("--bridge", metavar="URL", default=defaults,
                   help="the bridge serving DEVICE, e.g. http://127.0.0.1:8765")
    p.add_argument("--token", default=defaults if defaults is argparse.SUPPRESS else os.environ.get("EDGEMCP_TOKEN"),
                   help="the bridge's bearer token (default: $EDGEMCP_TOKEN)")
    p.add_argument("--vdev-root", metavar="DIR", default=defaults, help="virtual device filesystems' parent folder")
    p.add_argument("--timeout", type=float, default=defaults if defaults is argparse.SUPPRESS else 60.0,
                   help="seconds to wait for the result (default 60)")


def register(sub):
    p = sub.add_parser("call", help="call one tool on a device and print the result",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("device", metavar="DEVICE", help="serial port, 'virtual', bridge device name, or endpoint URL")
    p.add_argument("tool", metavar="TOOL")
    # Options may follow the key=value pairs too: they are picked out of the rest in run().
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="key=value", help="tool arguments")
    _options(p, None)
    p.set_defaults(func=run)


_late = argparse.ArgumentParser(add_help=False)
_options(_late, argparse.SUPPRESS)


def run(args):
    late, args.args = _late.parse_known_args(args.args)
    vars(args).update(vars(late))
    if args.device.startswith(("http://", "https://")):
        url = args.device
    elif args.bridge:
        base = args.bridge.rstrip("/")
        url = f"{base}/{args.device}" if base.endswith("/mcp") else f"{base}/mcp/{args.device}"
    else:
        url = None
    try:
        return asyncio.run(call_bridge(args, url) if url else call_direct(args))
    except ValueError as e:
        print(f"edgemcp call: {e}", file=sys.stderr)
        return 2
