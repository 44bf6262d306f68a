"""`edgemcp devices`: serial ports that look like edgemcp boards, and a bridge's devices."""
import argparse
import json
import os
import sys
import urllib.request

EXAMPLES = """examples:
  edgemcp devices                                   boards on USB
  edgemcp devices --all                             every serial port
  edgemcp devices --bridge http://127.0.0.1:8765    also the devices a running bridge serves
  edgemcp devices --json
"""

# USB ids of ESP32-S3 boards and MicroPython's USB device.
KNOWN_USB = {
    (0x303A, 0x1001): "Espressif USB JTAG/serial (ESP32-S3 native USB)",
    (0x303A, 0x4001): "Espressif TinyUSB CDC (MicroPython on ESP32-S2/S3)",
    (0x303A, 0x0002): "Espressif ESP32-S3 USB-OTG (download mode)",
    (0x2E8A, 0x0005): "MicroPython (Raspberry Pi VID)",
    (0xF055, 0x9800): "MicroPython (pyboard VID)",
    (0x10C4, 0xEA60): "Silicon Labs CP210x USB-UART bridge",
    (0x1A86, 0x7523): "WCH CH340 USB-UART bridge",
    (0x1A86, 0x55D4): "WCH CH9102 USB-UART bridge",
    (0x0403, 0x6001): "FTDI FT232 USB-UART bridge",
}
WORDS = ("esp32", "micropython", "espressif", "usb jtag", "cp210", "ch340", "ch910")


def classify(port):
    """Why a pyserial ListPortInfo looks like an edgemcp board, or None."""
    if port.vid is not None and (port.vid, port.pid) in KNOWN_USB:
        return KNOWN_USB[(port.vid, port.pid)]
    text = " ".join(str(x or "") for x in (port.description, port.manufacturer, port.product)).lower()
    for w in WORDS:
        if w in text:
            return f"description mentions {w!r}"
    return None


def bridge_devices(url, token=None):
    base = url.rstrip("/")
    if base.endswith("/mcp"):
        base = base[:-4]
    req = urllib.request.Request(base + "/devices")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["devices"]


def register(sub):
    p = sub.add_parser("devices", help="list serial ports with edgemcp boards, and a bridge's devices",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--all", action="store_true", help="list every serial port, not only likely boards")
    p.add_argument("--bridge", metavar="URL", help="also list the devices of the bridge at URL")
    p.add_argument("--token", default=os.environ.get("EDGEMCP_TOKEN"), help="the bridge's bearer token")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args):
    from serial.tools import list_ports

    ports = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        why = classify(port)
        if why or args.all:
            ports.append({"port": port.device, "vid": port.vid, "pid": port.pid, "serial": port.serial_number,
                          "description": port.description, "match": why})
    devices = None
    if args.bridge:
        try:
            devices = bridge_devices(args.bridge, args.token)
        except OSError as e:
            print(f"edgemcp devices: bridge {args.bridge}: {e}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({"ports": ports, **({"bridge": devices} if devices is not None else {})}, indent=2))
        return 0
    if ports:
        for p in ports:
            ids = f"{p['vid']:04x}:{p['pid']:04x}" if p["vid"] is not None else "-"
            print(f"{p['port']}\t{ids}\t{p['description']}\t{p['match'] or ''}")
    else:
        print("no boards on serial ports" + ("" if args.all else " (--all lists every port)"))
    if devices is not None:
        for d in devices:
            print(f"bridge:{d['name']}\t{d['state']}\t{d['port']}\ttools: {', '.join(d['tools'])}")
    return 0
