// MEAN over constant axes, int8 and float32, as TFLite Micro's reduce kernel computes it.
#include "ops.h"

TFL_FOR_SIZE

int tfl_prepare_mean(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n;
    const int32_t *p = tfl_const_i32(it, op, 1, &n);
    if (!p) {
        return tfl_op_err(it, k, "axis must be a constant int32 tensor");
    }
    int mask = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t a = get_i32(p, i);
        a = a < 0 ? a + in->ndim : a;
        if (a < 0 || a >= in->ndim) {
            return tfl_op_err(it, k, "axis out of range");
        }
        mask |= 1 << a;
    }
    op->axis = (int16_t)mask;  // the reduced dimensions, as a bit mask
    uint64_t kept = 1, red = 1;
    for (int d = 0; d < in->ndim; d++) {
        if (mask & (1 << d)) {
            red *= (uint32_t)in->dims[d];
        } else {
            kept *= (uint32_t)in->dims[d];
        }
    }
    if (kept != flat(out) || red == 0) {
        return tfl_op_err(it, k, "output shape does not match the reduction");
    }
    if (is_q(in)) {
        // Mean as TFLite Micro does it: the sum times in/out scale divided by the count,
        // folded into one multiplier with as many extra bits as the count allows.
        if (red > 0x7fffffff) {
            return tfl_op_err(it, k, "reduction too large");
        }
        int32_t m, sh;
        tfl_quantize_multiplier((double)in->scale / (double)out->scale, &m, &sh);
        int extra = 31 - clz32((uint32_t)red);
        if (extra > 31 + sh) {
            extra = 31 + sh;
        }
        op->mult = (int32_t)(((int64_t)m << extra) / (int64_t)red);
        op->shift = sh - extra;
        op->in_off = in->zero_point;
        op->out_off = out->zero_point;
    }
    return TFL_OK;
}

void tfl_eval_mean(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int nd = in->ndim, mask = op->axis, q = is_q(in);
    uint32_t stride[TFL_MAX_DIMS], s = 1, nkept = 0, nred = 0, count = 1;
    int kept[TFL_MAX_DIMS], red[TFL_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
        stride[d] = s;
        s *= (uint32_t)in->dims[d];
    }
    for (int d = 0; d < nd; d++) {
        if (mask & (1 << d)) {
            red[nred++] = d;
            count *= (uint32_t)in->dims[d];
        } else {
            kept[nkept++] = d;
        }
    }
    uint32_t nout = flat(out), ko[TFL_MAX_DIMS] = {0};
    for (uint32_t o = 0; o < nout; o++) {
        uint32_t base = 0, ri[TFL_MAX_DIMS] = {0};
        for (uint32_t j = 0; j < nkept; j++) {
            base += ko[j] * stride[kept[j]];
        }
        int32_t isum = 0;
        float fsum = 0.0f;
        for (uint32_t c = 0; c < count; c++) {
            uint32_t off = base;
            for (uint32_t j = 0; j < nred; j++) {
                off += ri[j] * stride[red[j]];
            }
            if (q) {
                isum = add_wrap(isum, ((const int8_t *)in->data)[off]);
            } else {
                fsum += ((const float *)(const void *)in->data)[off];
            }
            for (int j = (int)nred - 1; j >= 0; j--) {
                if (++ri[j] < (uint32_t)in->dims[red[j]]) {
                    break;
                }
                ri[j] = 0;
            }
        }
        if (!q) {
            ((float *)(void *)out->data)[o] = fsum / (float)count;
        } else {
            int32_t v = mbqm(add_wrap(isum, (int32_t)(0u - (uint32_t)op->in_off * count)), op->mult, op->shift);
            ((int8_t *)out->data)[o] = (int8_t)clampi(add_wrap(v, op->out_off), -128, 127);
        }
        for (int j = (int)nkept - 1; j >= 0; j--) {
            if (++ko[j] < (uint32_t)in->dims[kept[j]]) {
                break;
            }
            ko[j] = 0;
        }
    }
}
