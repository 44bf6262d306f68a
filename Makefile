# edgemcp: `make run` starts it, `make test` checks it. `make setup` installs what both need
# (safe to run again: each step is skipped when its output is up to date).
SHELL := /bin/bash
.DEFAULT_GOAL := help

MICROPY_DIR ?= build/micropython
UNIX_BUILD  ?= build/unix
DEVICE      := $(UNIX_BUILD)/micropython-edgemcp
VENV        := .venv
PY          := $(VENV)/bin/python
NODE_DIR    := build/node
# Stock MicroPython (the unix port's standard variant: nothing of ours frozen or linked) and the
# package installed on it by `edgemcp install --dir` (tests/support.py's STOCK_DIR).
STOCK       := build/stock/micropython
STOCK_BOARD := build/stock/board
EDGEMCP_MODELS ?= $(abspath models)
export EDGEMCP_MODELS

# Debian packages the build and the tests use.
APT_PACKAGES := dpkg-dev gcc make libffi-dev libmbedtls-dev pkgconf python3-venv mosquitto \
	clang libclang-rt-dev cmake
# The board-faithful build (device-s3) is 32-bit: the multilib compiler and i386 libraries.
APT_I386 := gcc-multilib libffi-dev:i386 libmbedtls-dev:i386
# npm tools, pinned (Node 22 comes from the npm package `node`).
NPM_PACKAGES := node@22.23.3 @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.16 \
	conformance-next@npm:@modelcontextprotocol/conformance@0.2.0-alpha.12 \
	@modelcontextprotocol/sdk@1.32.2 @modelcontextprotocol/client@2.3.1  # the TypeScript SDKs (tests/e2e/test_ts_sdk.py)

# FORCE when the list $(1) differs from the one recorded in the stamp file $(2)
changed = $(if $(filter-out $(1),$(shell cat $(2) 2>/dev/null))$(filter-out $(shell cat $(2) 2>/dev/null),$(1)),FORCE)

FIRMWARE_SRC := $(shell find firmware boards/unix boards/unix-s3 cmodules -type f \( -name '*.py' -o -name '*.c' -o -name '*.h' -o -name '*.mk' \) 2>/dev/null) \
	models/micro_speech_quantized.tflite  # frozen into the unix builds (boards/unix/manifest.py)

.PHONY: FORCE help setup apt micropython device device-s3 stock natmod venv node run test test-s3 test-stock \
	test-device test-host test-e2e lint bench firmware flash fuzz clean

help:
	@echo "make run    - a virtual device behind the bridge, ready for MCP clients"
	@echo "make test   - the whole test suite (sets up what it needs first)"
	@echo "make test-device, test-host, test-e2e - one layer of it (see tests/README.md)"
	@echo "make lint   - ruff over the tree (ruff.toml)"
	@echo "make bench  - benchmarks; tables on stdout, JSON under build/bench/"
	@echo "make setup  - install and build everything the two need"
	@echo "make firmware BOARD=EDGEMCP_S3 MICROPY_DIR=... - the ESP32-S3 image (needs ESP-IDF)"
	@echo "make natmod [ARCH=xtensawin] - tflite as a native module for stock firmware (x64 by default)"

setup: apt micropython device device-s3 venv node natmod stock

apt: build/.stamp-apt
# Re-checked only when the package list changes (the stamp holds the list it installed).
build/.stamp-apt: $(call changed,$(APT_PACKAGES) $(APT_I386),build/.stamp-apt)
	@mkdir -p build
	@dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386
	@missing=$$(for p in $(APT_PACKAGES) $(APT_I386); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if ! command -v npm >/dev/null; then missing="$$missing npm"; fi; \
	if [ -n "$$missing" ]; then echo "apt: installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@echo "$(APT_PACKAGES) $(APT_I386)" > $@

micropython: $(MICROPY_DIR)/py/mpconfig.h
$(MICROPY_DIR)/py/mpconfig.h: | build/.stamp-apt
	bash scripts/fetch-micropython.sh $(MICROPY_DIR)

$(MICROPY_DIR)/mpy-cross/build/mpy-cross: $(MICROPY_DIR)/py/mpconfig.h
	$(MAKE) -C $(MICROPY_DIR)/mpy-cross -j2 >/dev/null

device: $(DEVICE)
$(DEVICE): $(MICROPY_DIR)/mpy-cross/build/mpy-cross $(FIRMWARE_SRC)
	$(MAKE) -C $(MICROPY_DIR)/ports/unix -j2 VARIANT_DIR=$(abspath boards/unix) \
		BUILD=$(abspath $(UNIX_BUILD)) PROG=micropython-edgemcp \
		USER_C_MODULES=$(abspath cmodules) >$(UNIX_BUILD).log 2>&1 \
		|| { tail -40 $(UNIX_BUILD).log; exit 1; }
	@touch $@
	@echo "built $@"

# The board-faithful virtual device (boards/unix-s3, see there): 32-bit, float32, the heap of
# an ESP32-S3 without PSRAM. EDGEMCP_BUILD=unix-s3 makes the tests drive it (make test-s3).
DEVICE_S3 := build/unix-s3/micropython-edgemcp
device-s3: $(DEVICE_S3)
$(DEVICE_S3): $(MICROPY_DIR)/mpy-cross/build/mpy-cross $(FIRMWARE_SRC)
	$(MAKE) -C $(MICROPY_DIR)/ports/unix -j2 VARIANT_DIR=$(abspath boards/unix-s3) \
		BUILD=$(abspath build/unix-s3) PROG=micropython-edgemcp \
		USER_C_MODULES=$(abspath cmodules) >build/unix-s3.log 2>&1 \
		|| { tail -40 build/unix-s3.log; exit 1; }
	@touch $@
	@echo "built $@"

# The standard variant as MicroPython ships it, but with the frozen set of the official ESP32
# firmware that the app needs (asyncio; the Debian tree has no micropython-lib) and no btree
# (no berkeley-db in the Debian tree). Built out of tree, in build/stock/obj.
stock: $(STOCK_BOARD)/.stamp
$(STOCK): $(MICROPY_DIR)/mpy-cross/build/mpy-cross
	@mkdir -p build/stock
	$(MAKE) -C $(MICROPY_DIR)/ports/unix -j2 VARIANT=standard BUILD=$(abspath build/stock/obj) PROG=../micropython \
		FROZEN_MANIFEST=$(abspath $(MICROPY_DIR)/extmod/asyncio/manifest.py) MICROPY_PY_BTREE=0 \
		>build/stock/build.log 2>&1 || { tail -40 build/stock/build.log; exit 1; }
	@touch $@
	@echo "built $@"
$(STOCK_BOARD)/.stamp: $(STOCK) $(VENV)/.stamp $(shell find firmware boards/unix/modules -name '*.py' 2>/dev/null) \
		host/edgemcp_host/commands/install.py build/natmod/x64/tflite.mpy
	$(VENV)/bin/edgemcp install --dir $(STOCK_BOARD) --board unix
	@touch $@

# tflite as a dynamic native module for stock firmware (cmodules/tflite/natmod): the same binding
# and core as the built-in module, in a .mpy with machine code, build/natmod/ARCH/tflite.mpy.
# x64 (the default) is for build/stock/micropython and is installed into build/stock/board;
# ARCH=xtensawin is for the ESP32-S3, with ESP-IDF's toolchain (XTENSA_CROSS) on the PATH.
ARCH ?= x64
XTENSA_CROSS ?= xtensa-esp32s3-elf-
NATMOD_SRC := $(shell find cmodules/tflite -path cmodules/tflite/fuzz -prune -o -type f \( -name '*.[ch]' -o -name '*.mk' -o -name Makefile \) -print)
natmod: build/natmod/$(ARCH)/tflite.mpy
build/natmod/%/tflite.mpy: $(NATMOD_SRC) $(MICROPY_DIR)/py/mpconfig.h $(VENV)/.stamp
	@if [ "$*" = xtensawin ] && ! command -v $(XTENSA_CROSS)gcc >/dev/null; then \
		echo "$(XTENSA_CROSS)gcc not found: run ESP-IDF's export.sh first (or set XTENSA_CROSS)"; exit 1; fi
	$(MAKE) --no-print-directory -C cmodules/tflite/natmod ARCH=$* $(if $(filter xtensawin,$*),CROSS=$(XTENSA_CROSS)) \
		MPY_DIR=$(abspath $(MICROPY_DIR)) BUILD=$(abspath build/natmod/$*) PYTHON=$(abspath $(PY))
	@touch $@  # up to date for this Makefile too when the sub-make had nothing to do

venv: $(VENV)/.stamp
$(VENV)/.stamp: host/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e 'host[test]'
	@touch $@

node: $(NODE_DIR)/.stamp
# Reinstalled only when the pinned list changes (the stamp holds the list it installed).
$(NODE_DIR)/.stamp: $(call changed,$(NPM_PACKAGES),$(NODE_DIR)/.stamp) | build/.stamp-apt
	mkdir -p $(NODE_DIR)
	[ -f $(NODE_DIR)/package.json ] || echo '{"private": true}' > $(NODE_DIR)/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --loglevel=error $(NPM_PACKAGES)
	@echo "$(NPM_PACKAGES)" > $@

run: setup
	$(VENV)/bin/edgemcp run

test: setup
	$(VENV)/bin/pytest -q tests
	$(MAKE) --no-print-directory test-s3
	$(MAKE) --no-print-directory test-stock

# The tests that matter for the board, on the board-faithful build.
S3_TESTS := tests/device tests/e2e/test_device_sdk.py tests/e2e/test_device_bad_input.py tests/e2e/test_device_modern.py \
	tests/e2e/test_infer_sdk.py tests/e2e/test_infer_io.py tests/e2e/test_mqtt_store_forward.py \
	tests/e2e/test_device_events_serial.py tests/e2e/test_device_low_heap.py \
	tests/host/test_tflite_float_sweep.py tests/host/test_tflite_ops.py \
	tests/host/test_tflite_models.py::test_keyword_scrambled_as_published_refused_by_both \
	tests/host/test_tflite_models.py::test_reference_bit_exact_with_tflite_micro
test-s3: setup
	EDGEMCP_BUILD=unix-s3 $(VENV)/bin/pytest -q $(S3_TESTS)

# The device tests that apply to stock MicroPython, run again on build/stock/micropython with the
# installed package (EDGEMCP_BUILD=stock, tests/support.py), tflite being the native module
# build/natmod/x64/tflite.mpy installed with it: the bit-exact and hostile-model tflite tests;
# tests/e2e/test_stock.py (in the main run) checks what differs there. Left out: the infer e2e
# tests, which use the frozen model and the board's 128 KiB heap of the edgemcp image, and
# test_qos1_flow_control_and_order, whose 100 KB payload in a 256 KiB heap assumes frozen code
# (on stock the package's bytecode, ~40 KB with mqtt and asyncio, is in the heap: it passes
# there with 384k).
# The event tests run the queue on the unix board's partition shim (installed with the package).
STOCK_TESTS := tests/host/test_tflite_ops.py tests/host/test_tflite_models.py tests/host/test_tflite_float_sweep.py \
	tests/host/test_tflite_hostile.py tests/e2e/test_device_sdk.py tests/e2e/test_device_bad_input.py tests/e2e/test_device_modern.py \
	tests/e2e/test_mqtt_client.py \
	tests/e2e/test_mqtt_mcp.py tests/e2e/test_mqtt_store_forward.py tests/e2e/test_device_events_serial.py \
	tests/e2e/test_bridge_sdk.py --deselect tests/e2e/test_mqtt_client.py::test_qos1_flow_control_and_order
test-stock: setup
	EDGEMCP_BUILD=stock $(VENV)/bin/pytest -q $(STOCK_TESTS)

# One layer at a time (tests/README.md says what each holds).
test-device test-host test-e2e: test-%: setup
	$(VENV)/bin/pytest -q tests/$*

lint: apt venv  # apt first: a clean machine may lack python3-venv
	$(VENV)/bin/ruff check .

bench: setup
	@$(MAKE) --no-print-directory bench-peers || echo "bench: the peers could not be installed: bench/bridge.py leaves them out"
	@mkdir -p build/bench
	@# bench/mp_*.py are MicroPython scripts the benchmarks run on the virtual device
	@for b in $(filter-out bench/mp_%,$(wildcard bench/*.py)); do echo "== $$b"; $(PY) $$b || exit 1; done

# What bench/bridge.py measures the bridge against, nothing else needs: mcp-proxy in a venv of its
# own (it pins an older mcp), supergateway from npm. Reinstalled only when the pins change.
PEERS_DIR := build/peers
PEERS_PIP := mcp-proxy==0.13.0
PEERS_NPM := supergateway@4.0.0
.PHONY: bench-peers
bench-peers: $(PEERS_DIR)/.stamp
$(PEERS_DIR)/.stamp: $(call changed,$(PEERS_PIP) $(PEERS_NPM),$(PEERS_DIR)/.stamp) | build/.stamp-apt
	rm -rf $(PEERS_DIR)/mcp-proxy $(PEERS_DIR)/supergateway
	python3 -m venv $(PEERS_DIR)/mcp-proxy
	$(PEERS_DIR)/mcp-proxy/bin/pip install -q $(PEERS_PIP)
	mkdir -p $(PEERS_DIR)/supergateway
	echo '{"private": true}' > $(PEERS_DIR)/supergateway/package.json
	cd $(PEERS_DIR)/supergateway && npm install --no-audit --no-fund --loglevel=error $(PEERS_NPM)
	@echo "$(PEERS_PIP) $(PEERS_NPM)" > $@

fuzz: setup
	$(MAKE) -C cmodules/tflite/fuzz run

# The ESP32-S3 image (ESP-IDF installed by the user; see the README). VARIANT=SPIRAM_OCT for
# modules with octal PSRAM. The ESP32 port needs two MicroPython submodules that Debian's source
# tree leaves out (lib/berkeley-db-1.xx, lib/tinyusb): use a git checkout of v1.25.0.
BOARD ?= EDGEMCP_S3
VARIANT ?=
FIRMWARE_BUILD := build/$(BOARD)$(if $(VARIANT),-$(VARIANT))
firmware:
	@bash scripts/check-firmware-env.sh $(MICROPY_DIR) $(BOARD) $(VARIANT)
	$(MAKE) -C $(MICROPY_DIR)/mpy-cross
	$(MAKE) -C $(MICROPY_DIR)/ports/esp32 BOARD_DIR=$(abspath boards/$(BOARD)) $(if $(VARIANT),BOARD_VARIANT=$(VARIANT)) \
		BUILD=$(abspath $(FIRMWARE_BUILD)) USER_C_MODULES=$(abspath cmodules/micropython.cmake)
	@echo "image: $(FIRMWARE_BUILD)/firmware.bin  (flash it with: edgemcp flash $(FIRMWARE_BUILD)/firmware.bin --port PORT)"

clean:
	rm -rf $(UNIX_BUILD) build/unix-s3 build/stock build/natmod build/bench

FORCE:
