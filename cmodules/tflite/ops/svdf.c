// SVDF (a rank-r factored fully connected layer over time, with its memory in a variable tensor),
// int8 (time weights and state both int8 or both int16) and float32, as TFLite Micro's
// svdf_common.cc computes it. Per invoke: the state shifts one step left, each filter's newest
// column gets the input's feature product, then each unit sums rank filters' products with the
// time weights. int8 applies no fused activation (TFLite Micro does not), float32 does.
#include "ops.h"

TFL_FOR_SIZE

// The tensors: input [batch, n_input], feature weights [filters, n_input], time weights
// [filters, memory], bias [units] (optional), state [batch, memory * filters], output
// [batch, units]. TFLite Micro reads the bias without checking it is there, so it is required.
int tfl_prepare_svdf(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *wf = IN(1), *wt = IN(2), *out = OUT(0);
    if (op->in[4] < 0 || !(IN(4)->flags & TFL_T_VAR)) {
        return tfl_op_err(it, k, "the state (input 4) must be a variable tensor");
    }
    const tfl_tensor *state = IN(4), *bias = op->in[3] >= 0 ? IN(3) : NULL;
    int q = is_q(in);
    int st = q ? wt->type : TFL_FLOAT32;
    if (!(q || in->type == TFL_FLOAT32) || wf->type != in->type || out->type != in->type ||
        !(st == TFL_FLOAT32 || st == TFL_INT8 || st == TFL_INT16) || (q && st == TFL_FLOAT32) ||
        wt->type != st || state->type != st || (bias && bias->type != (q ? TFL_INT32 : TFL_FLOAT32))) {
        return tfl_op_err(it, k, "unsupported tensor types (int8 needs int8 feature weights, time weights and state "
                                 "both int8 or both int16, an int32 bias; float32 all float32)");
    }
    int rank = op->num;
    if (in->ndim != 2 || wf->ndim != 2 || wt->ndim != 2 || out->ndim != 2 || state->ndim != 2 || rank < 1) {
        return tfl_op_err(it, k, "tensor shapes do not match");
    }
    int batch = dim(in, 0), filters = dim(wf, 0), memory = dim(wt, 1);
    if (filters % rank || dim(wf, 1) != dim(in, 1) || dim(wt, 0) != filters || dim(out, 0) != batch ||
        dim(out, 1) != filters / rank || dim(state, 0) != batch || (int64_t)dim(state, 1) != (int64_t)memory * filters ||
        (bias && (int)flat(bias) != filters / rank) || memory < 1 || batch < 1 || filters < 1) {
        return tfl_op_err(it, k, "tensor shapes do not match");
    }
    if (!bias) {
        return tfl_op_err(it, k, "needs the bias (input 3)");  // TFLite Micro reads it unchecked
    }
    if (!q) {
        return tfl_act_range(it, k, op, out);
    }
    float ss = state->scale;
    if (!((double)bias->scale - (double)(ss * wt->scale) < 1e-5 && (double)(ss * wt->scale) - (double)bias->scale < 1e-5)) {
        return tfl_op_err(it, k, "bias scale must be state scale times time weights scale");
    }
    tfl_quantize_multiplier((double)(in->scale * wf->scale / ss), &op->m1, &op->s1);
    tfl_quantize_multiplier((double)(ss * wt->scale / out->scale), &op->m2, &op->s2);
    op->in_off = in->zero_point;
    op->w_off = state->zero_point;
    op->out_off = out->zero_point;
    return TFL_OK;
}

static void svdf_q(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *wf = IN(1), *wt = IN(2), *state = IN(4);
    const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)wf->data;
    const int32_t *bias = (const int32_t *)(const void *)IN(3)->data;
    int8_t *y = (int8_t *)OUT(0)->data;
    int batch = dim(in, 0), n_in = dim(in, 1), filters = dim(wf, 0), memory = dim(wt, 1), rank = op->num;
    int s16 = state->type == TFL_INT16, lo = s16 ? -32768 : -128, hi = s16 ? 32767 : 127;
    int es = s16 ? 2 : 1;
    memmove(state->data, state->data + es, ((size_t)batch * filters * memory - 1) * es);
    for (int b = 0; b < batch; b++) {
        for (int r = 0; r < filters; r++) {
            uint32_t dot = 0;
            for (int c = 0; c < n_in; c++) {
                dot += (uint32_t)(f[(size_t)r * n_in + c] * (x[(size_t)b * n_in + c] - op->in_off));
            }
            // clamped to the state's range, then the zero point added, wrapping when narrowed (the
            // tflite-micro release this is checked against; its repository now adds it first)
            int32_t v = clampi(mbqm((int32_t)dot, op->m1, op->s1), lo, hi) + op->w_off;
            size_t at = ((size_t)b * filters + r) * memory + memory - 1;
            if (s16) {
                ((int16_t *)(void *)state->data)[at] = (int16_t)v;
            } else {
                ((int8_t *)state->data)[at] = (int8_t)v;
            }
        }
    }
    for (int b = 0; b < batch; b++) {
        for (int u = 0; u < filters / rank; u++) {
            uint32_t acc = (uint32_t)bias[u];
            for (int r = u * rank; r < (u + 1) * rank; r++) {
                uint32_t t = 0;
                size_t w0 = (size_t)r * memory, s0 = ((size_t)b * filters + r) * memory;
                if (s16) {  // a loop per type: no per-element type dispatch
                    const int16_t *w = (const int16_t *)(const void *)wt->data + w0;
                    const int16_t *sp = (const int16_t *)(const void *)state->data + s0;
                    for (int j = 0; j < memory; j++) {
                        t += (uint32_t)w[j] * (uint32_t)(sp[j] - op->w_off);
                    }
                } else {
                    const int8_t *w = (const int8_t *)wt->data + w0, *sp = (const int8_t *)state->data + s0;
                    for (int j = 0; j < memory; j++) {
                        t += (uint32_t)w[j] * (uint32_t)(sp[j] - op->w_off);
                    }
                }
                acc += t;
            }
            int32_t v = add_wrap(mbqm((int32_t)acc, op->m2, op->s2), op->out_off);
            y[(size_t)b * (filters / rank) + u] = (int8_t)clampi(v, -128, 127);
        }
    }
}

static void svdf_f(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *wf = IN(1), *wt = IN(2), *state = IN(4);
    const float *x = (const float *)(const void *)in->data, *f = (const float *)(const void *)wf->data;
    const float *w = (const float *)(const void *)wt->data, *bias = (const float *)(const void *)IN(3)->data;
    float *s = (float *)(void *)state->data, *y = (float *)(void *)OUT(0)->data;
    int batch = dim(in, 0), n_in = dim(in, 1), filters = dim(wf, 0), memory = dim(wt, 1), rank = op->num;
    memmove(s, s + 1, ((size_t)batch * filters * memory - 1) * sizeof(float));
    for (int b = 0; b < batch; b++) {
        for (int r = 0; r < filters; r++) {
            float dot = 0.0f;
            for (int c = 0; c < n_in; c++) {
                dot += f[(size_t)r * n_in + c] * x[(size_t)b * n_in + c];
            }
            s[((size_t)b * filters + r) * memory + memory - 1] = dot;
        }
    }
    for (int b = 0; b < batch; b++) {
        for (int u = 0; u < filters / rank; u++) {
            float acc = bias[u];
            for (int r = u * rank; r < (u + 1) * rank; r++) {
                float t = 0.0f;
                const float *sp = s + ((size_t)b * filters + r) * memory;
                for (int j = 0; j < memory; j++) {
                    t += w[(size_t)r * memory + j] * sp[j];
                }
                acc += t;
            }
            y[(size_t)b * (filters / rank) + u] = act_f(acc, op->fmin, op->fmax);
        }
    }
}

void tfl_eval_svdf(const tfl_interp *it, const tfl_op *op) {
    if (is_q(IN(0))) {
        svdf_q(it, op);
    } else {
        svdf_f(it, op);
    }
}
