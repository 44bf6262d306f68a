# Built out of tree: make -C $(MICROPY_DIR)/ports/unix VARIANT_DIR=<this folder> (the top Makefile's
# device-s3 target). The virtual device's options, plus:
include $(VARIANT_DIR)/../unix/mpconfigvariant.mk
FROZEN_MANIFEST = $(VARIANT_DIR)/manifest.py
# 32-bit words (gcc -m32; needs gcc-multilib and the i386 libffi/mbedtls, see the Makefile's apt).
MICROPY_FORCE_32BIT = 1
# SSE arithmetic: x87 extended precision would round float32 kernels in ways the chip never does.
CFLAGS_EXTRA += -msse2 -mfpmath=sse
# The board's heap: every gc_init goes through board_heap.c, which caps it (see there).
SRC_C += $(VARIANT_DIR)/board_heap.c
LDFLAGS_EXTRA += -Wl,--wrap=gc_init
