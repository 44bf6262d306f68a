"""The EDGEMCP_S3 partition table, checked with ESP-IDF's own partition-table code (the PyPI
package esp-idf-defs carries gen_esp32part's PartitionTable) plus the facts edgemcp needs:
aligned, no overlap, fits the board's 8 MiB, the app partition holds the image budget, a raw
1 MiB `queue` of 4 KiB sectors and the `vfs` filesystem filling the rest."""
import re
import struct

import pytest
from esp_idf_defs.partitions import APP_TYPE, DATA_TYPE, PartitionTable

from support import DEVICE_BIN, ROOT

BOARD = ROOT / "boards/EDGEMCP_S3"
CSV = BOARD / "partitions-edgemcp-8MiB.csv"
TABLE_OFFSET = 0x8000  # ESP-IDF's default CONFIG_PARTITION_TABLE_OFFSET
SECTOR = 0x1000
# The upstream ESP32_GENERIC_S3 8 MiB table gives the app 0x1F0000; that image holds
# MicroPython with Bluetooth and the micropython-lib network bundle. edgemcp adds its C modules
# and frozen package on top (measured below from the unix build's objects).
GENERIC_S3_APP = 0x1F0000


def flash_size():
    text = (BOARD / "sdkconfig.board").read_text()
    sizes = re.findall(r"^CONFIG_ESPTOOLPY_FLASHSIZE_(\d+)MB=y$", text, re.M)
    assert len(sizes) == 1, "sdkconfig.board must choose exactly one flash size"
    return int(sizes[0]) << 20


@pytest.fixture(scope="module")
def table():
    t = PartitionTable.from_csv(CSV.read_text(), partition_table_offset=TABLE_OFFSET)
    t.verify(partition_table_offset=TABLE_OFFSET)  # ESP-IDF's checks: alignment, overlap, names
    return t


def test_board_uses_this_table():
    cmake = (BOARD / "mpconfigboard.cmake").read_text()
    assert "${MICROPY_BOARD_DIR}/" + CSV.name in cmake
    assert flash_size() == 8 << 20


def test_esp_idf_accepts_it_and_it_fits(table):
    table.verify_size_fits(flash_size())
    # what ESP-IDF flashes at 0x8000: round trip through the binary format
    again = PartitionTable.from_binary(table.to_binary())
    assert [(p.name, p.type, p.subtype, p.offset, p.size) for p in again] == \
           [(p.name, p.type, p.subtype, p.offset, p.size) for p in table]


def test_aligned_and_disjoint(table):
    parts = sorted(table, key=lambda p: p.offset)
    assert parts[0].offset >= TABLE_OFFSET + SECTOR
    for p in parts:
        assert p.offset % (0x10000 if p.type == APP_TYPE else SECTOR) == 0, p
        assert p.size % SECTOR == 0, p
    for a, b in zip(parts, parts[1:]):
        assert a.offset + a.size <= b.offset, f"{a.name} overlaps {b.name}"
    assert parts[-1].offset + parts[-1].size <= flash_size()


def test_queue_and_vfs(table):
    q, v = table["queue"], table["vfs"]
    assert q.type == DATA_TYPE and q.size == 1 << 20 and q.size // SECTOR == 256
    assert v.type == DATA_TYPE
    # vfs is "the rest": it runs to the end of the flash and starts where the last other ends
    assert v.offset + v.size == flash_size()
    assert v.offset == max(p.offset + p.size for p in table if p.name != "vfs")
    assert {"nvs", "phy_init", "factory"} <= {p.name for p in table}


def alloc_bytes(obj):
    """Bytes an ELF64 object puts in the image: the sum of its SHF_ALLOC sections."""
    data = obj.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, f"{obj} is not ELF64"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    total = 0
    for i in range(shnum):
        sh = shoff + i * shentsize
        flags, = struct.unpack_from("<Q", data, sh + 8)
        size, = struct.unpack_from("<Q", data, sh + 0x20)
        if flags & 0x2:
            total += size
    return total


def image_budget():
    """The generic S3 app plus what edgemcp adds, measured on the unix build: the C modules'
    code and data and the frozen firmware (x86-64 code is larger than Xtensa's: a safe bound)."""
    build = DEVICE_BIN.parent
    objs = [build / "frozen_content.o"]
    for mk in (ROOT / "cmodules").glob("*/micropython.mk"):
        found = list((build / mk.parent.name).rglob("*.o"))
        assert found, f"C module {mk.parent.name} has no objects in {build}: run `make setup`"
        objs += found
    missing = [o for o in objs if not o.exists()]
    if missing:
        pytest.fail(f"unix build objects missing ({missing[0]}): run `make setup`")
    return GENERIC_S3_APP + sum(alloc_bytes(o) for o in objs)


def test_app_partition_holds_the_image(table):
    app = table["factory"]
    assert app.type == APP_TYPE
    budget = image_budget()
    assert app.size >= budget, f"factory {app.size:#x} < image budget {budget:#x}"
    # a built image, where ESP-IDF was at hand, must fit too
    for img in ROOT.glob("build/EDGEMCP_S3*/micropython.bin"):
        assert img.stat().st_size <= app.size, f"{img} does not fit the factory partition"
