# tflite: the model runtime, linked into the unix build (see cmodules/tflite/tfl.h).
TFLITE_MOD_DIR := $(USERMOD_DIR)
include $(TFLITE_MOD_DIR)/sources.mk
SRC_USERMOD_C += $(addprefix $(TFLITE_MOD_DIR)/,$(TFLITE_BINDING_SRC))
SRC_USERMOD_LIB_C += $(addprefix $(TFLITE_MOD_DIR)/,$(TFLITE_CORE_SRC))
CFLAGS_USERMOD += -I$(TFLITE_MOD_DIR)
# Only this module's objects (ops/ too): strict warnings, speed over size for the kernels, and
# no fused multiply-add so float results match the reference kernels exactly.
$(BUILD)/tflite/%.o: private CFLAGS += -Wall -Werror -O2 -ffp-contract=off
