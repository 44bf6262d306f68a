// FULLY_CONNECTED, int8 (per-tensor or per-channel filter scales) and float32, as TFLite
// Micro's reference fully_connected.h computes it: one dot product per batch row and output.
#include "ops.h"

TFL_FOR_SIZE

int tfl_prepare_fully_connected(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    if (op->padding != 0) {
        return tfl_op_err(it, k, "unsupported weights format");
    }
    if (w->ndim != 2 || out->ndim < 1) {
        return tfl_op_err(it, k, "filter must be 2-D");
    }
    int depth = dim(out, out->ndim - 1), acc = dim(w, 1);
    if (dim(w, 0) != depth || depth < 1 || acc < 1) {
        return tfl_op_err(it, k, "filter shape does not match the output");
    }
    uint32_t batches = flat(out) / (uint32_t)depth;
    if ((uint64_t)batches * (uint32_t)acc != flat(in)) {
        return tfl_op_err(it, k, "input size does not match the filter");
    }
    return tfl_prepare_filter(it, k, op, depth);
}

TFL_HOT void tfl_eval_fully_connected(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const void *biasp = opt_data(it, op, 2);
    int depth = dim(out, out->ndim - 1), D = dim(w, 1);
    uint32_t batches = flat(out) / (uint32_t)depth;
    if (is_q(in)) {
        const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
        const int32_t *m = pc_mult(it, op);
        const int8_t *s = pc_shift(it, op);
        for (uint32_t b = 0; b < batches; b++) {
            for (int o = 0; o < depth; o++) {
                const int8_t *xp = x + (size_t)b * D, *fp = f + (size_t)o * D;
                uint32_t acc = 0;
                for (int d = 0; d < D; d++) {
                    acc += (uint32_t)((fp[d] + op->w_off) * (xp[d] + op->in_off));
                }
                if (biasp) {
                    acc += (uint32_t)((const int32_t *)biasp)[o];
                }
                int32_t v = add_wrap(mbqm((int32_t)acc, m[o], s[o]), op->out_off);
                ((int8_t *)out->data)[(size_t)b * depth + o] = (int8_t)clampi(v, op->act_min, op->act_max);
            }
        }
    } else {
        const float *x = (const float *)(const void *)in->data, *f = (const float *)(const void *)w->data;
        for (uint32_t b = 0; b < batches; b++) {
            for (int o = 0; o < depth; o++) {
                float total = 0.0f;
                for (int d = 0; d < D; d++) {
                    total += x[(size_t)b * D + d] * f[(size_t)o * D + d];
                }
                float bv = biasp ? ((const float *)biasp)[o] : 0.0f;
                ((float *)(void *)out->data)[(size_t)b * depth + o] = act_f(total + bv, op->fmin, op->fmax);
            }
        }
    }
}
