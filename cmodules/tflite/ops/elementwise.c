// ADD and MUL with broadcasting, int8 and float32, as TFLite Micro's reference add.h / mul.h
// (int8 ADD: both inputs rescaled to a common scale with 20 bits of headroom, then summed).
#include "ops.h"

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

int tfl_prepare_binary(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
    int q = is_q(a);
    if (!broadcasts(a, b, out)) {
        return tfl_op_err(it, k, "input shapes do not broadcast to the output");
    }
    int r = tfl_act_range(it, k, op, out);
    if (r || !q) {
        return r;
    }
    op->in_off = -a->zero_point;
    op->w_off = -b->zero_point;
    op->out_off = out->zero_point;
    if (op->code == TFL_OP_ADD) {
        op->left_shift = 20;
        double twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
        double ra = (double)a->scale / twice_max, rb = (double)b->scale / twice_max;
        double ro = twice_max / ((double)(1 << 20) * (double)out->scale);
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

void tfl_eval_binary(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
    uint32_t sa[TFL_MAX_DIMS], sb[TFL_MAX_DIMS], idx[TFL_MAX_DIMS] = {0};
    bcast_strides(a, out, sa);
    bcast_strides(b, out, sb);
    uint32_t n = flat(out), ia = 0, ib = 0;
    int nd = out->ndim, q = is_q(a), add = op->code == TFL_OP_ADD;
    for (uint32_t i = 0; i < n; i++) {
        if (q) {
            int32_t x = ((const int8_t *)a->data)[ia] + op->in_off, y = ((const int8_t *)b->data)[ib] + op->w_off, v;
            if (add) {
                int32_t xs = mbqm(wrap_shl(x, op->left_shift), op->m1, op->s1);
                int32_t ys = mbqm(wrap_shl(y, op->left_shift), op->m2, op->s2);
                v = add_wrap(mbqm(add_wrap(xs, ys), op->mult, op->shift), op->out_off);
            } else {
                v = add_wrap(op->out_off, mbqm(x * y, op->mult, op->shift));
            }
            ((int8_t *)out->data)[i] = (int8_t)clampi(v, op->act_min, op->act_max);
        } else {
            float x = ((const float *)(const void *)a->data)[ia], y = ((const float *)(const void *)b->data)[ib];
            ((float *)(void *)out->data)[i] = act_f(add ? x + y : x * y, op->fmin, op->fmax);
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
