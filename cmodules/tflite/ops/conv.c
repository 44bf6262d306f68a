// CONV_2D and DEPTHWISE_CONV_2D, int8 (per-channel multipliers) and float32, as TFLite Micro's
// reference conv.h / depthwise_conv.h and their integer_ops variants compute them. The loop
// nests share one geometry (conv_geom + tfl_taps): the same output pixels, the same in-image
// taps, in the reference order. A depthwise convolution is a grouped one (one input channel
// per group, depth_mult outputs each) with its filter laid out differently, so float32 runs
// both through one kernel; int8 depthwise has its own, channel-blocked, but for a multiplier
// larger than its block.
#include "ops.h"

// The shapes a convolution runs over (NHWC input and output; filter OHWI for CONV_2D, 1HWO
// for DEPTHWISE_CONV_2D), the input channels one output reads (FIC, from channel
// (oc / ocpg) * FIC on), and the filter's strides per output channel and per tap.
typedef struct {
    int B, H, W, IC, FH, FW, FIC, OH, OW, OC, ocpg;
    size_t f_oc, f_tap;
} conv_geom;

static conv_geom geom_of(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    conv_geom g = {
        dim(in, 0), dim(in, 1), dim(in, 2), dim(in, 3), dim(w, 1), dim(w, 2), dim(w, 3),
        dim(out, 1), dim(out, 2), dim(out, 3), 0, 0, 0,
    };
    if (op->code == TFL_OP_DEPTHWISE_CONV_2D) {
        g.FIC = 1;
        g.ocpg = op->depth_mult;
        g.f_oc = 1;
        g.f_tap = (size_t)g.OC;
    } else {
        g.ocpg = g.OC / (g.IC / g.FIC);
        g.f_tap = (size_t)g.FIC;
        g.f_oc = (size_t)g.FH * g.FW * g.FIC;
    }
    return g;
}

static inline tfl_span rows(const tfl_op *op, const conv_geom *g, int oy) {
    return tfl_taps(oy, op->stride_h, op->pad_h, op->dil_h, g->H, g->FH);
}

static inline tfl_span cols(const tfl_op *op, const conv_geom *g, int ox) {
    return tfl_taps(ox, op->stride_w, op->pad_w, op->dil_w, g->W, g->FW);
}

static void conv_f(const tfl_interp *it, const tfl_op *op);

static void conv_q(const tfl_interp *it, const tfl_op *op) {
    const conv_geom g = geom_of(it, op);
    const int8_t *x = (const int8_t *)IN(0)->data, *f = (const int8_t *)IN(1)->data;
    const int32_t *bias = opt_data(it, op, 2);
    int8_t *y = (int8_t *)OUT(0)->data;
    const int32_t *m = pc_mult(it, op);
    const int8_t *s = pc_shift(it, op);
    int32_t in_off = op->in_off;
    // Ungrouped, no dilation across, a CONV_2D filter: a filter row's taps read consecutive input
    // pixels, all their channels, so the tap and channel loops are one (integer sums: the same
    // bits in any order). A depthwise filter (here when its multiplier exceeds depthwise_q's
    // block) strides its taps by OC.
    int run = op->dil_w == 1 && g.FIC == g.IC && g.f_tap == (size_t)g.FIC;
    for (int b = 0; b < g.B; b++) {
        for (int oy = 0; oy < g.OH; oy++) {
            tfl_span ys = rows(op, &g, oy);
            for (int ox = 0; ox < g.OW; ox++) {
                tfl_span xs = cols(op, &g, ox);
                for (int oc = 0; oc < g.OC; oc++) {
                    int ic0 = (oc / g.ocpg) * g.FIC;
                    uint32_t acc = 0;
                    for (int fy = ys.f0; fy < ys.f1; fy++) {
                        int iy = ys.i0 + op->dil_h * fy;
                        if (run) {  // the row's taps and channels are one run in input and filter
                            const int8_t *xp = x + (((size_t)b * g.H + iy) * g.W + xs.i0 + xs.f0) * g.IC;
                            const int8_t *fp = f + oc * g.f_oc + ((size_t)fy * g.FW + xs.f0) * g.f_tap;
                            for (int k = 0, n = (xs.f1 - xs.f0) * g.IC; k < n; k++) {
                                acc += (uint32_t)(fp[k] * (xp[k] + in_off));
                            }
                            continue;
                        }
                        for (int fx = xs.f0; fx < xs.f1; fx++) {
                            int ix = xs.i0 + op->dil_w * fx;
                            const int8_t *xp = x + (((size_t)b * g.H + iy) * g.W + ix) * g.IC + ic0;
                            const int8_t *fp = f + oc * g.f_oc + ((size_t)fy * g.FW + fx) * g.f_tap;
                            uint32_t sum = 0;
                            for (int c = 0; c < g.FIC; c++) {
                                sum += (uint32_t)(fp[c] * (xp[c] + in_off));
                            }
                            acc += sum;
                        }
                    }
                    if (bias) {
                        acc += (uint32_t)bias[oc];
                    }
                    int32_t v = add_wrap(mbqm((int32_t)acc, m[oc], s[oc]), op->out_off);
                    y[(((size_t)b * g.OH + oy) * g.OW + ox) * g.OC + oc] = (int8_t)clampi(v, op->act_min, op->act_max);
                }
            }
        }
    }
}

// 1x1, stride 1, ungrouped int8 convolution (the pointwise layers of MobileNets): a dot
// product per pixel and channel; the input offset is folded in through the filter sums.
#define PW_MAX_OC 256
static inline int8_t pw_out(const tfl_op *op, uint32_t acc, int32_t m, int s) {
    return (int8_t)clampi(add_wrap(mbqm_inline((int32_t)acc, m, s), op->out_off), op->act_min, op->act_max);
}

// A pixel's dot products with four filters: each input byte loaded serves four products.
TFL_VECTORIZE static void pw_dot4(const int8_t *xp, const int8_t *const fp[4], int IC, uint32_t a[4]) {
    const int8_t *f0 = fp[0], *f1 = fp[1], *f2 = fp[2], *f3 = fp[3];
    uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int c = 0; c < IC; c++) {
        int32_t u = xp[c];
        a0 += (uint32_t)(f0[c] * u);
        a1 += (uint32_t)(f1[c] * u);
        a2 += (uint32_t)(f2[c] * u);
        a3 += (uint32_t)(f3[c] * u);
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

TFL_HOT static int conv_1x1_q(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    int IC = dim(in, 3), OC = dim(out, 3);
    if (dim(w, 1) != 1 || dim(w, 2) != 1 || dim(w, 3) != IC || op->stride_w != 1 || op->stride_h != 1 ||
        op->pad_w || op->pad_h || OC > PW_MAX_OC) {
        return 0;
    }
    const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
    const int32_t *bias = opt_data(it, op, 2);
    int8_t *y = (int8_t *)out->data;
    const int32_t *m = pc_mult(it, op);
    const int8_t *s = pc_shift(it, op);
    uint32_t fold[PW_MAX_OC];
    for (int oc = 0; oc < OC; oc++) {
        uint32_t sum = 0;
        for (int c = 0; c < IC; c++) {
            sum += (uint32_t)f[(size_t)oc * IC + c];
        }
        fold[oc] = sum * (uint32_t)op->in_off + (bias ? (uint32_t)bias[oc] : 0);
    }
    size_t pixels = (size_t)dim(out, 0) * dim(out, 1) * dim(out, 2);
    for (size_t p = 0; p < pixels; p++) {
        const int8_t *xp = x + p * IC;
        int8_t *yp = y + p * OC;
        // four channels at a time; a last block of fewer repeats a filter and keeps what exists
        for (int oc = 0; oc < OC; oc += 4) {
            int n = OC - oc < 4 ? OC - oc : 4;
            const int8_t *fp[4];
            uint32_t a[4];
            for (int j = 0; j < 4; j++) {
                fp[j] = f + (size_t)(oc + (j < n ? j : 0)) * IC;
            }
            pw_dot4(xp, fp, IC, a);
            for (int j = 0; j < n; j++) {
                yp[oc + j] = pw_out(op, a[j] + fold[oc + j], m[oc + j], s[oc + j]);
            }
        }
    }
    return 1;
}

// int8 depthwise: all channels of a pixel at once, tap by tap, in blocks of DW_BLOCK.
#define DW_BLOCK 64
TFL_HOT static void depthwise_q(const tfl_interp *it, const tfl_op *op) {
    const conv_geom g = geom_of(it, op);
    const int8_t *x = (const int8_t *)IN(0)->data, *f = (const int8_t *)IN(1)->data;
    const int32_t *bias = opt_data(it, op, 2);
    int8_t *y = (int8_t *)OUT(0)->data;
    const int32_t *m = pc_mult(it, op);
    const int8_t *s = pc_shift(it, op);
    int DM = op->depth_mult;
    int32_t in_off = op->in_off;
    uint32_t acc[DW_BLOCK];
    // A block is whole groups of DM outputs (OC = IC * DM, so every block starts at a group); a
    // multiplier larger than a block runs through conv_q.
    int block = DW_BLOCK - DW_BLOCK % DM;
    for (int b = 0; b < g.B; b++) {
        for (int oy = 0; oy < g.OH; oy++) {
            tfl_span ys = rows(op, &g, oy);
            for (int ox = 0; ox < g.OW; ox++) {
                tfl_span xs = cols(op, &g, ox);
                int8_t *yp = y + (((size_t)b * g.OH + oy) * g.OW + ox) * g.OC;
                for (int c0 = 0; c0 < g.OC; c0 += block) {
                    int cn = g.OC - c0 < block ? g.OC - c0 : block;
                    for (int j = 0; j < cn; j++) {
                        acc[j] = 0;
                    }
                    for (int fy = ys.f0; fy < ys.f1; fy++) {
                        int iy = ys.i0 + op->dil_h * fy;
                        for (int fx = xs.f0; fx < xs.f1; fx++) {
                            int ix = xs.i0 + op->dil_w * fx;
                            const int8_t *xp = x + (((size_t)b * g.H + iy) * g.W + ix) * g.IC;
                            const int8_t *fp = f + ((size_t)fy * g.FW + fx) * g.OC + c0;
                            if (DM == 1) {
                                xp += c0;
                                for (int j = 0; j < cn; j++) {
                                    acc[j] += (uint32_t)(fp[j] * (xp[j] + in_off));
                                }
                            } else {
                                // blocks hold whole groups: DM outputs per input channel
                                const int8_t *xq = xp + c0 / DM;
                                for (int j = 0; j < cn; j += DM) {
                                    int32_t xv = *xq++ + in_off;
                                    for (int k = j; k < j + DM; k++) {
                                        acc[k] += (uint32_t)(fp[k] * xv);
                                    }
                                }
                            }
                        }
                    }
                    for (int j = 0; j < cn; j++) {
                        int oc = c0 + j;
                        uint32_t a = acc[j] + (bias ? (uint32_t)bias[oc] : 0);
                        int32_t v = add_wrap(mbqm_inline((int32_t)a, m[oc], s[oc]), op->out_off);
                        yp[oc] = (int8_t)clampi(v, op->act_min, op->act_max);
                    }
                }
            }
        }
    }
}

TFL_HOT void tfl_eval_conv(const tfl_interp *it, const tfl_op *op) {
    if (!is_q(IN(0))) {
        conv_f(it, op);
    } else if (op->code == TFL_OP_DEPTHWISE_CONV_2D && op->depth_mult <= DW_BLOCK) {
        depthwise_q(it, op);
    } else if (!conv_1x1_q(it, op)) {
        conv_q(it, op);
    }
}

// The checks at load and the float32 kernel (no vision model of ours runs it) are compiled for
// size: the int8 kernels above keep the speed.
TFL_FOR_SIZE

// CONV_2D and DEPTHWISE_CONV_2D alike, but for the filter's shape.
int tfl_prepare_conv(tfl_interp *it, uint32_t k, tfl_op *op) {
    int depthwise = op->code == TFL_OP_DEPTHWISE_CONV_2D;
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    if (in->ndim != 4 || w->ndim != 4 || out->ndim != 4) {
        return tfl_op_err(it, k, "tensors must be 4-D");
    }
    int oc = dim(out, 3), ic = dim(in, 3), oh, ow;
    if (depthwise) {
        if (dim(w, 0) != 1 || dim(w, 3) != oc || op->depth_mult < 1 || oc != ic * op->depth_mult) {
            return tfl_op_err(it, k, "filter shape does not match the channels");
        }
    } else {
        int fic = dim(w, 3);
        if (dim(w, 0) != oc || fic < 1 || ic < 1 || oc < 1 || ic % fic != 0 || oc % (ic / fic) != 0) {
            return tfl_op_err(it, k, "filter shape does not match the channels");
        }
    }
    if (!tfl_window(dim(in, 1), dim(w, 1), op->stride_h, op->dil_h, op->padding, &oh, &op->pad_h) ||
        !tfl_window(dim(in, 2), dim(w, 2), op->stride_w, op->dil_w, op->padding, &ow, &op->pad_w)) {
        return tfl_op_err(it, k, "invalid stride, dilation or padding");
    }
    if (dim(out, 0) != dim(in, 0) || dim(out, 1) != oh || dim(out, 2) != ow) {
        return tfl_op_err(it, k, "output shape does not match the input");
    }
    return tfl_prepare_filter(it, k, op, oc);
}

// float32 CONV_2D and DEPTHWISE_CONV_2D: each output sums its taps and channels in the
// reference order (float adds do not reorder).
static void conv_f(const tfl_interp *it, const tfl_op *op) {
    const conv_geom g = geom_of(it, op);
    const float *x = (const float *)(const void *)IN(0)->data, *f = (const float *)(const void *)IN(1)->data;
    const float *bias = opt_data(it, op, 2);
    float *y = (float *)(void *)OUT(0)->data;
    for (int b = 0; b < g.B; b++) {
        for (int oy = 0; oy < g.OH; oy++) {
            tfl_span ys = rows(op, &g, oy);
            for (int ox = 0; ox < g.OW; ox++) {
                tfl_span xs = cols(op, &g, ox);
                float *yp = y + (((size_t)b * g.OH + oy) * g.OW + ox) * g.OC;
                for (int oc = 0; oc < g.OC; oc++) {
                    int ic0 = (oc / g.ocpg) * g.FIC;
                    float total = 0.0f;
                    for (int fy = ys.f0; fy < ys.f1; fy++) {
                        int iy = ys.i0 + op->dil_h * fy;
                        for (int fx = xs.f0; fx < xs.f1; fx++) {
                            int ix = xs.i0 + op->dil_w * fx;
                            const float *xp = x + (((size_t)b * g.H + iy) * g.W + ix) * g.IC + ic0;
                            const float *fp = f + oc * g.f_oc + ((size_t)fy * g.FW + fx) * g.f_tap;
                            for (int c = 0; c < g.FIC; c++) {
                                total += xp[c] * fp[c];
                            }
                        }
                    }
                    yp[oc] = act_f(total + (bias ? bias[oc] : 0.0f), op->fmin, op->fmax);
                }
            }
        }
    }
}
