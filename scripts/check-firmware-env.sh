#!/usr/bin/env bash
# Checks what `make firmware` needs before it starts a long ESP-IDF build, each with the fix:
# ESP-IDF on PATH, a MicroPython tree with the ESP32 port and its submodules, the board and
# its variant. Usage: check-firmware-env.sh MICROPY_DIR BOARD [VARIANT]
set -uo pipefail
MICROPY_DIR=$1
BOARD=$2
VARIANT=${3:-}

fail() { echo "firmware: $*"; exit 1; }

[ -n "${IDF_PATH:-}" ] || fail "IDF_PATH is not set: install ESP-IDF v5.2.2 (MicroPython 1.25 supports v5.2-v5.4) and run 'source \$IDF_PATH/export.sh'"
command -v idf.py >/dev/null || fail "idf.py not on PATH: run 'source \$IDF_PATH/export.sh'"
[ -f "$MICROPY_DIR/ports/esp32/Makefile" ] || fail "no MicroPython tree at MICROPY_DIR=$MICROPY_DIR (pass MICROPY_DIR=<a git checkout of MicroPython v1.25.0>)"
for d in berkeley-db-1.xx tinyusb; do
  # Debian's source tree leaves these submodules empty
  ls -A "$MICROPY_DIR/lib/$d" 2>/dev/null | grep -q . || fail "$MICROPY_DIR/lib/$d is empty: the ESP32 port needs MicroPython's submodules; use a git checkout of v1.25.0, run 'make -C <it>/ports/esp32 BOARD=ESP32_GENERIC_S3 submodules', then pass MICROPY_DIR=<it>"
done
[ -f "boards/$BOARD/mpconfigboard.cmake" ] || fail "no board boards/$BOARD"
[ -z "$VARIANT" ] || [ -f "boards/$BOARD/mpconfigvariant_$VARIANT.cmake" ] || fail "board $BOARD has no variant $VARIANT (boards/$BOARD/mpconfigvariant_*.cmake)"
exit 0
