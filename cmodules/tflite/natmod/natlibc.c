// The C library functions the tflite core calls, for the native module, which is linked against
// no libc. Memory functions go to the firmware's own (through mp_fun_table); vsnprintf formats
// with the firmware's printf; the few libm functions are the exactly specified ones (rounding to
// integers, splitting and scaling by powers of two), written here from their IEEE-754 bits so
// that every input gets the one correct result. The transcendental functions the float kernels
// need are floatmath.c's, as in the built-in module: none is defined here, so a call to libm's
// expf or tanhf would fail at link time rather than change an output bit.
#include <stdarg.h>

#include "py/dynruntime.h"

void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}

void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *p = a, *q = b;
    for (; n; n--, p++, q++) {
        if (*p != *q) {
            return *p - *q;
        }
    }
    return 0;
}

size_t strlen(const char *s) {
    const char *p = s;
    while (*p) {
        p++;
    }
    return p - s;
}

// vsnprintf into buf, cut at size - 1 bytes as C's: mp_vprintf prints the same digits and
// strings for the conversions the core uses (%s, %d, %u, %ld, %lu).
typedef struct {
    char *buf;
    size_t size, len;
} bounded_buf;

static void bounded_strn(void *data, const char *str, size_t len) {
    bounded_buf *b = data;
    for (size_t i = 0; i < len; i++, b->len++) {
        if (b->len + 1 < b->size) {
            b->buf[b->len] = str[i];
        }
    }
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    bounded_buf b = { buf, size, 0 };
    mp_print_t print = { &b, bounded_strn };
    mp_vprintf(&print, fmt, ap);
    if (size) {
        buf[b.len < size ? b.len : size - 1] = '\0';
    }
    return (int)b.len;
}

// ---- libm: exact functions on the bits

typedef union {
    double d;
    uint64_t u;
} dbits;

typedef union {
    float f;
    uint32_t u;
} fbits;

double fabs(double x) {
    dbits b = { x };
    b.u &= ~(1ull << 63);
    return b.d;
}

float fabsf(float x) {
    fbits b = { x };
    b.u &= ~(1u << 31);
    return b.f;
}

static double with_sign_of(double mag, double x) {
    dbits m = { mag }, s = { x };
    m.u = (m.u & ~(1ull << 63)) | (s.u & (1ull << 63));
    return m.d;
}

static float with_sign_of_f(float mag, float x) {
    fbits m = { mag }, s = { x };
    m.u = (m.u & ~(1u << 31)) | (s.u & (1u << 31));
    return m.f;
}

// From 2**52 (double) or 2**23 (float) up every value is an integer; so are inf and NaN, which
// also return themselves. Below, truncation through a 64-bit integer is exact.
double floor(double x) {
    if (!(fabs(x) < 0x1p52)) {
        return x;
    }
    double t = (double)(int64_t)x;
    if (t > x) {
        t -= 1.0;
    }
    return t == 0.0 ? with_sign_of(0.0, x) : t;  // floor(-0.0) is -0.0
}

float floorf(float x) {
    if (!(fabsf(x) < 0x1p23f)) {
        return x;
    }
    float t = (float)(int32_t)x;
    if (t > x) {
        t -= 1.0f;
    }
    return t == 0.0f ? with_sign_of_f(0.0f, x) : t;
}

float ceilf(float x) {
    if (!(fabsf(x) < 0x1p23f)) {
        return x;
    }
    float t = (float)(int32_t)x;
    if (t < x) {
        t += 1.0f;
    }
    return t == 0.0f ? with_sign_of_f(0.0f, x) : t;  // ceil(-0.5) is -0.0
}

// Half away from zero; x - trunc(x) is exact below 2**52.
double round(double x) {
    if (!(fabs(x) < 0x1p52)) {
        return x;
    }
    double t = (double)(int64_t)x;
    if (fabs(x - t) >= 0.5) {
        t += x < 0 ? -1.0 : 1.0;
    }
    return t == 0.0 ? with_sign_of(0.0, x) : t;
}

float roundf(float x) {
    if (!(fabsf(x) < 0x1p23f)) {
        return x;
    }
    float t = (float)(int32_t)x;
    if (fabsf(x - t) >= 0.5f) {
        t += x < 0 ? -1.0f : 1.0f;
    }
    return t == 0.0f ? with_sign_of_f(0.0f, x) : t;
}

double trunc(double x) {  // called by -Os code where -O2 inlines it
    if (!(fabs(x) < 0x1p52)) {
        return x;
    }
    double t = (double)(int64_t)x;
    return t == 0.0 ? with_sign_of(0.0, x) : t;  // trunc(-0.5) is -0.0
}

double frexp(double x, int *e) {
    dbits b = { x };
    int be = (int)(b.u >> 52 & 0x7ff);
    if (be == 0) {
        if (x == 0.0) {
            *e = 0;
            return x;
        }
        double r = frexp(x * 0x1p64, e);  // subnormal: made normal, exactly
        *e -= 64;
        return r;
    }
    if (be == 0x7ff) {  // inf, NaN
        *e = 0;
        return x;
    }
    *e = be - 1022;
    b.u = (b.u & ~(0x7ffull << 52)) | (1022ull << 52);
    return b.d;
}

// x * 2**n rounded once: the steps towards the result are exact (products stay normal) except
// when the result is below half the least subnormal, which rounds to zero either way. Beyond
// +-2200 every finite non-zero x overflows or underflows: n is clamped there.
double ldexp(double x, int n) {
    n = n > 2200 ? 2200 : n < -2200 ? -2200 : n;
    while (n > 1023) {
        x *= 0x1p1023;
        n -= 1023;
    }
    while (n < -1022) {
        x *= 0x1p-969;
        n += 969;
    }
    dbits p = { 0 };
    p.u = (uint64_t)(n + 1023) << 52;
    return x * p.d;
}

// Through frexp: a float widens to double exactly (a subnormal becomes normal), and the
// fraction frexp returns has the float's 24 significant bits, so it narrows back exactly.
float frexpf(float x, int *e) {
    return (float)frexp((double)x, e);
}
