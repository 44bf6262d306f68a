"""`edgemcp flash`: write a firmware image to an ESP32-S3 with esptool's Python API."""
import os
import shlex
import struct
import sys

EXAMPLES = """examples:
  edgemcp flash build/EDGEMCP_S3/firmware.bin --port /dev/ttyACM0
      detect the chip (must be an ESP32-S3), write the image at 0x0, verify it, reset the board
  edgemcp flash firmware.bin --port /dev/ttyUSB0 --erase-all --baud 921600
      erase the whole flash first (the filesystem and the flash queue too)
  edgemcp flash firmware.bin --port /dev/ttyACM0 --dry-run
      print the esptool operations, touch nothing

The image is MicroPython's firmware.bin for the board (bootloader, partition table and app in
one file, written at 0x0); `make firmware` builds it (see the README).
"""

IMAGE_MAGIC = 0xE9
# chip ids in the image's extended header (ESP-IDF's esp_chip_id_t)
CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9, "esp32c2": 12, "esp32c6": 13,
            "esp32h2": 16, "esp32p4": 18}
DEFAULT_CHIP = "esp32s3"
ROM_BAUD = 115200


class FlashError(Exception):
    pass


def image_chip(path):
    """The chip an ESP-IDF image is built for, from its header; None when the file is not an
    ESP image (starts without the 0xE9 magic)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 16 or head[0] != IMAGE_MAGIC:
        return None
    chip_id = struct.unpack_from("<H", head, 12)[0]
    return next((name for name, i in CHIP_IDS.items() if i == chip_id), f"chip id {chip_id}")


def operations(args, chip):
    """The esptool command lines that do what this run does, in order."""
    base = ["esptool", "--chip", chip, "--port", args.port, "--baud", str(args.baud)]
    write = base + ["--before", "default-reset", "--after", "no-reset", "write-flash"]
    if args.erase_all:
        write.append("--erase-all")
    write += ["--flash-mode", "keep", "--flash-freq", "keep", "--flash-size", "keep",
              hex(args.offset), args.image]
    verify = base + ["--before", "no-reset", "--after", "hard-reset", "verify-flash",
                     hex(args.offset), args.image]
    return [write, verify]


def check_inputs(args):
    if not args.port:
        raise FlashError("no port: pass --port PORT (the board's USB serial port, e.g. /dev/ttyACM0)")
    if not os.path.isfile(args.image):
        raise FlashError(f"image {args.image} not found (build it with `make firmware`)")
    found = image_chip(args.image)
    want = args.chip or DEFAULT_CHIP
    if found is None and not args.force:
        raise FlashError(f"{args.image} is not an ESP firmware image (no 0xE9 header); "
                         "--force writes it anyway")
    if found is not None and want != "auto" and found != want and not args.force:
        raise FlashError(f"{args.image} is built for {found}, not {want}; --chip {found} or "
                         "--force if that is what you mean")
    if not args.dry_run and not os.path.exists(args.port):
        raise FlashError(f"port {args.port} does not exist (is the board plugged in, in "
                         "download mode if it has no auto-reset?)")
    return want


def flash(args, want):
    import esptool
    from esptool.util import FatalError

    size = os.path.getsize(args.image)
    try:
        esp = esptool.detect_chip(args.port, ROM_BAUD, "default-reset")
    except (FatalError, OSError) as e:
        raise FlashError(f"no ESP chip answered on {args.port}: {e}") from e
    try:
        chip = esp.CHIP_NAME.lower().replace("-", "")
        print(f"flash: found {esp.CHIP_NAME} on {args.port}")
        if want != "auto" and chip != want:
            if not args.force:
                raise FlashError(f"the board is an {esp.CHIP_NAME}, not {want}: refusing "
                                 f"(--chip {chip} or --force if that is what you mean)")
            print(f"flash: --force: writing an image for {want} to an {esp.CHIP_NAME}")
        esp = esptool.run_stub(esp)
        if args.baud != ROM_BAUD:
            esp.change_baud(args.baud)
        esptool.attach_flash(esp)
        if args.erase_all:
            print("flash: erasing the whole flash")
            esptool.erase_flash(esp)
        esptool.write_flash(esp, [(args.offset, args.image)], flash_freq="keep",
                            flash_mode="keep", flash_size="keep", force=args.force)
        esptool.verify_flash(esp, [(args.offset, args.image)])
        esptool.reset_chip(esp, "hard-reset")
    except FatalError as e:
        raise FlashError(str(e)) from e
    finally:
        esp._port.close()
    print(f"flash: wrote {args.image} ({size} bytes) at {hex(args.offset)} on {args.port}"
          f"{' after a full erase' if args.erase_all else ''}, verified, board reset")


def run(args):
    try:
        want = check_inputs(args)
        if args.dry_run:
            for op in operations(args, DEFAULT_CHIP if want == "auto" else want):
                print(shlex.join(op))
            return 0
        flash(args, want)
    except FlashError as e:
        print(f"edgemcp flash: {e}", file=sys.stderr)
        return 2
    return 0


def register(sub):
    import argparse
    p = sub.add_parser("flash", help="write a firmware image to an ESP32-S3 (esptool)",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="firmware image (MicroPython's firmware.bin)")
    p.add_argument("--port", "-p", default=os.environ.get("EDGEMCP_PORT"),
                   help="the board's serial port (default: $EDGEMCP_PORT)")
    p.add_argument("--baud", "-b", type=int, default=460800,
                   help="baud rate for writing (default 460800; the chip is found at 115200)")
    p.add_argument("--chip", choices=["auto", *CHIP_IDS],
                   help=f"the chip to expect (default {DEFAULT_CHIP}); another chip is refused")
    p.add_argument("--force", action="store_true",
                   help="write even to another chip or a file that is not an ESP image")
    p.add_argument("--erase-all", action="store_true", help="erase the whole flash first")
    p.add_argument("--offset", type=lambda s: int(s, 0), default=0,
                   help="flash address of the image (default 0x0, MicroPython's merged image)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the esptool operations and exit; no board needed")
    p.set_defaults(func=run)
