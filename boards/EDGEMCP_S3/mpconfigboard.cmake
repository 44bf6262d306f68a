# edgemcp's ESP32-S3 board: 8 MiB flash, console on the native USB port, the edgemcp firmware
# and C modules built in. Build: make firmware (top Makefile) or, in ports/esp32,
#   make BOARD_DIR=<this folder> USER_C_MODULES=<repo>/cmodules/micropython.cmake [BOARD_VARIANT=SPIRAM_OCT]
set(IDF_TARGET esp32s3)

# The partition table is this board's own; ESP-IDF resolves a relative name against
# ports/esp32, so the board hands it an absolute path through a generated sdkconfig fragment.
file(WRITE ${CMAKE_BINARY_DIR}/sdkconfig.edgemcp_partitions
    "CONFIG_PARTITION_TABLE_CUSTOM=y\nCONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_DIR}/partitions-edgemcp-8MiB.csv\"\n")

# As MicroPython's ESP32_GENERIC_S3, without Bluetooth (edgemcp talks USB serial and Wi-Fi;
# NimBLE would cost flash and RAM).
set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    boards/sdkconfig.usb
    boards/sdkconfig.spiram_sx
    ${MICROPY_BOARD_DIR}/sdkconfig.board
    ${CMAKE_BINARY_DIR}/sdkconfig.edgemcp_partitions
)

set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
