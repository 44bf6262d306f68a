// TRANSPOSE_CONV, int8 (per-channel multipliers) and float32, as TFLite Micro's reference
// transpose_conv.h computes it: every input pixel scattered through the filter into the output
// (SAME/VALID padding as a convolution from the output's size back to the input's). float32
// scatters into the output itself so each output sums its terms in the reference order; int8
// gathers per output (integer sums do not depend on the order).
#include "ops.h"

TFL_FOR_SIZE

// The inputs come as (output shape, filter, input[, bias]): prepare puts them in CONV_2D's order
// (input, filter[, bias]) so that the filter preparation and per-channel multipliers apply. The
// output shape tensor is not read: the output tensor's own shape is the one used.
int tfl_prepare_transpose_conv(tfl_interp *it, uint32_t k, tfl_op *op) {
    int32_t shape = op->in[0];
    op->in[0] = op->in[2];
    op->in[2] = op->n_in == 4 ? op->in[3] : shape;
    op->n_in--;
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    if (!(is_q(in) || in->type == TFL_FLOAT32) || w->type != in->type || out->type != in->type) {
        return tfl_type_err(it, k, in->type != w->type ? w->type : out->type);
    }
    if (in->ndim != 4 || w->ndim != 4 || out->ndim != 4 || dim(w, 3) != dim(in, 3) || dim(w, 0) != dim(out, 3) ||
        dim(in, 0) != dim(out, 0)) {
        return tfl_op_err(it, k, "tensor shapes do not match");
    }
    int unused;
    if (!tfl_window(dim(out, 1), dim(w, 1), op->stride_h, 1, op->padding, &unused, &op->pad_h) ||
        !tfl_window(dim(out, 2), dim(w, 2), op->stride_w, 1, op->padding, &unused, &op->pad_w)) {
        return tfl_op_err(it, k, "invalid stride or padding");
    }
    return tfl_prepare_filter(it, k, op, dim(out, 3));
}

static void scatter_f(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const float *x = (const float *)(const void *)in->data, *f = (const float *)(const void *)w->data;
    const float *bias = opt_data(it, op, 2);
    float *y = (float *)(void *)out->data;
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), IC = dim(in, 3), FH = dim(w, 1), FW = dim(w, 2);
    int OH = dim(out, 1), OW = dim(out, 2), OC = dim(out, 3);
    uint32_t n = flat(out);
    for (uint32_t i = 0; i < n; i++) {
        y[i] = 0.0f;
    }
    for (int b = 0; b < B; b++) {
        for (int iy = 0; iy < H; iy++) {
            for (int ix = 0; ix < W; ix++) {
                for (int ic = 0; ic < IC; ic++) {
                    float v = x[(((size_t)b * H + iy) * W + ix) * IC + ic];
                    for (int fy = 0; fy < FH; fy++) {
                        int oy = iy * op->stride_h - op->pad_h + fy;
                        for (int fx = 0; fx < FW; fx++) {
                            int ox = ix * op->stride_w - op->pad_w + fx;
                            if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) {
                                continue;
                            }
                            float *yp = y + (((size_t)b * OH + oy) * OW + ox) * OC;
                            for (int oc = 0; oc < OC; oc++) {
                                yp[oc] += v * f[(((size_t)oc * FH + fy) * FW + fx) * IC + ic];
                            }
                        }
                    }
                }
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        float acc = y[i];
        if (bias) {
            acc += bias[i % OC];
        }
        y[i] = act_f(acc, op->fmin, op->fmax);
    }
}

// The input coordinate that output coordinate o reaches through filter tap t, or -1.
static int source(int o, int t, int stride, int pad, int in) {
    int s = o + pad - t;
    return s >= 0 && s % stride == 0 && s / stride < in ? s / stride : -1;
}

static void gather_q(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
    const int32_t *bias = opt_data(it, op, 2), *m = pc_mult(it, op);
    const int8_t *s = pc_shift(it, op);
    int8_t *y = (int8_t *)out->data;
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), IC = dim(in, 3), FH = dim(w, 1), FW = dim(w, 2);
    int OH = dim(out, 1), OW = dim(out, 2), OC = dim(out, 3);
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            for (int ox = 0; ox < OW; ox++) {
                for (int oc = 0; oc < OC; oc++) {
                    uint32_t acc = bias ? (uint32_t)bias[oc] : 0;
                    for (int fy = 0; fy < FH; fy++) {
                        int iy = source(oy, fy, op->stride_h, op->pad_h, H);
                        for (int fx = 0; fx < FW && iy >= 0; fx++) {
                            int ix = source(ox, fx, op->stride_w, op->pad_w, W);
                            if (ix < 0) {
                                continue;
                            }
                            const int8_t *xp = x + (((size_t)b * H + iy) * W + ix) * IC;
                            const int8_t *fp = f + (((size_t)oc * FH + fy) * FW + fx) * IC;
                            for (int ic = 0; ic < IC; ic++) {
                                acc += (uint32_t)((xp[ic] + op->in_off) * fp[ic]);
                            }
                        }
                    }
                    int32_t v = add_wrap(mbqm((int32_t)acc, m[oc], s[oc]), op->out_off);
                    *y++ = (int8_t)clampi(v, op->act_min, op->act_max);
                }
            }
        }
    }
}

void tfl_eval_transpose_conv(const tfl_interp *it, const tfl_op *op) {
    if (is_q(IN(0))) {
        gather_q(it, op);
    } else {
        scatter_f(it, op);
    }
}
