// The Python heap of an ESP32-S3 without PSRAM, fixed by the build.
//
// MicroPython's esp32 port (ports/esp32/mpconfigport.h, MICROPY_GC_INITIAL_HEAP_SIZE) starts
// the ESP32-S3 with a 64 KiB heap, sized "so they can grow the heap once (double it) and still
// have enough internal RAM to start WiFi and make a HTTPS request": 128 KiB is what an app that
// uses WiFi and TLS can count on. The unix port's main.c takes its heap size from -X heapsize
// (default 1 MiB on 32-bit) and has no build option for it, so the link wraps gc_init
// (-Wl,--wrap=gc_init in mpconfigvariant.mk): a larger heap is cut to the board's, a smaller one
// (-X heapsize=64K, for finding the smallest heap that works) is kept. A test fixture that
// holds what the board keeps elsewhere (a RAM simulation of the flash chip, a model file the
// board maps from flash) sets EDGEMCP_HEAP_OVER_BOARD to its reason to keep a larger heap
// (tests/support.py run_micropython(over_board=...)); nothing else can.
#include <stdlib.h>
#include "py/gc.h"

#define EDGEMCP_BOARD_HEAP (128 * 1024)

void __real_gc_init(void *start, void *end);
void __wrap_gc_init(void *start, void *end);

void __wrap_gc_init(void *start, void *end) {
    const char *reason = getenv("EDGEMCP_HEAP_OVER_BOARD");
    if ((char *)end - (char *)start > EDGEMCP_BOARD_HEAP && !(reason && *reason)) {
        end = (char *)start + EDGEMCP_BOARD_HEAP;
    }
    __real_gc_init(start, end);
}
