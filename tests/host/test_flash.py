"""`edgemcp flash`: the dry run prints esptool operations that esptool's own command-line
parser accepts (and reads back as the same chip, port, address and file); bad input gives a
clear error and a non-zero exit without touching anything."""
import os
import shlex
import struct
import subprocess
import sys

import pytest

from support import ROOT

EDGEMCP = [sys.executable, "-m", "edgemcp_host.cli"]


def esp_image(path, chip_id):
    """The first bytes of an ESP-IDF image: magic 0xE9, segment count, flash mode/size, entry
    point, then the extended header with the chip id at offset 12."""
    head = struct.pack("<BBBBI", 0xE9, 3, 2, 0x2F, 0x40378000)
    ext = struct.pack("<B3sHBHH4s", 0xEE, b"\0\0\0", chip_id, 0, 0, 0xFFFF, b"\0" * 4)
    path.write_bytes(head + ext + bytes(4096))
    return path


def edgemcp(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k != "EDGEMCP_PORT"}
    e.update(env or {})
    return subprocess.run([*EDGEMCP, *args], capture_output=True, text=True, timeout=60, env=e,
                          cwd=ROOT)


def esptool_parse(line):
    """Parse one printed operation with esptool's own CLI parser, without running it."""
    from esptool import cli
    argv = shlex.split(line)
    assert argv[0] == "esptool"
    cli._esp = None  # what esptool's entry point sets before parsing
    ctx = cli.make_context("esptool", argv[1:])
    lead = getattr(ctx, "_protected_args", None)
    if lead is None:
        lead = ctx.protected_args
    name, cmd, rest = cli.resolve_command(ctx, [*lead, *ctx.args])
    sub = cmd.make_context(name, rest, parent=ctx)
    return ctx.params, name, sub.params


@pytest.mark.parametrize("erase", [False, True])
def test_dry_run_operations_parse_with_esptool(tmp_path, erase):
    img = esp_image(tmp_path / "firmware.bin", 9)
    r = edgemcp("flash", str(img), "--port", "/dev/ttyACM7", "--baud", "921600", "--dry-run",
                *(["--erase-all"] if erase else []))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2
    ops = [esptool_parse(line) for line in lines]
    (g1, n1, p1), (g2, n2, p2) = ops
    assert (n1, n2) == ("write-flash", "verify-flash")
    for g in (g1, g2):
        assert g["chip"] == "esp32s3" and g["port"] == "/dev/ttyACM7" and g["baud"] == 921600
    assert p1["erase_all"] is erase
    for p in (p1, p2):
        [(addr, f)] = p["addr_filename"]
        assert addr == 0 and os.path.samefile(f.name, img)
        f.close()
    assert g1["after"] == "no-reset" and g2["after"] == "hard-reset"


def test_esptool_parser_rejects_a_wrong_operation(tmp_path):
    # the check above can fail: a made-up option does not get through esptool's parser
    import click
    img = esp_image(tmp_path / "firmware.bin", 9)
    with pytest.raises(click.UsageError):
        esptool_parse(f"esptool --chip esp32s3 --port /dev/ttyACM0 write-flash --erase-everything 0x0 {img}")


def test_missing_port(tmp_path):
    img = esp_image(tmp_path / "firmware.bin", 9)
    r = edgemcp("flash", str(img), "--dry-run")
    assert r.returncode == 2 and "no port" in r.stderr
    r = edgemcp("flash", str(img), "--port", str(tmp_path / "ttyNOPE"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_missing_image(tmp_path):
    r = edgemcp("flash", str(tmp_path / "nope.bin"), "--port", "/dev/ttyACM0", "--dry-run")
    assert r.returncode == 2 and "not found" in r.stderr and r.stdout == ""


def test_image_for_another_chip_is_refused_unless_told(tmp_path):
    img = esp_image(tmp_path / "esp32.bin", 0)  # a classic ESP32 image
    r = edgemcp("flash", str(img), "--port", "/dev/ttyACM0", "--dry-run")
    assert r.returncode == 2 and "built for esp32, not esp32s3" in r.stderr
    r = edgemcp("flash", str(img), "--port", "/dev/ttyACM0", "--dry-run", "--chip", "esp32")
    assert r.returncode == 0 and esptool_parse(r.stdout.splitlines()[0])[0]["chip"] == "esp32"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an image")
    r = edgemcp("flash", str(junk), "--port", "/dev/ttyACM0", "--dry-run")
    assert r.returncode == 2 and "not an ESP firmware image" in r.stderr


def test_help_has_examples():
    r = edgemcp("flash", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "--dry-run" in r.stdout
