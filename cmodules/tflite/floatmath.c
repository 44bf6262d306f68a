// The float kernels' transcendental functions, bit for bit as TFLite Micro computes them.
//
// TFLite Micro's reference kernels call the C++ standard library: LOGISTIC and SOFTMAX call
// std::exp(float), TANH calls std::tanh(float) (kernels/internal/reference/logistic.h,
// softmax.h, tanh.h). The oracle (the tflite-micro wheel, x86_64 Linux) links them to glibc's
// expf and tanhf, so their bits are what glibc computes there:
// - expf: glibc picks, at load time, a version built with fused multiply-adds on a CPU that has
//   them (every x86_64 CPU of the last decade). Its algorithm: k = round(x * 32/ln2),
//   r = x * 32/ln2 - k, 2**(k/32) from a 32-entry table and the exponent field, and a degree-3
//   polynomial in r for 2**(r/32), all in double; each step "a * b + c" is one fused
//   multiply-add (seen in the machine code). Done with separate multiplies and adds, as here,
//   exactly 2 of the 2**32 inputs round differently (found by comparing this with a correctly
//   rounded emulation of each fused step on every input): those two are answered from a table.
// - tanhf: glibc's generic float tanh (no multiply-add version exists): tanh from expm1 of 2|x|,
//   with a float expm1 (argument reduction by ln2 in two parts, a rational approximation in
//   single precision); both keep the operation order below.
// Only IEEE-754 binary32/binary64 adds, multiplies, divides and conversions are used (no libm,
// no x87: the unix-s3 build uses SSE; on the ESP32-S3 double arithmetic is libgcc's software,
// which is IEEE-exact), so the chip and both virtual devices compute the same bits. Checked
// against the oracle by tests/host/test_tflite_float_sweep.py, and against this machine's
// glibc on all 2**32 inputs by tests/tflite/floatmath_exhaustive.c.
#include <stdint.h>
#include <string.h>

#include "floatmath.h"
#include "tfl.h"

TFL_FOR_SIZE

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double u2d(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

// 2**(i/32) as a double, minus i << 47 in its bits (so that adding k << 47 for k = i + 32m
// gives 2**(k/32)); the values of glibc's table.
static const uint64_t exp2_tab[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

// The two inputs whose result the fused steps round otherwise: x, then glibc's expf(x).
static const uint32_t exp_fused_differs[2][2] = {{0x4202422fu, 0x56fc9f1cu}, {0xc27c65d9u, 0x11fa2993u}};

float tfl_expf(float x) {
    uint32_t ux = f2u(x);
    for (int i = 0; i < 2; i++) {
        if (ux == exp_fused_differs[i][0]) {
            return u2f(exp_fused_differs[i][1]);
        }
    }
    if (((ux >> 20) & 0x7ff) >= 0x42b) {  // |x| >= 88, inf or NaN
        if (ux == 0xff800000u) {
            return 0.0f;
        }
        if (((ux >> 20) & 0x7ff) >= 0x7f8) {
            return x + x;
        }
        if (x > 0x1.62e42ep6f) {  // above log(FLT_MAX): overflow
            return u2f(0x7f800000u);
        }
        if (x < -0x1.9fe368p6f) {  // below log(2**-150): rounds to 0
            return 0.0f;
        }
        if (x < -0x1.9d1d9ep6f) {  // below log(2**-149): the least subnormal
            return u2f(1);
        }
    }
    const double inv_ln2_32 = 0x1.71547652b82fep+5, shift = 0x1.8p52;
    double xd = x;
    double kd = inv_ln2_32 * xd + shift;  // the nearest integer, in the low bits
    uint64_t ki = d2u(kd);
    kd -= shift;
    double r = inv_ln2_32 * xd - kd;
    double s = u2d(exp2_tab[ki & 31] + (ki << 47));
    double z = 0x1.c6af84b912394p-20 * r + 0x1.ebfce50fac4f3p-13;
    double r2 = r * r;
    double y = 0x1.62e42ff0c52d6p-6 * r + 1.0;
    y = z * r2 + y;
    return (float)(y * s);
}

// expm1(x) for -2 < x < 44, the arguments tanh gives it, in the float operations of glibc's
// expm1f (argument reduction x = k ln2 + r with ln2 in a high and a low part, then a rational
// approximation in r and the correction c of the reduction).
static float expm1_for_tanh(float x) {
    const float ln2_hi = 6.9313812256e-01f, ln2_lo = 9.0580006145e-06f;
    uint32_t ax = f2u(x) & 0x7fffffff;
    int neg = x < 0.0f;
    float c = 0.0f;
    int32_t k = 0;
    if (ax > 0x3eb17218) {  // |x| > ln2/2: reduce
        float hi, lo;
        if (ax < 0x3f851592) {  // |x| < 1.5 ln2: k = +-1
            k = neg ? -1 : 1;
            hi = neg ? x + ln2_hi : x - ln2_hi;
            lo = neg ? -ln2_lo : ln2_lo;
        } else {
            k = (int32_t)(1.4426950216e+00f * x + (neg ? -0.5f : 0.5f));
            float t = (float)k;
            hi = x - t * ln2_hi;
            lo = t * ln2_lo;
        }
        x = hi - lo;
        c = (hi - x) - lo;
    } else if (ax < 0x33000000) {  // |x| < 2**-25: expm1(x) rounds to x
        return x;
    }
    float hfx = 0.5f * x;
    float hxs = x * hfx;
    float r1 = 1.0f + hxs * (-3.3333335072e-02f + hxs * (1.5873016091e-03f + hxs * (-7.9365076090e-05f +
        hxs * (4.0082177293e-06f + hxs * -2.0109921195e-07f))));
    float t = 3.0f - r1 * hfx;
    float e = hxs * ((r1 - t) / (6.0f - x * t));
    if (k == 0) {
        return x - (x * e - hxs);
    }
    e = x * (e - c) - c;
    e -= hxs;
    if (k == -1) {
        return 0.5f * (x - e) - 0.5f;
    }
    if (k == 1) {
        return x < -0.25f ? -2.0f * (e - (x + 0.5f)) : 1.0f + 2.0f * (x - e);
    }
    float y;
    if (k <= -2 || k > 56) {  // 2**k (1 + r + ...) - 1, the -1 last
        y = 1.0f - (e - x);
        return u2f(f2u(y) + ((uint32_t)k << 23)) - 1.0f;
    }
    if (k < 23) {  // (1 - 2**-k) + (r + ...), then times 2**k
        y = u2f(0x3f800000u - (0x1000000u >> k)) - (e - x);
    } else {  // (r + ... - 2**-k) + 1, then times 2**k
        y = x - (e + u2f((uint32_t)(0x7f - k) << 23));
        y += 1.0f;
    }
    return u2f(f2u(y) + ((uint32_t)k << 23));
}

float tfl_tanhf(float x) {
    uint32_t ux = f2u(x), ax = ux & 0x7fffffff;
    float z;
    if (ax >= 0x7f800000) {  // +-1 for +-inf, NaN stays NaN
        return (ux >> 31) ? 1.0f / x - 1.0f : 1.0f / x + 1.0f;
    }
    if (ax < 0x24000000) {  // |x| < 2**-55 (zeros and subnormals too): tanh(x) rounds to x
        return x;
    }
    float a = u2f(ax);
    if (ax >= 0x41b00000) {  // |x| >= 22: 1 - tiny rounds to 1
        z = 1.0f;
    } else if (ax >= 0x3f800000) {  // |x| >= 1: 1 - 2 / (e**2|x| + 1)
        z = 1.0f - 2.0f / (expm1_for_tanh(a + a) + 2.0f);
    } else {  // -expm1(-2|x|) / (expm1(-2|x|) + 2)
        float t = expm1_for_tanh(-2.0f * a);
        z = -t / (t + 2.0f);
    }
    return (ux >> 31) ? -z : z;
}

float tfl_logisticf(float x) {
    return x > 16.619047164916992188f ? 1.0f : x < -9.0f ? tfl_expf(x) : 1.0f / (1.0f + tfl_expf(-x));
}
