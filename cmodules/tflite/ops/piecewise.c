// LEAKY_RELU and HARD_SWISH, int8 and float32, as TFLite Micro's leaky_relu.h and hard_swish.h
// compute them. int8 HARD_SWISH works in 16-bit fixed point, with gemmlowp's 16-bit rounding
// and saturation (the helpers below), and its multipliers cut down to 16 bits.
#include "ops.h"

TFL_FOR_SIZE

// DownScaleInt32ToInt16Multiplier: a Q0.31 multiplier rounded to Q0.15.
static int32_t down16(int32_t m) {
    return m >= INT32_MAX - (1 << 15) ? INT16_MAX : (m + (1 << 15)) >> 16;
}

// gemmlowp's SaturatingRoundingDoublingHighMul on int16.
static int16_t srdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    int32_t ab = (int32_t)a * b;
    return (int16_t)((ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15));
}

// The same, truncating instead of rounding (SQDMULH).
static int16_t sdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)((int32_t)a * b / (1 << 15));
}

// gemmlowp's RoundingDivideByPOT on int16 (its mask cut to 16 bits, as there).
static int16_t rdpot16(int16_t x, int e) {
    int16_t mask = (int16_t)((1LL << e) - 1);
    int16_t rem = (int16_t)(x & mask), thr = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> e) + (rem > thr ? 1 : 0));
}

static int16_t sat_shl16(int16_t x, int e) {
    int64_t r = (int64_t)x * ((int64_t)1 << e);
    return (int16_t)(r > INT16_MAX ? INT16_MAX : r < INT16_MIN ? INT16_MIN : r);
}

int tfl_prepare_piecewise(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (flat(in) != flat(out)) {
        return tfl_op_err(it, k, "output size does not match the input");
    }
    if (!is_q(in)) {
        return TFL_OK;
    }
    op->in_off = in->zero_point;
    op->out_off = out->zero_point;
    if (op->code == TFL_OP_LEAKY_RELU) {
        // TFLite Micro forms both ratios in float.
        tfl_quantize_multiplier((double)(in->scale / out->scale), &op->m1, &op->s1);
        tfl_quantize_multiplier((double)(in->scale * op->alpha / out->scale), &op->m2, &op->s2);
        return TFL_OK;
    }
    float hires = (1.0f / 128.0f) * in->scale;
    int32_t m;
    tfl_quantize_multiplier((double)(hires / out->scale), &m, &op->s1);
    op->m1 = down16(m);
    if (op->s1 > 0) {
        return tfl_op_err(it, k, "output scale too small for the input scale");
    }
    tfl_quantize_multiplier((double)(hires / (3.0f / 32768.0f)), &m, &op->s2);
    op->m2 = down16(m);
    return TFL_OK;
}

static int8_t hard_swish_q(const tfl_op *op, int8_t x) {
    int16_t hires = (int16_t)((x - op->in_off) * 128);
    int16_t pre_out = srdhm16(hires, (int16_t)op->m1);
    // "relu-ish": x rescaled from [-3, 3] to [-1, 1] (saturating), then to [0, 1]
    int16_t r = hires;
    if (op->s2 > 0) {
        r = sat_shl16(r, op->s2 - 1);
    }
    r = srdhm16(r, (int16_t)op->m2);
    if (op->s2 > 0) {
        r = sat_shl16(r, 1);
    } else if (op->s2 < 0) {
        r = rdpot16(r, -op->s2);
    }
    r = (int16_t)((r + (1 << 15)) >> 1);
    int16_t v = rdpot16(sdhm16(r, pre_out), -op->s1);
    v = (int16_t)(v + op->out_off);
    return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
}

void tfl_eval_piecewise(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n = flat(in);
    int leaky = op->code == TFL_OP_LEAKY_RELU;
    if (is_q(in)) {
        const int8_t *x = (const int8_t *)in->data;
        int8_t *y = (int8_t *)out->data;
        for (uint32_t i = 0; i < n; i++) {
            if (leaky) {
                int32_t d = x[i] - op->in_off;
                int32_t v = d >= 0 ? mbqm(d, op->m1, op->s1) : mbqm(d, op->m2, op->s2);
                y[i] = (int8_t)clampi(add_wrap(v, op->out_off), -128, 127);
            } else {
                y[i] = hard_swish_q(op, x[i]);
            }
        }
        return;
    }
    const float *x = (const float *)(const void *)in->data;
    float *y = (float *)(void *)out->data;
    for (uint32_t i = 0; i < n; i++) {
        float v = x[i];
        if (leaky) {
            y[i] = v > 0.0f ? v : v * op->alpha;
        } else {
            float r = 0.0f < v + 3.0f ? v + 3.0f : 0.0f;
            r = r < 6.0f ? r : 6.0f;
            y[i] = v * r / 6.0f;
        }
    }
}
