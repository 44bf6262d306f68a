// Compares cmodules/tflite/floatmath.c with this machine's libm (the functions the oracle,
// tflite-micro, calls) on every float32 input, or every STRIDE-th bit pattern.
// usage: gcc -O2 -ffp-contract=off tests/tflite/floatmath_exhaustive.c cmodules/tflite/floatmath.c
//            -Icmodules/tflite -lm -o /tmp/fm && /tmp/fm [STRIDE]
// Prints the inputs tried and the mismatches per function (NaN against NaN counts as equal).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floatmath.h"

static int differ(float a, float b) {
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua != ub && !(isnan(a) && isnan(b));
}

int main(int argc, char **argv) {
    uint64_t stride = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    uint64_t n = 0, bad_exp = 0, bad_tanh = 0;
    for (uint64_t u = 0; u < (1ull << 32); u += stride) {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, 4);
        n++;
        if (differ(expf(x), tfl_expf(x)) && bad_exp++ < 5) {
            printf("expf  %08x %a: libm %a ours %a\n", b, x, expf(x), tfl_expf(x));
        }
        if (differ(tanhf(x), tfl_tanhf(x)) && bad_tanh++ < 5) {
            printf("tanhf %08x %a: libm %a ours %a\n", b, x, tanhf(x), tfl_tanhf(x));
        }
    }
    printf("inputs %llu: expf mismatches %llu, tanhf mismatches %llu\n", (unsigned long long)n,
        (unsigned long long)bad_exp, (unsigned long long)bad_tanh);
    return bad_exp || bad_tanh;
}
