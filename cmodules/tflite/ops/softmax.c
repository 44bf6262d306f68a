// SOFTMAX, int8 (TFLite Micro's reference softmax.h fixed-point path: scaled differences to the
// row maximum, gemmlowp exp, one reciprocal of the sum) and float32 (std::exp of the scaled
// differences, whose bits floatmath.c reproduces, then each over their float sum).
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
    if (is_q(in)) {
        if (out->zero_point != -128 || fabsf(out->scale - 1.0f / 256) > 0.001f / 256) {
            return tfl_op_err(it, k, "int8 output must have scale 1/256 and zero point -128");
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
        for (uint32_t r = 0; r < rows; r++) {
            const int8_t *x = (const int8_t *)in->data + (size_t)r * depth;
            int8_t *y = (int8_t *)out->data + (size_t)r * depth;
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
                int32_t diff = x[c] - mx;
                if (diff >= op->diff_min) {
                    int32_t scaled = srdhm(wrap_shl(diff, op->shift), op->mult);
                    int32_t e = tfl_exp_neg_q5(scaled);
                    int32_t v = rdpot(srdhm(recip, e), nbits + 31 - 8) - 128;
                    y[c] = (int8_t)clampi(v, -128, 127);
                } else {
                    y[c] = -128;
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
