// Fixed-point arithmetic of the quantized kernels, with gemmlowp's and TFLite's semantics bit
// for bit (wrapping where they wrap, saturating where they saturate). The small primitives are
// inline here because the kernels' inner loops use them; the exp/reciprocal/sigmoid family,
// used once per element by softmax, logistic and tanh, lives in fixedpoint.c.
#ifndef TFL_FIXEDPOINT_H
#define TFL_FIXEDPOINT_H

#include <stdint.h>

// a + b, wrapping like 32-bit two's complement hardware (no signed-overflow UB).
static inline int32_t add_wrap(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

// x << e, wrapping.
static inline int32_t wrap_shl(int32_t x, int e) {
    return (int32_t)((uint32_t)x << e);
}

// SaturatingRoundingDoublingHighMul: round(a * b / 2^31), INT32_MIN * INT32_MIN saturating.
// The reference nudges the product by 2^30 or 1 - 2^30 by its sign, then divides toward zero;
// for either sign that is adding 2^30 and shifting right arithmetically (a floor), the same
// bits without a branch (GCC and clang shift signed values arithmetically).
static inline int32_t srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * b + (1 << 30)) >> 31);
}

// RoundingDivideByPOT: x / 2^e rounded half away from zero.
static inline int32_t rdpot(int32_t x, int e) {
    if (e <= 0) {
        return x;
    }
    if (e > 31) {
        e = 31;
    }
    int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

// SaturatingRoundingMultiplyByPOT with a positive exponent.
static inline int32_t sat_shl(int32_t x, int e) {
    int32_t thr = (int32_t)((1u << (31 - e)) - 1);
    if (x > thr) {
        return INT32_MAX;
    }
    if (x < -thr) {
        return INT32_MIN;
    }
    return wrap_shl(x, e);
}

static inline int32_t clampi(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

// Count of leading zero bits; 32 for 0.
static inline int clz32(uint32_t x) {
    int n = 0;
    if (!x) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

// MultiplyByQuantizedMultiplier: x * m * 2^shift with TFLite's double rounding. Inline in the
// convolutions' output stages, where it runs once per output; elsewhere the call, mbqm.
static inline int32_t mbqm_inline(int32_t x, int32_t m, int shift) {
    int ls = shift > 0 ? shift : 0, rs = shift > 0 ? 0 : -shift;
    return rdpot(srdhm(wrap_shl(x, ls), m), rs);
}

int32_t mbqm(int32_t x, int32_t m, int shift);

// QuantizeMultiplier: m as a Q0.31 multiplier and a power-of-two shift.
void tfl_quantize_multiplier(double m, int32_t *q, int32_t *shift);

// exp(a) for a <= 0, a in Q5.26 (softmax's scaled differences); result Q0.31
// (exp_on_negative_values with 5 integer bits).
int32_t tfl_exp_neg_q5(int32_t a);

// 1 / (1 + a) for a in [0, 1), Q0.31 in and out (one_over_one_plus_x_for_x_in_0_1).
int32_t tfl_one_over_one_plus_x(int32_t a);

// logistic(a) and tanh(a), a in Q4.27 (the int8 kernels' input); result Q0.31.
int32_t tfl_logistic_q4(int32_t a);
int32_t tfl_tanh_q4(int32_t a);

#endif
