# Built out of tree: make -C $(MICROPY_DIR)/ports/unix VARIANT_DIR=<this folder> (see the top Makefile).
FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 1
MICROPY_SSL_AXTLS = 0
MICROPY_SSL_MBEDTLS = 1
MICROPY_USE_READLINE = 1
