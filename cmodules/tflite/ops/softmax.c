// SOFTMAX, int8 in with int8 or int16 out (TFLite Micro's reference softmax.h fixed-point path:
// scaled differences to the row maximum, gemmlowp exp, one reciprocal of the sum, then rounded to
// the output's bits) and float32 (std::exp of the scaled differences, whose bits floatmath.c
// reproduces, then each over their float sum).
#include <math.h>

#include "../floatmath.h"
#include "ops.h"

TFL_FOR_SIZE

static int same_shape(const tfl_tensor *a, const tfl_tensor *b) {
    if (a->ndim != b->ndim) {
        return 0;
    }
    for (int d = 0; d < a->ndim; d++) {
        if (a->dims[d] != b->dims[d]) {
            return 0;
        }
    }
    return 1;
}

int tfl_prepare_softmax(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (in->ndim < 1 || !same_shape(in, out) || dim(in, in->ndim - 1) < 1) {
        return tfl_op_err(it, k, "output shape does not match the input");
    }
    if (!(is_q(in) ? is_q(out) || out->type == TFL_INT16 : in->type == TFL_FLOAT32 && out->type == TFL_FLOAT32)) {
        return tfl_op_err(it, k, "unsupported tensor types (int8 in, int8 or int16 out; or float32)");
    }
    if (is_q(in)) {
        // TFLite Micro's checks: int8 out exactly 1/256, int16 out 1/65536 within 0.1%
        if (is_q(out) ? out->zero_point != -128 || out->scale != 1.0f / 256
                      : out->zero_point != -32768 || fabsf(out->scale - 1.0f / 65536) > 0.001f / 65536) {
            return tfl_op_err(it, k, "output must have scale 1/256 and zero point -128 (int8) or scale 1/65536 "
                                     "and zero point -32768 (int16)");
        }
        double real = (double)op->beta * (double)in->scale * (double)(1 << 26);
        if (real > 2147483647.0) {
            real = 2147483647.0;
        }
        if (!(real > 1.0)) {
            return tfl_op_err(it, k, "input scale times beta is too small");
        }
        tfl_quantize_multiplier(real, &op->mult, &op->shift);
        // CalculateInputRadius(5, shift): the most negative difference that still matters.
        double radius = 31.0 * (double)(1u << 26) / (double)((int64_t)1 << op->shift);
        op->diff_min = -(int32_t)floor(radius);
    }
    return TFL_OK;
}

void tfl_eval_softmax(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int depth = dim(in, in->ndim - 1);
    uint32_t rows = flat(in) / (uint32_t)depth;
    if (is_q(in)) {
        int wide = out->type == TFL_INT16, bits = wide ? 16 : 8;
        int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
        for (uint32_t r = 0; r < rows; r++) {
            const int8_t *x = (const int8_t *)in->data + (size_t)r * depth;
            int32_t mx = -128;
            for (int c = 0; c < depth; c++) {
                if (x[c] > mx) {
                    mx = x[c];
                }
            }
            int32_t sum = 0;
            for (int c = 0; c < depth; c++) {
                int32_t diff = x[c] - mx;
                if (diff >= op->diff_min) {
                    int32_t scaled = srdhm(wrap_shl(diff, op->shift), op->mult);
                    sum = add_wrap(sum, rdpot(tfl_exp_neg_q5(scaled), 12));
                }
            }
            int hr = clz32((uint32_t)sum);
            int nbits = 12 - hr;
            int32_t shifted = (int32_t)(((uint32_t)sum << (hr & 31)) - (1u << 31));
            if (hr >= 32) {
                shifted = (int32_t)(0u - (1u << 31));
            }
            int32_t recip = tfl_one_over_one_plus_x(shifted);
            for (int c = 0; c < depth; c++) {
                int32_t diff = x[c] - mx, v = lo;
                if (diff >= op->diff_min) {
                    int32_t scaled = srdhm(wrap_shl(diff, op->shift), op->mult);
                    int32_t e = tfl_exp_neg_q5(scaled);
                    v = clampi(rdpot(srdhm(recip, e), nbits + 31 - bits) + lo, lo, hi);
                }
                size_t at = (size_t)r * depth + c;
                if (wide) {
                    ((int16_t *)(void *)out->data)[at] = (int16_t)v;
                } else {
                    ((int8_t *)out->data)[at] = (int8_t)v;
                }
            }
        }
    } else {
        for (uint32_t r = 0; r < rows; r++) {
            const float *x = (const float *)(const void *)in->data + (size_t)r * depth;
            float *y = (float *)(void *)out->data + (size_t)r * depth;
            float mx = -3.40282347e38f;
            for (int c = 0; c < depth; c++) {
                mx = mx < x[c] ? x[c] : mx;
            }
            float sum = 0.0f;
            for (int c = 0; c < depth; c++) {
                y[c] = tfl_expf((x[c] - mx) * op->beta);
                sum += y[c];
            }
            for (int c = 0; c < depth; c++) {
                y[c] = y[c] / sum;
            }
        }
    }
}
