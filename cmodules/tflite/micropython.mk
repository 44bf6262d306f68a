# tflite: the model runtime, linked into the unix build (see cmodules/tflite/tfl.h).
TFLITE_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(TFLITE_MOD_DIR)/modtflite.c
SRC_USERMOD_LIB_C += $(TFLITE_MOD_DIR)/tfl_model.c $(TFLITE_MOD_DIR)/tfl_ops.c
CFLAGS_USERMOD += -I$(TFLITE_MOD_DIR)
# Only this module's objects: strict warnings, speed over size for the kernels, and no
# fused multiply-add so float results match the reference kernels exactly.
$(BUILD)/tflite/%.o: private CFLAGS += -Wall -Werror -O2 -ffp-contract=off
