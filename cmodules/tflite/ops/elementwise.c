// The broadcasting binary operators, as TFLite Micro's reference kernels compute them: ADD, SUB
// and MUL (int8 and float32; int8 ADD and SUB rescale both inputs to a common scale with 20 bits
// of headroom, add.h / sub.h), MAXIMUM and MINIMUM (float32, int8, int16, int32: the raw values
// compared, maximum_minimum.h), PRELU (int8 and float32, up to 4-D, prelu.h).
#include "ops.h"

TFL_FOR_SIZE

// Broadcasting, shapes aligned on the right: each input dim equals the output's or is 1, and
// the output's is the larger of the two (unless one of them is 0).
static int broadcasts(const tfl_tensor *a, const tfl_tensor *b, const tfl_tensor *out) {
    if (a->ndim > out->ndim || b->ndim > out->ndim) {
        return 0;
    }
    for (int d = 0; d < out->ndim; d++) {
        int ad = d - (out->ndim - a->ndim), bd = d - (out->ndim - b->ndim), od = out->dims[d];
        int da = ad >= 0 ? a->dims[ad] : 1, db = bd >= 0 ? b->dims[bd] : 1;
        if ((da != od && da != 1) || (db != od && db != 1) || (od != (da > db ? da : db) && da && db)) {
            return 0;
        }
    }
    return 1;
}

static int minmax_types(tfl_interp *it, uint32_t k, const tfl_tensor *a, const tfl_tensor *b, const tfl_tensor *out) {
    int t = out->type;
    if (!(t == TFL_FLOAT32 || t == TFL_INT8 || t == TFL_INT16 || t == TFL_INT32)) {
        return tfl_type_err(it, k, t);
    }
    if (a->type != t || b->type != t) {
        return tfl_type_err(it, k, a->type != t ? a->type : b->type);
    }
    return TFL_OK;
}

// PRELU: y = x for x >= 0, else x * alpha (alpha broadcast to x).
static int prepare_prelu(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *x = IN(0), *alpha = IN(1), *out = OUT(0);
    if (x->ndim > 4 || alpha->ndim > 4 || out->ndim > 4) {
        return tfl_op_err(it, k, "tensors must have at most 4 dimensions");
    }
    if (!is_q(x)) {
        return TFL_OK;
    }
    if (alpha->nscales != 1) {
        return tfl_op_err(it, k, "int8 alpha must have one scale (per-tensor)");
    }
    double ro = (double)out->scale;
    tfl_quantize_multiplier((double)x->scale / ro, &op->m1, &op->s1);
    tfl_quantize_multiplier((double)x->scale * (double)alpha->scale / ro, &op->m2, &op->s2);
    op->in_off = -x->zero_point;
    op->w_off = -alpha->zero_point;
    op->out_off = out->zero_point;
    return TFL_OK;
}

int tfl_prepare_binary(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
    int q = is_q(a), code = op->code;
    if (code == TFL_OP_MAXIMUM || code == TFL_OP_MINIMUM) {
        int r = minmax_types(it, k, a, b, out);
        if (r) {
            return r;
        }
    }
    if (!broadcasts(a, b, out)) {
        return tfl_op_err(it, k, "input shapes do not broadcast to the output");
    }
    if (code == TFL_OP_MAXIMUM || code == TFL_OP_MINIMUM) {
        return TFL_OK;
    }
    if (code == TFL_OP_PRELU) {
        return prepare_prelu(it, k, op);
    }
    int r = tfl_act_range(it, k, op, out);
    if (r || !q) {
        return r;
    }
    op->in_off = -a->zero_point;
    op->w_off = -b->zero_point;
    op->out_off = out->zero_point;
    if (code == TFL_OP_ADD || code == TFL_OP_SUB) {
        op->left_shift = 20;
        double ra, rb, ro;
        if (code == TFL_OP_ADD) {
            double twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
            ra = (double)a->scale / twice_max;
            rb = (double)b->scale / twice_max;
            ro = twice_max / ((double)(1 << 20) * (double)out->scale);
        } else {
            // TFLite Micro's SUB computes these ratios in float, ADD in double.
            float twice_max = 2.0f * (a->scale > b->scale ? a->scale : b->scale);
            ra = (double)(a->scale / twice_max);
            rb = (double)(b->scale / twice_max);
            ro = (double)(twice_max / ((float)(1 << 20) * out->scale));
        }
        tfl_quantize_multiplier(ra, &op->m1, &op->s1);
        tfl_quantize_multiplier(rb, &op->m2, &op->s2);
        tfl_quantize_multiplier(ro, &op->mult, &op->shift);
        if (op->s1 > 0 || op->s2 > 0 || op->shift > 0) {
            return tfl_op_err(it, k, "scales out of range");
        }
    } else {
        tfl_quantize_multiplier((double)a->scale * (double)b->scale / (double)out->scale, &op->mult, &op->shift);
    }
    return TFL_OK;
}

// Strides of a (right-aligned) input over the output's dims; 0 where it broadcasts.
static void bcast_strides(const tfl_tensor *a, const tfl_tensor *out, uint32_t *st) {
    uint32_t s = 1;
    for (int d = out->ndim - 1; d >= 0; d--) {
        int ad = d - (out->ndim - a->ndim);
        int n = ad >= 0 ? a->dims[ad] : 1;
        st[d] = n == 1 ? 0 : s;
        s *= (uint32_t)n;
    }
}

// One int8 output of ADD, SUB, MUL or PRELU from the raw inputs x and y.
static int8_t binary_q(const tfl_op *op, int32_t x, int32_t y) {
    int32_t v;
    x += op->in_off;
    y += op->w_off;
    switch (op->code) {
        case TFL_OP_MUL:
            v = mbqm(x * y, op->mult, op->shift);
            break;
        case TFL_OP_PRELU:
            v = x >= 0 ? mbqm(x, op->m1, op->s1) : mbqm(x * y, op->m2, op->s2);
            return (int8_t)clampi(add_wrap(v, op->out_off), -128, 127);
        default: {
            int32_t xs = mbqm(wrap_shl(x, op->left_shift), op->m1, op->s1);
            int32_t ys = mbqm(wrap_shl(y, op->left_shift), op->m2, op->s2);
            v = mbqm(op->code == TFL_OP_ADD ? add_wrap(xs, ys) : add_wrap(xs, -ys), op->mult, op->shift);
        }
    }
    return (int8_t)clampi(add_wrap(v, op->out_off), op->act_min, op->act_max);
}

static float binary_f(const tfl_op *op, float x, float y) {
    switch (op->code) {
        case TFL_OP_ADD:
            return act_f(x + y, op->fmin, op->fmax);
        case TFL_OP_SUB:
            return act_f(x - y, op->fmin, op->fmax);
        case TFL_OP_MUL:
            return act_f(x * y, op->fmin, op->fmax);
        case TFL_OP_PRELU:
            return x >= 0.0f ? x : x * y;
        case TFL_OP_MAXIMUM:
            return x > y ? x : y;
        default:
            return x < y ? x : y;
    }
}

// MAXIMUM and MINIMUM on integers of any width (the raw values: no requantization).
static int32_t minmax_i(const tfl_op *op, int32_t x, int32_t y) {
    return op->code == TFL_OP_MAXIMUM ? (x > y ? x : y) : (x < y ? x : y);
}

void tfl_eval_binary(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
    uint32_t sa[TFL_MAX_DIMS], sb[TFL_MAX_DIMS], idx[TFL_MAX_DIMS] = {0};
    bcast_strides(a, out, sa);
    bcast_strides(b, out, sb);
    uint32_t n = flat(out), ia = 0, ib = 0;
    int nd = out->ndim, minmax = op->code == TFL_OP_MAXIMUM || op->code == TFL_OP_MINIMUM;
    for (uint32_t i = 0; i < n; i++) {
        if (out->type == TFL_FLOAT32) {
            float x = ((const float *)(const void *)a->data)[ia], y = ((const float *)(const void *)b->data)[ib];
            ((float *)(void *)out->data)[i] = binary_f(op, x, y);
        } else if (!minmax) {
            ((int8_t *)out->data)[i] = binary_q(op, ((const int8_t *)a->data)[ia], ((const int8_t *)b->data)[ib]);
        } else {
            int32_t v = minmax_i(op, int_at(a, ia), int_at(b, ib));
            if (out->type == TFL_INT8) {
                ((int8_t *)out->data)[i] = (int8_t)v;
            } else if (out->type == TFL_INT16) {
                ((int16_t *)(void *)out->data)[i] = (int16_t)v;
            } else {
                ((int32_t *)(void *)out->data)[i] = v;
            }
        }
        for (int d = nd - 1; d >= 0; d--) {
            ia += sa[d];
            ib += sb[d];
            if (++idx[d] < (uint32_t)out->dims[d]) {
                break;
            }
            ia -= sa[d] * idx[d];
            ib -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}
