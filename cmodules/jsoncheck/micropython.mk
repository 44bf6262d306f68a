JSONCHECK_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(JSONCHECK_DIR)/jsoncheck.c
$(BUILD)/jsoncheck/jsoncheck.o: CFLAGS += -Wall -Werror
