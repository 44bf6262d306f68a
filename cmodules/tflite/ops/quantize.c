// QUANTIZE and DEQUANTIZE as TFLite Micro's quantize kernel and reference quantize.h,
// dequantize.h and requantize.h compute them: float32 to int8 or int16; requantization between
// integer types (int8 to int8, uint8, int16 or int32; uint8 to int8, the uint8 model input of
// TFLite's converter; int16 to int8, int16 or int32); int8, uint8 or int16 to float32. Other
// pairs (float32 to uint8 among them) are refused at load, as TFLite Micro refuses them.
#include <math.h>

#include "ops.h"

TFL_FOR_SIZE

// The requantizations TFLite Micro's QUANTIZE runs (an integer input type to an output type).
static int requantizes(int in, int out) {
    switch (in) {
        case TFL_INT8:
            return out == TFL_INT8 || out == TFL_UINT8 || out == TFL_INT16 || out == TFL_INT32;
        case TFL_UINT8:
            return out == TFL_INT8;
        case TFL_INT16:
            return out == TFL_INT8 || out == TFL_INT16 || out == TFL_INT32;
        default:
            return 0;
    }
}

static int pair_err(tfl_interp *it, uint32_t k, const tfl_tensor *in, const tfl_tensor *out) {
    return tfl_fail(it, "operator %s (index %lu): %s input to %s output is not supported",
        tfl_op_name(it->ops[k].code), (unsigned long)k, tfl_type_name(in->type), tfl_type_name(out->type));
}

int tfl_prepare_quantize(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (flat(in) != flat(out)) {
        return tfl_op_err(it, k, "output size does not match the input");
    }
    if (op->code == TFL_OP_DEQUANTIZE) {
        if (!(in->type == TFL_INT8 || in->type == TFL_UINT8 || in->type == TFL_INT16) || out->type != TFL_FLOAT32) {
            return pair_err(it, k, in, out);
        }
        return TFL_OK;
    }
    if (in->type == TFL_FLOAT32 ? !(out->type == TFL_INT8 || out->type == TFL_INT16) : !requantizes(in->type, out->type)) {
        return pair_err(it, k, in, out);
    }
    if (out->nscales != 1) {
        return tfl_op_err(it, k, "output must have one scale (per-tensor quantization)");
    }
    if (in->type != TFL_FLOAT32) {
        tfl_quantize_multiplier((double)in->scale / (double)out->scale, &op->mult, &op->shift);
    }
    return TFL_OK;
}

// float -> int32 as x86 converts it: out of range gives INT32_MIN.
static int32_t f2i(float r) {
    return r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
}

static int32_t load_int(const tfl_tensor *t, uint32_t i) {
    switch (t->type) {
        case TFL_INT16: return ((const int16_t *)(const void *)t->data)[i];
        case TFL_UINT8: return t->data[i];
        default: return ((const int8_t *)t->data)[i];
    }
}

void tfl_eval_quantize(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n = flat(in);
    if (op->code == TFL_OP_DEQUANTIZE) {
        for (uint32_t i = 0; i < n; i++) {
            int32_t v = load_int(in, i);
            ((float *)(void *)out->data)[i] = (float)((double)in->scale * (double)(v - in->zero_point));
        }
        return;
    }
    int32_t lo, hi;
    switch (out->type) {
        case TFL_INT16: lo = -32768, hi = 32767; break;
        case TFL_UINT8: lo = 0, hi = 255; break;
        case TFL_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
        default: lo = -128, hi = 127;
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t v;
        if (in->type == TFL_FLOAT32) {
            float x = ((const float *)(const void *)in->data)[i];
            v = add_wrap(f2i(roundf(x / out->scale)), out->zero_point);
        } else {
            v = add_wrap(mbqm(load_int(in, i) - in->zero_point, op->mult, op->shift), out->zero_point);
        }
        v = clampi(v, lo, hi);
        switch (out->type) {
            case TFL_INT16: ((int16_t *)(void *)out->data)[i] = (int16_t)v; break;
            case TFL_UINT8: out->data[i] = (uint8_t)v; break;
            case TFL_INT32: ((int32_t *)(void *)out->data)[i] = v; break;
            default: ((int8_t *)out->data)[i] = (int8_t)v;
        }
    }
}
