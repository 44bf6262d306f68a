// What several operators share: error messages, fused activation bounds, window geometry
// (tfl_window at load, tfl_taps in the kernels), constant int32 inputs, and what the filtered
// operators prepare alike (bias, activation, per-channel multipliers: tfl_prepare_filter and
// tfl_bind_op).
#include <math.h>

#include "ops.h"

TFL_FOR_SIZE

int tfl_op_err(tfl_interp *it, uint32_t k, const char *what) {
    const tfl_op *op = &it->ops[k];
    return tfl_fail(it, "operator %s (index %lu): %s", tfl_op_name(op->code), (unsigned long)k, what);
}

int tfl_type_err(tfl_interp *it, uint32_t k, int type) {
    const tfl_op *op = &it->ops[k];
    return tfl_fail(it, "operator %s (index %lu): unsupported tensor type %s", tfl_op_name(op->code), (unsigned long)k, tfl_type_name(type));
}

static float scale_at(const tfl_interp *it, const tfl_tensor *t, uint32_t i) {
    const uint8_t *p = it->model + t->scales_pos + 4 * i;
    uint32_t u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// round(f / scale) + zero point (NaN as 0, kept inside int32).
static int32_t quantize_f(const tfl_tensor *t, float f) {
    float r = roundf(f / t->scale);
    if (r != r) {
        r = 0.0f;
    } else if (r > 1e9f) {
        r = 1e9f;
    } else if (r < -1e9f) {
        r = -1e9f;
    }
    return t->zero_point + (int32_t)r;
}

// Fused activation bounds, by TFLite's ActivationFunctionType (NONE, RELU, RELU_N1_TO_1,
// RELU6): float, and quantized for int8/int16 outputs.
static const float act_lo[4] = {-3.40282347e38f, 0.0f, -1.0f, 0.0f};
static const float act_hi[4] = {3.40282347e38f, 3.40282347e38f, 1.0f, 6.0f};

int tfl_act_range(tfl_interp *it, uint32_t k, tfl_op *op, const tfl_tensor *out) {
    int32_t qmin = out->type == TFL_INT16 ? -32768 : -128, qmax = out->type == TFL_INT16 ? 32767 : 127;
    if (op->act > 3) {
        return tfl_op_err(it, k, "unsupported fused activation");
    }
    op->fmin = act_lo[op->act];
    op->fmax = act_hi[op->act];
    op->act_min = qmin;
    op->act_max = qmax;
    if (out->type != TFL_INT8 && out->type != TFL_INT16) {
        return TFL_OK;  // float kernels clamp to fmin/fmax only
    }
    if (op->act) {
        int32_t lo = quantize_f(out, op->fmin);
        op->act_min = lo > qmin ? lo : qmin;
    }
    if (op->act >= 2) {
        int32_t hi = quantize_f(out, op->fmax);
        op->act_max = hi < qmax ? hi : qmax;
    }
    return TFL_OK;
}

// Output size and leading padding of a window along one axis, as TFLite computes them
// (padding 0 = SAME, extra at the end; 1 = VALID). 0 when the parameters are invalid.
int tfl_window(int in, int filt, int stride, int dil, int padding, int *out, int16_t *pad) {
    if (stride < 1 || dil < 1 || filt < 1) {
        return 0;
    }
    int64_t eff = (int64_t)(filt - 1) * dil + 1;
    int64_t o;
    if (padding == 0) {
        o = ((int64_t)in + stride - 1) / stride;
    } else if (padding == 1) {
        o = ((int64_t)in + stride - eff) / stride;
    } else {
        return 0;
    }
    if (o < 0) {
        o = 0;
    }
    int64_t total = (o - 1) * stride + eff - in;
    if (total < 0) {
        total = 0;
    }
    if (total / 2 > 32767 || eff > 65535) {
        return 0;
    }
    *out = (int)o;
    *pad = (int16_t)(total / 2);
    return 1;
}

tfl_span tfl_taps(int o, int stride, int pad, int dil, int in, int filt) {
    tfl_span s;
    s.i0 = o * stride - pad;
    s.f0 = s.i0 < 0 ? (dil - 1 - s.i0) / dil : 0;
    s.f1 = s.i0 < in ? (in - s.i0 + dil - 1) / dil : 0;
    if (s.f1 > filt) {
        s.f1 = filt;
    }
    if (s.f0 > s.f1) {
        s.f0 = s.f1;
    }
    return s;
}

// Reserves n per-channel multipliers (int32) and shifts (int8) in the arena's persistent
// part; tfl_bind_op fills them once the arena is known.
static void want_pc(tfl_interp *it, tfl_op *op, uint32_t n) {
    op->pc_off = it->persist_bytes;
    op->pc_n = n;
    it->persist_bytes += (n * 5 + 15) & ~15u;
}

// What CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED prepare alike once the shapes are
// checked: the optional bias (input 2: int32 for int8, float otherwise; one per output
// channel), the fused activation, and for int8 the filter's scales (one, or one per output
// channel), the zero points and the per-channel multipliers.
int tfl_prepare_filter(tfl_interp *it, uint32_t k, tfl_op *op, int channels) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    int q = is_q(in);
    if (op->n_in > 2 && op->in[2] >= 0) {
        const tfl_tensor *b = IN(2);
        if (b->type != (q ? TFL_INT32 : TFL_FLOAT32)) {
            return tfl_type_err(it, k, b->type);
        }
        if ((int)flat(b) != channels) {
            return tfl_op_err(it, k, "bias size does not match the output channels");
        }
    }
    int r = tfl_act_range(it, k, op, out);
    if (r || !q) {
        return r;
    }
    if (w->nscales != 1 && (int)w->nscales != channels) {
        return tfl_op_err(it, k, "filter needs one scale or one per output channel");
    }
    op->in_off = -in->zero_point;
    op->w_off = -w->zero_point;
    op->out_off = out->zero_point;
    want_pc(it, op, (uint32_t)channels);
    return TFL_OK;
}

// Per-channel multipliers: real = in_scale * w_scale[c] / out_scale, in double (and the int8
// LSTM's, lstm.c).
void tfl_bind_op(tfl_interp *it, tfl_op *op) {
    if (op->code == TFL_OP_UNIDIRECTIONAL_SEQUENCE_LSTM && is_q(IN(0))) {
        tfl_bind_lstm(it, op);
        return;
    }
    if (!op->pc_n) {
        return;
    }
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    int32_t *m = pc_mult(it, op);
    int8_t *s = pc_shift(it, op);
    for (uint32_t c = 0; c < op->pc_n; c++) {
        float ws = scale_at(it, w, w->nscales > 1 ? c : 0);
        double real = (double)in->scale * (double)ws / (double)out->scale;
        int32_t sh;
        tfl_quantize_multiplier(real, &m[c], &sh);
        s[c] = (int8_t)sh;
    }
}

// Input j as constant int32 data (its element count in *n), or NULL when it is not that.
const int32_t *tfl_const_i32(tfl_interp *it, const tfl_op *op, int j, uint32_t *n) {
    if (op->n_in <= j || op->in[j] < 0) {
        return NULL;
    }
    const tfl_tensor *t = IN(j);
    if (!(t->flags & TFL_T_CONST) || t->type != TFL_INT32) {
        return NULL;
    }
    *n = flat(t);
    return (const int32_t *)(const void *)t->data;
}
