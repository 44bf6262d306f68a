// QUANTIZE (float32, int8 or int16 to int8 or int16) and DEQUANTIZE (int8 or int16 to
// float32), as TFLite Micro's reference quantize.h / dequantize.h and requantize.h.
#include <math.h>

#include "ops.h"

int tfl_prepare_quantize(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (flat(in) != flat(out)) {
        return tfl_op_err(it, k, "output size does not match the input");
    }
    if (op->code == TFL_OP_DEQUANTIZE) {
        if (!(is_q(in) || in->type == TFL_INT16)) {
            return tfl_type_err(it, k, in->type);
        }
        if (out->type != TFL_FLOAT32) {
            return tfl_type_err(it, k, out->type);
        }
        return TFL_OK;
    }
    if (!(out->type == TFL_INT8 || out->type == TFL_INT16)) {
        return tfl_type_err(it, k, out->type);
    }
    if (in->type == TFL_INT8 || in->type == TFL_INT16) {
        tfl_quantize_multiplier((double)in->scale / (double)out->scale, &op->mult, &op->shift);
    } else if (in->type != TFL_FLOAT32) {
        return tfl_type_err(it, k, in->type);
    }
    return TFL_OK;
}

// float -> int32 as x86 converts it: out of range gives INT32_MIN.
static int32_t f2i(float r) {
    return r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
}

void tfl_eval_quantize(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n = flat(in);
    int32_t lo = out->type == TFL_INT16 ? -32768 : -128, hi = out->type == TFL_INT16 ? 32767 : 127;
    for (uint32_t i = 0; i < n; i++) {
        int32_t v;
        if (op->code == TFL_OP_DEQUANTIZE) {
            v = in->type == TFL_INT16 ? ((const int16_t *)(const void *)in->data)[i] : ((const int8_t *)in->data)[i];
            ((float *)(void *)out->data)[i] = (float)((double)in->scale * (double)(v - in->zero_point));
            continue;
        }
        if (in->type == TFL_FLOAT32) {
            float x = ((const float *)(const void *)in->data)[i];
            v = add_wrap(f2i(roundf(x / out->scale)), out->zero_point);
        } else {
            v = in->type == TFL_INT16 ? ((const int16_t *)(const void *)in->data)[i] : ((const int8_t *)in->data)[i];
            v = add_wrap(mbqm(v - in->zero_point, op->mult, op->shift), out->zero_point);
        }
        v = clampi(v, lo, hi);
        if (out->type == TFL_INT16) {
            ((int16_t *)(void *)out->data)[i] = (int16_t)v;
        } else {
            ((int8_t *)out->data)[i] = (int8_t)v;
        }
    }
}
