// RELU, RELU6, LOGISTIC and TANH, int8 and float32, as TFLite Micro's activations, logistic
// and tanh kernels compute them (int8 logistic/tanh through gemmlowp's fixed-point functions;
// float32 ones through std::exp and std::tanh, whose bits floatmath.c reproduces).
#include <math.h>

#include "../floatmath.h"
#include "ops.h"

TFL_FOR_SIZE

int tfl_prepare_activation(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int q = is_q(in);
    if (flat(in) != flat(out)) {
        return tfl_op_err(it, k, "output size does not match the input");
    }
    if (!q) {
        return TFL_OK;
    }
    switch (op->code) {
        case TFL_OP_RELU: {
            tfl_quantize_multiplier((double)in->scale / (double)out->scale, &op->mult, &op->shift);
            float z = roundf(0.0f / out->scale);
            op->act_min = out->zero_point + (int32_t)z > -128 ? out->zero_point + (int32_t)z : -128;
            op->act_max = 127;
            op->in_off = in->zero_point;
            op->out_off = out->zero_point;
            break;
        }
        case TFL_OP_RELU6: {
            float r = roundf(6.0f / in->scale);
            int32_t six = r > 1e9f ? 1000000000 : r < -1e9f ? -1000000000 : (int32_t)r + in->zero_point;
            six = clampi(six, -128, 127);
            op->act_min = in->zero_point;
            op->act_max = six;
            break;
        }
        case TFL_OP_LOGISTIC:
        case TFL_OP_TANH: {
            if (op->code == TFL_OP_LOGISTIC && out->zero_point != -128) {
                return tfl_op_err(it, k, "int8 output must have zero point -128");
            }
            double real = (double)in->scale * (double)(1 << 27);
            int e;
            double fr = frexp(real, &e);
            if (e > 31 || e < -31) {
                return tfl_op_err(it, k, "input scale out of range");
            }
            op->mult = (int32_t)round(fr * (double)(1LL << 31));
            op->shift = e;
            op->in_off = in->zero_point;
            double radius = 15.0 * (double)(1u << 27) / ldexp(1.0, e);
            op->radius = radius > 2147483647.0 ? INT32_MAX : (int32_t)floor(radius);
            break;
        }
    }
    return TFL_OK;
}

void tfl_eval_activation(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n = flat(in);
    if (is_q(in)) {
        const int8_t *x = (const int8_t *)in->data;
        int8_t *y = (int8_t *)out->data;
        for (uint32_t i = 0; i < n; i++) {
            int32_t v = x[i];
            switch (op->code) {
                case TFL_OP_RELU:
                    v = clampi(add_wrap(op->out_off, mbqm(v - op->in_off, op->mult, op->shift)), op->act_min, op->act_max);
                    break;
                case TFL_OP_RELU6:
                    v = v > op->act_max ? op->act_max : v < op->act_min ? op->act_min : v;
                    break;
                default: {
                    int32_t d = v - op->in_off;
                    if (d <= -op->radius) {
                        v = -128;
                    } else if (d >= op->radius) {
                        v = 127;
                    } else {
                        int32_t xq = mbqm(d, op->mult, op->shift);
                        if (op->code == TFL_OP_LOGISTIC) {
                            v = clampi(rdpot(tfl_logistic_q4(xq), 23) - 128, -128, 127);
                        } else {
                            v = clampi(rdpot(tfl_tanh_q4(xq), 24), -128, 127);
                        }
                    }
                }
            }
            y[i] = (int8_t)v;
        }
        return;
    }
    const float *x = (const float *)(const void *)in->data;
    float *y = (float *)(void *)out->data;
    for (uint32_t i = 0; i < n; i++) {
        float v = x[i];
        switch (op->code) {
            case TFL_OP_RELU:
                v = v < 0.0f ? 0.0f : v;
                break;
            case TFL_OP_RELU6:
                v = v > 6.0f ? 6.0f : v < 0.0f ? 0.0f : v;
                break;
            case TFL_OP_LOGISTIC:
                v = tfl_logisticf(v);
                break;
            default:
                v = tfl_tanhf(v);
        }
        y[i] = v;
    }
}
