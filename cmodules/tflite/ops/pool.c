// AVERAGE_POOL_2D and MAX_POOL_2D, int8 and float32, as TFLite Micro's reference pooling.h:
// windows clipped to the input, averages rounded half away from zero.
#include "ops.h"

TFL_FOR_SIZE

int tfl_prepare_pool(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (in->ndim != 4 || out->ndim != 4) {
        return tfl_op_err(it, k, "tensors must be 4-D");
    }
    int oh, ow;
    if (!tfl_window(dim(in, 1), op->fh, op->stride_h, 1, op->padding, &oh, &op->pad_h) ||
        !tfl_window(dim(in, 2), op->fw, op->stride_w, 1, op->padding, &ow, &op->pad_w)) {
        return tfl_op_err(it, k, "invalid filter, stride or padding");
    }
    if (dim(out, 0) != dim(in, 0) || dim(out, 1) != oh || dim(out, 2) != ow || dim(out, 3) != dim(in, 3)) {
        return tfl_op_err(it, k, "output shape does not match the input");
    }
    if (op->code == TFL_OP_AVERAGE_POOL_2D && oh > 0 && ow > 0) {
        // Every window must see at least one input pixel (TFLite fails the invoke otherwise).
        if ((int)op->pad_h >= dim(in, 1) || (int)op->pad_w >= dim(in, 2)) {
            return tfl_op_err(it, k, "pooling window outside the input");
        }
    }
    return tfl_act_range(it, k, op, out);
}

void tfl_eval_pool(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int q = is_q(in), avg = op->code == TFL_OP_AVERAGE_POOL_2D;
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), C = dim(in, 3);
    int OH = dim(out, 1), OW = dim(out, 2);
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            tfl_span ys = tfl_taps(oy, op->stride_h, op->pad_h, 1, H, op->fh);
            for (int ox = 0; ox < OW; ox++) {
                tfl_span xs = tfl_taps(ox, op->stride_w, op->pad_w, 1, W, op->fw);
                size_t oi = (((size_t)b * OH + oy) * OW + ox) * C;
                for (int c = 0; c < C; c++) {
                    int64_t acc = avg ? 0 : -128, count = 0;  // 64-bit: huge windows cannot overflow
                    float ftot = 0.0f, fmax = -3.40282347e38f, fcount = 0.0f;
                    for (int fy = ys.f0; fy < ys.f1; fy++) {
                        for (int fx = xs.f0; fx < xs.f1; fx++) {
                            size_t xi = (((size_t)b * H + ys.i0 + fy) * W + xs.i0 + fx) * C + c;
                            if (q) {
                                int32_t v = ((const int8_t *)in->data)[xi];
                                if (avg) {
                                    acc += v;
                                } else if (v > acc) {
                                    acc = v;
                                }
                            } else {
                                float v = ((const float *)(const void *)in->data)[xi];
                                if (avg) {
                                    ftot += v;
                                } else if (fmax < v) {
                                    fmax = v;
                                }
                                fcount += 1.0f;
                            }
                            count++;
                        }
                    }
                    if (q) {
                        if (avg) {
                            if (count == 0) {
                                count = 1;
                            }
                            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                        }
                        ((int8_t *)out->data)[oi + c] = (int8_t)(acc < op->act_min ? op->act_min : acc > op->act_max ? op->act_max : acc);
                    } else {
                        float v = avg ? ftot / fcount : fmax;
                        ((float *)(void *)out->data)[oi + c] = act_f(v, op->fmin, op->fmax);
                    }
                }
            }
        }
    }
}
