// edgemcp's board-faithful virtual device: the virtual device (boards/unix) built the way the
// ESP32-S3 runs MicroPython: 32-bit words (small ints of 31 bits), single-precision floats (as
// ports/esp32) and the Python heap of an ESP32-S3 without PSRAM (board_heap.c).
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)
#include "../unix/mpconfigvariant.h"
