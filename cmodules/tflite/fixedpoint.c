// The fixed-point functions of fixedpoint.h that are too large to inline: the multiplier a
// real scale becomes, and gemmlowp's exp, reciprocal, logistic and tanh.
#include <math.h>

#include "fixedpoint.h"
#include "tfl.h"

int32_t mbqm(int32_t x, int32_t m, int shift) {
    return mbqm_inline(x, m, shift);
}

// The rest runs at load or once per element of a softmax or logistic: compiled for size.
TFL_FOR_SIZE

void tfl_quantize_multiplier(double m, int32_t *q, int32_t *shift) {
    if (m == 0.0 || !(fabs(m) < 1e30)) {
        *q = 0;
        *shift = 0;
        return;
    }
    int e;
    double fr = frexp(m, &e);
    int64_t qf = (int64_t)round(fr * (double)(1LL << 31));
    if (qf == (1LL << 31)) {
        qf /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        qf = 0;
    }
    if (e > 30) {
        e = 30;
        qf = (1LL << 31) - 1;
    }
    *q = (int32_t)qf;
    *shift = e;
}

// exp(x) for x in [-1/4, 0), Q0.31 in and out.
static int32_t exp_quarter(int32_t a) {
    int32_t x = add_wrap(a, 1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    int32_t x4_4 = rdpot(x4, 2);
    int32_t poly = rdpot(add_wrap(srdhm(add_wrap(x4_4, x3), 715827883), x2), 1);
    return add_wrap(1895147668, srdhm(1895147668, add_wrap(x, poly)));
}

// exp(a) for a <= 0 with ibits integer bits; result Q0.31 (exp_on_negative_values).
static int32_t exp_neg(int32_t a, int ibits) {
    static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    int fbits = 31 - ibits;
    int32_t quarter = (int32_t)1 << (fbits - 2);
    int32_t amq = (int32_t)((uint32_t)(a & (quarter - 1)) - (uint32_t)quarter);
    int32_t result = exp_quarter(sat_shl(amq, ibits));
    int32_t rem = (int32_t)((uint32_t)amq - (uint32_t)a);
    for (int e = -2; e <= 4; e++) {
        if (ibits > e && (rem & ((int32_t)1 << (fbits + e)))) {
            result = srdhm(result, mult[e + 2]);
        }
    }
    if (ibits > 5 && a < -((int32_t)1 << (36 - ibits))) {
        result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

static int32_t half_sum(int32_t a, int32_t b) {
    int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

// Newton-Raphson 1/(1+a)*2 for a in [0,1), Q2.29 result.
static int32_t recip_f2(int32_t a) {
    int32_t hd = half_sum(a, INT32_MAX);
    int32_t x = add_wrap(1515870810, srdhm(hd, -1010580540));
    for (int i = 0; i < 3; i++) {
        int32_t one_minus = (int32_t)((uint32_t)(1 << 29) - (uint32_t)srdhm(hd, x));
        x = add_wrap(x, sat_shl(srdhm(x, one_minus), 2));
    }
    return x;
}

int32_t tfl_one_over_one_plus_x(int32_t a) {
    return sat_shl(recip_f2(a), 1);
}

static int32_t one_minus_x_over_one_plus_x(int32_t a) {
    return sat_shl((int32_t)((uint32_t)recip_f2(a) - (1u << 29)), 2);
}

int32_t tfl_exp_neg_q5(int32_t a) {
    return exp_neg(a, 5);
}

int32_t tfl_logistic_q4(int32_t a) {
    const int ibits = 4;
    if (a == 0) {
        return 1 << 30;
    }
    int32_t absa = a > 0 ? a : (int32_t)(0u - (uint32_t)a);
    int32_t pos = tfl_one_over_one_plus_x(exp_neg((int32_t)(0u - (uint32_t)absa), ibits));
    return a > 0 ? pos : (int32_t)((uint32_t)INT32_MAX - (uint32_t)pos);
}

int32_t tfl_tanh_q4(int32_t a) {
    const int ibits = 4;
    if (a == 0) {
        return 0;
    }
    int32_t n = a < 0 ? a : (int32_t)(0u - (uint32_t)a);
    int32_t t = one_minus_x_over_one_plus_x(exp_neg(n, ibits + 1));
    return a < 0 ? (int32_t)(0u - (uint32_t)t) : t;
}
