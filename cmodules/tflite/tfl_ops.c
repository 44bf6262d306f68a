// Operators: load-time checks and parameters (prepare) and kernels (eval), following the
// arithmetic of TFLite Micro's reference kernels bit for bit (gemmlowp double rounding).
#include <math.h>
#include <string.h>

#include "tfl.h"
#include "tfl_opnames.h"

enum {
    OP_ADD = 0, OP_AVERAGE_POOL_2D = 1, OP_CONCATENATION = 2, OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4, OP_DEQUANTIZE = 6, OP_FULLY_CONNECTED = 9, OP_LOGISTIC = 14,
    OP_MAX_POOL_2D = 17, OP_MUL = 18, OP_RELU = 19, OP_RELU6 = 21, OP_RESHAPE = 22,
    OP_SOFTMAX = 25, OP_TANH = 28, OP_PAD = 34, OP_MEAN = 40, OP_QUANTIZE = 114,
};

const char *tfl_op_name(int code) {
    const char *p = tfl_opnames;
    if (code < 0 || code >= TFL_N_OPNAMES) {
        return "UNKNOWN";
    }
    while (code--) {
        p += strlen(p) + 1;
    }
    return p;
}

// ---- fixed-point arithmetic (gemmlowp / TFLite quantization_util semantics) ----

static int32_t srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static int32_t rdpot(int32_t x, int e) {
    if (e <= 0) {
        return x;
    }
    if (e > 31) {
        e = 31;
    }
    int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

static int32_t wrap_shl(int32_t x, int e) {
    return (int32_t)((uint32_t)x << e);
}

static int32_t mbqm(int32_t x, int32_t m, int shift) {
    int ls = shift > 0 ? shift : 0, rs = shift > 0 ? 0 : -shift;
    return rdpot(srdhm(wrap_shl(x, ls), m), rs);
}

// SaturatingRoundingMultiplyByPOT with a positive exponent.
static int32_t sat_shl(int32_t x, int e) {
    int32_t thr = (int32_t)((1u << (31 - e)) - 1);
    if (x > thr) {
        return INT32_MAX;
    }
    if (x < -thr) {
        return INT32_MIN;
    }
    return wrap_shl(x, e);
}

static void quantize_multiplier(double m, int32_t *q, int32_t *shift) {
    if (m == 0.0 || !(fabs(m) < 1e30)) {
        *q = 0;
        *shift = 0;
        return;
    }
    int e;
    double fr = frexp(m, &e);
    int64_t qf = (int64_t)round(fr * (double)(1LL << 31));
    if (qf == (1LL << 31)) {
        qf /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        qf = 0;
    }
    if (e > 30) {
        e = 30;
        qf = (1LL << 31) - 1;
    }
    *q = (int32_t)qf;
    *shift = e;
}

static int32_t add_wrap(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

// exp(x) for x in [-1/4, 0), Q0.31 in and out.
static int32_t exp_quarter(int32_t a) {
    int32_t x = add_wrap(a, 1 << 28);
    int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
    int32_t x4_4 = rdpot(x4, 2);
    int32_t poly = rdpot(add_wrap(srdhm(add_wrap(x4_4, x3), 715827883), x2), 1);
    return add_wrap(1895147668, srdhm(1895147668, add_wrap(x, poly)));
}

// exp(a) for a <= 0 with ibits integer bits; result Q0.31.
static int32_t exp_neg(int32_t a, int ibits) {
    static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    int fbits = 31 - ibits;
    int32_t quarter = (int32_t)1 << (fbits - 2);
    int32_t amq = (int32_t)((uint32_t)(a & (quarter - 1)) - (uint32_t)quarter);
    int32_t result = exp_quarter(sat_shl(amq, ibits));
    int32_t rem = (int32_t)((uint32_t)amq - (uint32_t)a);
    for (int e = -2; e <= 4; e++) {
        if (ibits > e && (rem & ((int32_t)1 << (fbits + e)))) {
            result = srdhm(result, mult[e + 2]);
        }
    }
    if (ibits > 5 && a < -((int32_t)1 << (36 - ibits))) {
        result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

static int32_t half_sum(int32_t a, int32_t b) {
    int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

// Newton-Raphson 1/(1+a)*2 for a in [0,1), Q2.29 result.
static int32_t recip_f2(int32_t a) {
    int32_t hd = half_sum(a, INT32_MAX);
    int32_t x = add_wrap(1515870810, srdhm(hd, -1010580540));
    for (int i = 0; i < 3; i++) {
        int32_t one_minus = (int32_t)((uint32_t)(1 << 29) - (uint32_t)srdhm(hd, x));
        x = add_wrap(x, sat_shl(srdhm(x, one_minus), 2));
    }
    return x;
}

static int32_t one_over_one_plus_x(int32_t a) {
    return sat_shl(recip_f2(a), 1);
}

static int32_t one_minus_x_over_one_plus_x(int32_t a) {
    return sat_shl((int32_t)((uint32_t)recip_f2(a) - (1u << 29)), 2);
}

static int32_t fp_logistic(int32_t a, int ibits) {
    if (a == 0) {
        return 1 << 30;
    }
    int32_t absa = a > 0 ? a : (int32_t)(0u - (uint32_t)a);
    int32_t pos = one_over_one_plus_x(exp_neg((int32_t)(0u - (uint32_t)absa), ibits));
    return a > 0 ? pos : (int32_t)((uint32_t)INT32_MAX - (uint32_t)pos);
}

static int32_t fp_tanh(int32_t a, int ibits) {
    if (a == 0) {
        return 0;
    }
    int32_t n = a < 0 ? a : (int32_t)(0u - (uint32_t)a);
    int32_t t = one_minus_x_over_one_plus_x(exp_neg(n, ibits + 1));
    return a < 0 ? (int32_t)(0u - (uint32_t)t) : t;
}

static int clz32(uint32_t x) {
    int n = 0;
    if (!x) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

// ---- helpers ----

#define IN(i) (&it->t[op->in[i]])
#define OUT(i) (&it->t[op->out[i]])

static uint32_t flat(const tfl_tensor *t) {
    uint32_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        n *= (uint32_t)t->dims[d];
    }
    return n;
}

static int dim(const tfl_tensor *t, int d) {
    return t->dims[d];
}

static int op_err(tfl_interp *it, uint32_t k, const char *what) {
    const tfl_op *op = &it->ops[k];
    return tfl_fail(it, "operator %s (index %lu): %s", tfl_op_name(op->code), (unsigned long)k, what);
}

static int type_err(tfl_interp *it, uint32_t k, int type) {
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

// Fused activation bounds: quantized for int8/int16 outputs, float otherwise.
static const tfl_tensor float_out = {.scale = 1.0f};

static int act_range(tfl_interp *it, uint32_t k, tfl_op *op, const tfl_tensor *out) {
    int32_t qmin = out->type == TFL_INT16 ? -32768 : -128, qmax = out->type == TFL_INT16 ? 32767 : 127;
    op->fmin = -3.40282347e38f;
    op->fmax = 3.40282347e38f;
    op->act_min = qmin;
    op->act_max = qmax;
    if (out->type != TFL_INT8 && out->type != TFL_INT16) {
        out = &float_out;
    }
    switch (op->act) {
        case 0:
            break;
        case 1:  // RELU
            op->fmin = 0.0f;
            if (quantize_f(out, 0.0f) > qmin) {
                op->act_min = quantize_f(out, 0.0f);
            }
            break;
        case 2:  // RELU_N1_TO_1
            op->fmin = -1.0f;
            op->fmax = 1.0f;
            if (quantize_f(out, -1.0f) > qmin) {
                op->act_min = quantize_f(out, -1.0f);
            }
            if (quantize_f(out, 1.0f) < qmax) {
                op->act_max = quantize_f(out, 1.0f);
            }
            break;
        case 3:  // RELU6
            op->fmin = 0.0f;
            op->fmax = 6.0f;
            if (quantize_f(out, 0.0f) > qmin) {
                op->act_min = quantize_f(out, 0.0f);
            }
            if (quantize_f(out, 6.0f) < qmax) {
                op->act_max = quantize_f(out, 6.0f);
            }
            break;
        default:
            return op_err(it, k, "unsupported fused activation");
    }
    return TFL_OK;
}

static float act_f(float x, float lo, float hi) {
    float y = x < lo ? lo : x;
    return hi < y ? hi : y;
}

static int32_t clampi(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

static int same_shape(const tfl_tensor *a, const tfl_tensor *b) {
    if (a->ndim != b->ndim) {
        return 0;
    }
    for (int d = 0; d < a->ndim; d++) {
        if (a->dims[d] != b->dims[d]) {
            return 0;
        }
    }
    return 1;
}

static int is_q(const tfl_tensor *t) {
    return t->type == TFL_INT8;
}

// Per-channel multipliers: real = in_scale * w_scale[c] / out_scale, in double.
static void want_pc(tfl_interp *it, tfl_op *op, uint32_t n) {
    op->pc_off = it->persist_bytes;
    op->pc_n = n;
    it->persist_bytes += (n * 5 + 15) & ~15u;
}

static int32_t *pc_mult(const tfl_interp *it, const tfl_op *op) {
    return (int32_t *)(void *)(it->arena + it->plan_bytes + op->pc_off);
}

static int8_t *pc_shift(const tfl_interp *it, const tfl_op *op) {
    return (int8_t *)(it->arena + it->plan_bytes + op->pc_off + 4 * op->pc_n);
}

void tfl_bind_op(tfl_interp *it, tfl_op *op) {
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
        quantize_multiplier(real, &m[c], &sh);
        s[c] = (int8_t)sh;
    }
}

// Output size and leading padding as TFLite computes them (SAME: extra at the end).
static int conv_geometry(int in, int filt, int stride, int dil, int padding, int *out, int16_t *pad) {
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

static int check_bias(tfl_interp *it, uint32_t k, const tfl_op *op, int idx, int n, int qtype) {
    if (op->n_in <= idx || op->in[idx] < 0) {
        return TFL_OK;
    }
    const tfl_tensor *b = IN(idx);
    if (b->type != (qtype ? TFL_INT32 : TFL_FLOAT32)) {
        return type_err(it, k, b->type);
    }
    if ((int)flat(b) != n) {
        return op_err(it, k, "bias size does not match the output channels");
    }
    return TFL_OK;
}

static int prep_conv(tfl_interp *it, uint32_t k, tfl_op *op, int depthwise) {
    if (op->n_in < 2 || op->n_in > 3 || op->n_out != 1 || op->in[0] < 0 || op->in[1] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    int q = is_q(in);
    if (!(q || in->type == TFL_FLOAT32)) {
        return type_err(it, k, in->type);
    }
    if (w->type != in->type || out->type != in->type) {
        return type_err(it, k, w->type != in->type ? w->type : out->type);
    }
    if (in->ndim != 4 || w->ndim != 4 || out->ndim != 4) {
        return op_err(it, k, "tensors must be 4-D");
    }
    int oc = dim(out, 3), ic = dim(in, 3), oh, ow;
    if (depthwise) {
        if (dim(w, 0) != 1 || dim(w, 3) != oc || op->depth_mult < 1 || oc != ic * op->depth_mult) {
            return op_err(it, k, "filter shape does not match the channels");
        }
    } else {
        int fic = dim(w, 3);
        if (dim(w, 0) != oc || fic < 1 || ic < 1 || oc < 1 || ic % fic != 0 || oc % (ic / fic) != 0) {
            return op_err(it, k, "filter shape does not match the channels");
        }
    }
    if (!conv_geometry(dim(in, 1), dim(w, 1), op->stride_h, op->dil_h, op->padding, &oh, &op->pad_h) ||
        !conv_geometry(dim(in, 2), dim(w, 2), op->stride_w, op->dil_w, op->padding, &ow, &op->pad_w)) {
        return op_err(it, k, "invalid stride, dilation or padding");
    }
    if (dim(out, 0) != dim(in, 0) || dim(out, 1) != oh || dim(out, 2) != ow) {
        return op_err(it, k, "output shape does not match the input");
    }
    int r = check_bias(it, k, op, 2, oc, q);
    if (r || (r = act_range(it, k, op, out))) {
        return r;
    }
    if (q) {
        if (w->nscales != 1 && (int)w->nscales != oc) {
            return op_err(it, k, "filter needs one scale or one per output channel");
        }
        op->in_off = -in->zero_point;
        op->out_off = out->zero_point;
        want_pc(it, op, (uint32_t)oc);
    }
    return TFL_OK;
}

static int prep_fc(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in < 2 || op->n_in > 3 || op->n_out != 1 || op->in[0] < 0 || op->in[1] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    int q = is_q(in);
    if (!(q || in->type == TFL_FLOAT32)) {
        return type_err(it, k, in->type);
    }
    if (w->type != in->type || out->type != in->type) {
        return type_err(it, k, w->type != in->type ? w->type : out->type);
    }
    if (op->padding != 0) {
        return op_err(it, k, "unsupported weights format");
    }
    if (w->ndim != 2 || out->ndim < 1) {
        return op_err(it, k, "filter must be 2-D");
    }
    int depth = dim(out, out->ndim - 1), acc = dim(w, 1);
    if (dim(w, 0) != depth || depth < 1 || acc < 1) {
        return op_err(it, k, "filter shape does not match the output");
    }
    uint32_t batches = flat(out) / (uint32_t)depth;
    if ((uint64_t)batches * (uint32_t)acc != flat(in)) {
        return op_err(it, k, "input size does not match the filter");
    }
    int r = check_bias(it, k, op, 2, depth, q);
    if (r || (r = act_range(it, k, op, out))) {
        return r;
    }
    if (q) {
        if (w->nscales != 1 && (int)w->nscales != depth) {
            return op_err(it, k, "filter needs one scale or one per output channel");
        }
        op->in_off = -in->zero_point;
        op->w_off = -w->zero_point;
        op->out_off = out->zero_point;
        want_pc(it, op, (uint32_t)depth);
    }
    return TFL_OK;
}

static int prep_pool(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 1 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (!(is_q(in) || in->type == TFL_FLOAT32)) {
        return type_err(it, k, in->type);
    }
    if (out->type != in->type) {
        return type_err(it, k, out->type);
    }
    if (in->ndim != 4 || out->ndim != 4) {
        return op_err(it, k, "tensors must be 4-D");
    }
    int oh, ow;
    if (!conv_geometry(dim(in, 1), op->fh, op->stride_h, 1, op->padding, &oh, &op->pad_h) ||
        !conv_geometry(dim(in, 2), op->fw, op->stride_w, 1, op->padding, &ow, &op->pad_w)) {
        return op_err(it, k, "invalid filter, stride or padding");
    }
    if (dim(out, 0) != dim(in, 0) || dim(out, 1) != oh || dim(out, 2) != ow || dim(out, 3) != dim(in, 3)) {
        return op_err(it, k, "output shape does not match the input");
    }
    if (op->code == OP_AVERAGE_POOL_2D && oh > 0 && ow > 0) {
        // Every window must see at least one input pixel (TFLite fails the invoke otherwise).
        if ((int)op->pad_h >= dim(in, 1) || (int)op->pad_w >= dim(in, 2)) {
            return op_err(it, k, "pooling window outside the input");
        }
    }
    return act_range(it, k, op, out);
}

static int prep_reshape(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in < 1 || op->n_in > 2 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    tfl_tensor *in = IN(0), *out = OUT(0);
    if (in->type != out->type) {
        return type_err(it, k, out->type);
    }
    if (in->bytes != out->bytes) {
        return op_err(it, k, "output size does not match the input");
    }
    if ((in->flags & TFL_T_ARENA) && !(out->flags & TFL_T_GOUT && in->flags & TFL_T_GIN)) {
        out->alias = op->in[0];
    }
    return TFL_OK;
}

static int prep_softmax(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 1 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (!(is_q(in) || in->type == TFL_FLOAT32)) {
        return type_err(it, k, in->type);
    }
    if (out->type != in->type) {
        return type_err(it, k, out->type);
    }
    if (in->ndim < 1 || !same_shape(in, out) || dim(in, in->ndim - 1) < 1) {
        return op_err(it, k, "output shape does not match the input");
    }
    if (is_q(in)) {
        if (out->zero_point != -128 || fabsf(out->scale - 1.0f / 256) > 0.001f / 256) {
            return op_err(it, k, "int8 output must have scale 1/256 and zero point -128");
        }
        double real = (double)op->beta * (double)in->scale * (double)(1 << 26);
        if (real > 2147483647.0) {
            real = 2147483647.0;
        }
        if (!(real > 1.0)) {
            return op_err(it, k, "input scale times beta is too small");
        }
        quantize_multiplier(real, &op->mult, &op->shift);
        // CalculateInputRadius(5, shift): the most negative difference that still matters.
        double radius = 31.0 * (double)(1u << 26) / (double)((int64_t)1 << op->shift);
        op->diff_min = -(int32_t)floor(radius);
    }
    return TFL_OK;
}


static int prep_unary(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 1 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int q = is_q(in);
    if (!(q || in->type == TFL_FLOAT32)) {
        return type_err(it, k, in->type);
    }
    if (out->type != in->type) {
        return type_err(it, k, out->type);
    }
    if (flat(in) != flat(out)) {
        return op_err(it, k, "output size does not match the input");
    }
    if (!q) {
        return TFL_OK;
    }
    switch (op->code) {
        case OP_RELU: {
            quantize_multiplier((double)in->scale / (double)out->scale, &op->mult, &op->shift);
            float z = roundf(0.0f / out->scale);
            op->act_min = out->zero_point + (int32_t)z > -128 ? out->zero_point + (int32_t)z : -128;
            op->act_max = 127;
            op->in_off = in->zero_point;
            op->out_off = out->zero_point;
            break;
        }
        case OP_RELU6: {
            float r = roundf(6.0f / in->scale);
            int32_t six = r > 1e9f ? 1000000000 : r < -1e9f ? -1000000000 : (int32_t)r + in->zero_point;
            six = clampi(six, -128, 127);
            op->act_min = in->zero_point;
            op->act_max = six;
            break;
        }
        case OP_LOGISTIC:
        case OP_TANH: {
            if (op->code == OP_LOGISTIC && out->zero_point != -128) {
                return op_err(it, k, "int8 output must have zero point -128");
            }
            double real = (double)in->scale * (double)(1 << 27);
            int e;
            double fr = frexp(real, &e);
            if (e > 31 || e < -31) {
                return op_err(it, k, "input scale out of range");
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

static int prep_quant(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 1 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (flat(in) != flat(out)) {
        return op_err(it, k, "output size does not match the input");
    }
    if (op->code == OP_DEQUANTIZE) {
        if (!(is_q(in) || in->type == TFL_INT16)) {
            return type_err(it, k, in->type);
        }
        if (out->type != TFL_FLOAT32) {
            return type_err(it, k, out->type);
        }
        return TFL_OK;
    }
    if (!(out->type == TFL_INT8 || out->type == TFL_INT16)) {
        return type_err(it, k, out->type);
    }
    if (in->type == TFL_INT8 || in->type == TFL_INT16) {
        quantize_multiplier((double)in->scale / (double)out->scale, &op->mult, &op->shift);
    } else if (in->type != TFL_FLOAT32) {
        return type_err(it, k, in->type);
    }
    return TFL_OK;
}

// Broadcast shapes aligned on the right: each input dim equals the output's or is 1.
static int check_bcast(const tfl_tensor *a, const tfl_tensor *out) {
    if (a->ndim > out->ndim) {
        return 0;
    }
    for (int d = 0; d < a->ndim; d++) {
        int od = out->dims[out->ndim - a->ndim + d];
        if (a->dims[d] != od && a->dims[d] != 1) {
            return 0;
        }
    }
    return 1;
}

static int prep_binary(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 2 || op->n_out != 1 || op->in[0] < 0 || op->in[1] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
    int q = is_q(a);
    if (!(q || a->type == TFL_FLOAT32)) {
        return type_err(it, k, a->type);
    }
    if (b->type != a->type || out->type != a->type) {
        return type_err(it, k, b->type != a->type ? b->type : out->type);
    }
    if (!check_bcast(a, out) || !check_bcast(b, out)) {
        return op_err(it, k, "input shapes do not broadcast to the output");
    }
    for (int d = 0; d < out->ndim; d++) {
        int ad = d - (out->ndim - a->ndim), bd = d - (out->ndim - b->ndim);
        int da = ad >= 0 ? a->dims[ad] : 1, db = bd >= 0 ? b->dims[bd] : 1;
        if (out->dims[d] != (da > db ? da : db) && !(da == 0 || db == 0)) {
            return op_err(it, k, "input shapes do not broadcast to the output");
        }
    }
    int r = act_range(it, k, op, out);
    if (r || !q) {
        return r;
    }
    op->in_off = -a->zero_point;
    op->w_off = -b->zero_point;
    op->out_off = out->zero_point;
    if (op->code == OP_ADD) {
        op->left_shift = 20;
        double twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
        double ra = (double)a->scale / twice_max, rb = (double)b->scale / twice_max;
        double ro = twice_max / ((double)(1 << 20) * (double)out->scale);
        quantize_multiplier(ra, &op->m1, &op->s1);
        quantize_multiplier(rb, &op->m2, &op->s2);
        quantize_multiplier(ro, &op->mult, &op->shift);
        if (op->s1 > 0 || op->s2 > 0 || op->shift > 0) {
            return op_err(it, k, "scales out of range");
        }
    } else {
        quantize_multiplier((double)a->scale * (double)b->scale / (double)out->scale, &op->mult, &op->shift);
    }
    return TFL_OK;
}

static int prep_concat(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in < 1 || op->n_out != 1) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *out = OUT(0);
    if (op->act != 0) {
        return op_err(it, k, "unsupported fused activation");
    }
    if (!tfl_type_size(out->type) || out->type == TFL_INT64) {
        return type_err(it, k, out->type);
    }
    int axis = op->axis < 0 ? op->axis + out->ndim : op->axis;
    if (axis < 0 || axis >= out->ndim) {
        return op_err(it, k, "axis out of range");
    }
    op->axis = (int16_t)axis;
    int64_t sum = 0;
    for (int j = 0; j < op->n_in; j++) {
        if (op->in[j] < 0) {
            return op_err(it, k, "missing input");
        }
        const tfl_tensor *in = IN(j);
        if (in->type != out->type) {
            return type_err(it, k, in->type);
        }
        if (in->ndim != out->ndim) {
            return op_err(it, k, "input shapes do not match the output");
        }
        for (int d = 0; d < out->ndim; d++) {
            if (d != axis && in->dims[d] != out->dims[d]) {
                return op_err(it, k, "input shapes do not match the output");
            }
        }
        if (is_q(in) && (in->scale != out->scale || in->zero_point != out->zero_point)) {
            return op_err(it, k, "int8 inputs must share the output's quantization");
        }
        sum += in->dims[axis];
    }
    if (sum != out->dims[axis]) {
        return op_err(it, k, "input shapes do not match the output");
    }
    return TFL_OK;
}

static const int32_t *const_i32(tfl_interp *it, const tfl_op *op, int j, uint32_t *n) {
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

static int32_t get_i32(const int32_t *p, uint32_t i) {
    int32_t v;
    memcpy(&v, p + i, 4);  // constant data in the model may be unaligned
    return v;
}

static int prep_pad(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 2 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (!(is_q(in) || in->type == TFL_FLOAT32 || in->type == TFL_INT16 || in->type == TFL_INT32)) {
        return type_err(it, k, in->type);
    }
    if (out->type != in->type || in->ndim != out->ndim) {
        return op_err(it, k, "output does not match the input");
    }
    uint32_t n;
    const int32_t *p = const_i32(it, op, 1, &n);
    if (!p || n != 2u * in->ndim) {
        return op_err(it, k, "paddings must be a constant int32 [rank, 2] tensor");
    }
    for (int d = 0; d < in->ndim; d++) {
        int32_t before = get_i32(p, 2 * d), after = get_i32(p, 2 * d + 1);
        if (before < 0 || after < 0 || (int64_t)in->dims[d] + before + after != out->dims[d]) {
            return op_err(it, k, "paddings do not match the output shape");
        }
    }
    return TFL_OK;
}

static int prep_mean(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (op->n_in != 2 || op->n_out != 1 || op->in[0] < 0) {
        return op_err(it, k, "wrong number of tensors");
    }
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (!(is_q(in) || in->type == TFL_FLOAT32)) {
        return type_err(it, k, in->type);
    }
    if (out->type != in->type) {
        return type_err(it, k, out->type);
    }
    uint32_t n;
    const int32_t *p = const_i32(it, op, 1, &n);
    if (!p) {
        return op_err(it, k, "axis must be a constant int32 tensor");
    }
    int mask = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t a = get_i32(p, i);
        a = a < 0 ? a + in->ndim : a;
        if (a < 0 || a >= in->ndim) {
            return op_err(it, k, "axis out of range");
        }
        mask |= 1 << a;
    }
    op->axis = (int16_t)mask;
    uint64_t kept = 1, red = 1;
    for (int d = 0; d < in->ndim; d++) {
        if (mask & (1 << d)) {
            red *= (uint32_t)in->dims[d];
        } else {
            kept *= (uint32_t)in->dims[d];
        }
    }
    if (kept != flat(out) || red == 0) {
        return op_err(it, k, "output shape does not match the reduction");
    }
    if (is_q(in)) {
        // Mean as TFLite Micro does it: the sum times in/out scale divided by the count,
        // folded into one multiplier with as many extra bits as the count allows.
        if (red > 0x7fffffff) {
            return op_err(it, k, "reduction too large");
        }
        int32_t m, sh;
        quantize_multiplier((double)in->scale / (double)out->scale, &m, &sh);
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

int tfl_prepare_op(tfl_interp *it, uint32_t k) {
    tfl_op *op = &it->ops[k];
    for (int j = 0; j < op->n_out; j++) {
        if (!(OUT(j)->flags & TFL_T_ARENA)) {
            return op_err(it, k, "output is not a computed tensor");
        }
    }
    switch (op->code) {
        case OP_CONV_2D:
            return prep_conv(it, k, op, 0);
        case OP_DEPTHWISE_CONV_2D:
            return prep_conv(it, k, op, 1);
        case OP_FULLY_CONNECTED:
            return prep_fc(it, k, op);
        case OP_AVERAGE_POOL_2D:
        case OP_MAX_POOL_2D:
            return prep_pool(it, k, op);
        case OP_RESHAPE:
            return prep_reshape(it, k, op);
        case OP_SOFTMAX:
            return prep_softmax(it, k, op);
        case OP_RELU:
        case OP_RELU6:
        case OP_LOGISTIC:
        case OP_TANH:
            return prep_unary(it, k, op);
        case OP_QUANTIZE:
        case OP_DEQUANTIZE:
            return prep_quant(it, k, op);
        case OP_ADD:
        case OP_MUL:
            return prep_binary(it, k, op);
        case OP_CONCATENATION:
            return prep_concat(it, k, op);
        case OP_PAD:
            return prep_pad(it, k, op);
        case OP_MEAN:
            return prep_mean(it, k, op);
        default: {
            const char *type = op->n_in && op->in[0] >= 0 ? tfl_type_name(IN(0)->type) : "none";
            return tfl_fail(it, "unsupported operator %s (builtin code %d) at index %lu, tensor type %s",
                tfl_op_name(op->code), op->code, (unsigned long)k, type);
        }
    }
}

// ---- kernels ----

static void eval_conv_q(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
    const int32_t *bias = op->n_in > 2 && op->in[2] >= 0 ? (const int32_t *)(const void *)IN(2)->data : NULL;
    int8_t *y = (int8_t *)out->data;
    const int32_t *m = pc_mult(it, op);
    const int8_t *s = pc_shift(it, op);
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), IC = dim(in, 3);
    int FH = dim(w, 1), FW = dim(w, 2), FIC = dim(w, 3);
    int OH = dim(out, 1), OW = dim(out, 2), OC = dim(out, 3);
    int ocpg = OC / (IC / FIC);
    int32_t in_off = op->in_off;
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            int iy0 = oy * op->stride_h - op->pad_h;
            for (int ox = 0; ox < OW; ox++) {
                int ix0 = ox * op->stride_w - op->pad_w;
                for (int oc = 0; oc < OC; oc++) {
                    int ic0 = (oc / ocpg) * FIC;
                    uint32_t acc = 0;
                    for (int fy = 0; fy < FH; fy++) {
                        int iy = iy0 + op->dil_h * fy;
                        if (iy < 0 || iy >= H) {
                            continue;
                        }
                        for (int fx = 0; fx < FW; fx++) {
                            int ix = ix0 + op->dil_w * fx;
                            if (ix < 0 || ix >= W) {
                                continue;
                            }
                            const int8_t *xp = x + (((size_t)b * H + iy) * W + ix) * IC + ic0;
                            const int8_t *fp = f + (((size_t)oc * FH + fy) * FW + fx) * FIC;
                            uint32_t sum = 0;
                            for (int c = 0; c < FIC; c++) {
                                sum += (uint32_t)(fp[c] * (xp[c] + in_off));
                            }
                            acc += (uint32_t)sum;
                        }
                    }
                    if (bias) {
                        acc += (uint32_t)bias[oc];
                    }
                    int32_t v = add_wrap(mbqm((int32_t)acc, m[oc], s[oc]), op->out_off);
                    y[(((size_t)b * OH + oy) * OW + ox) * OC + oc] = (int8_t)clampi(v, op->act_min, op->act_max);
                }
            }
        }
    }
}


// 1x1, stride 1, ungrouped int8 convolution (the pointwise layers of MobileNets): a dot
// product per pixel and channel; the input offset is folded in through the filter sums.
#define PW_MAX_OC 256
static int eval_conv_1x1_q(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    int IC = dim(in, 3), OC = dim(out, 3);
    if (dim(w, 1) != 1 || dim(w, 2) != 1 || dim(w, 3) != IC || op->stride_w != 1 || op->stride_h != 1 ||
        op->pad_w || op->pad_h || OC > PW_MAX_OC) {
        return 0;
    }
    const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
    const int32_t *bias = op->n_in > 2 && op->in[2] >= 0 ? (const int32_t *)(const void *)IN(2)->data : NULL;
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
        for (int oc = 0; oc < OC; oc++) {
            const int8_t *fp = f + (size_t)oc * IC;
            uint32_t acc = 0;
            for (int c = 0; c < IC; c++) {
                acc += (uint32_t)(fp[c] * xp[c]);
            }
            int32_t v = add_wrap(mbqm((int32_t)(acc + fold[oc]), m[oc], s[oc]), op->out_off);
            yp[oc] = (int8_t)clampi(v, op->act_min, op->act_max);
        }
    }
    return 1;
}

// int8 depthwise: all channels of a pixel at once, tap by tap, in blocks of DW_BLOCK.
#define DW_BLOCK 64
static void eval_dw_q(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
    const int32_t *bias = op->n_in > 2 && op->in[2] >= 0 ? (const int32_t *)(const void *)IN(2)->data : NULL;
    int8_t *y = (int8_t *)out->data;
    const int32_t *m = pc_mult(it, op);
    const int8_t *s = pc_shift(it, op);
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), IC = dim(in, 3);
    int FH = dim(w, 1), FW = dim(w, 2);
    int OH = dim(out, 1), OW = dim(out, 2), OC = dim(out, 3), DM = op->depth_mult;
    int32_t in_off = op->in_off;
    uint32_t acc[DW_BLOCK];
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            int iy0 = oy * op->stride_h - op->pad_h;
            for (int ox = 0; ox < OW; ox++) {
                int ix0 = ox * op->stride_w - op->pad_w;
                int8_t *yp = y + (((size_t)b * OH + oy) * OW + ox) * OC;
                for (int c0 = 0; c0 < OC; c0 += DW_BLOCK) {
                    int cn = OC - c0 < DW_BLOCK ? OC - c0 : DW_BLOCK;
                    for (int j = 0; j < cn; j++) {
                        acc[j] = 0;
                    }
                    for (int fy = 0; fy < FH; fy++) {
                        int iy = iy0 + op->dil_h * fy;
                        if (iy < 0 || iy >= H) {
                            continue;
                        }
                        for (int fx = 0; fx < FW; fx++) {
                            int ix = ix0 + op->dil_w * fx;
                            if (ix < 0 || ix >= W) {
                                continue;
                            }
                            const int8_t *xp = x + (((size_t)b * H + iy) * W + ix) * IC;
                            const int8_t *fp = f + ((size_t)fy * FW + fx) * OC + c0;
                            if (DM == 1) {
                                xp += c0;
                                for (int j = 0; j < cn; j++) {
                                    acc[j] += (uint32_t)(fp[j] * (xp[j] + in_off));
                                }
                            } else {
                                // output channel c reads input channel c / DM
                                int ic = c0 / DM, mm = c0 % DM;
                                for (int j = 0; j < cn; ic++, mm = 0) {
                                    int32_t xv = xp[ic] + in_off;
                                    for (; mm < DM && j < cn; mm++, j++) {
                                        acc[j] += (uint32_t)(fp[j] * xv);
                                    }
                                }
                            }
                        }
                    }
                    for (int j = 0; j < cn; j++) {
                        int oc = c0 + j;
                        uint32_t a = acc[j] + (bias ? (uint32_t)bias[oc] : 0);
                        int32_t v = add_wrap(mbqm((int32_t)a, m[oc], s[oc]), op->out_off);
                        yp[oc] = (int8_t)clampi(v, op->act_min, op->act_max);
                    }
                }
            }
        }
    }
}

static void eval_conv_f(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const float *x = (const float *)(const void *)in->data, *f = (const float *)(const void *)w->data;
    const float *bias = op->n_in > 2 && op->in[2] >= 0 ? (const float *)(const void *)IN(2)->data : NULL;
    float *y = (float *)(void *)out->data;
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), IC = dim(in, 3);
    int FH = dim(w, 1), FW = dim(w, 2), FIC = dim(w, 3);
    int OH = dim(out, 1), OW = dim(out, 2), OC = dim(out, 3);
    int ocpg = OC / (IC / FIC);
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            int iy0 = oy * op->stride_h - op->pad_h;
            for (int ox = 0; ox < OW; ox++) {
                int ix0 = ox * op->stride_w - op->pad_w;
                for (int oc = 0; oc < OC; oc++) {
                    int ic0 = (oc / ocpg) * FIC;
                    float total = 0.0f;
                    for (int fy = 0; fy < FH; fy++) {
                        int iy = iy0 + op->dil_h * fy;
                        if (iy < 0 || iy >= H) {
                            continue;
                        }
                        for (int fx = 0; fx < FW; fx++) {
                            int ix = ix0 + op->dil_w * fx;
                            if (ix < 0 || ix >= W) {
                                continue;
                            }
                            const float *xp = x + (((size_t)b * H + iy) * W + ix) * IC + ic0;
                            const float *fp = f + (((size_t)oc * FH + fy) * FW + fx) * FIC;
                            for (int c = 0; c < FIC; c++) {
                                total += xp[c] * fp[c];
                            }
                        }
                    }
                    float bv = bias ? bias[oc] : 0.0f;
                    y[(((size_t)b * OH + oy) * OW + ox) * OC + oc] = act_f(total + bv, op->fmin, op->fmax);
                }
            }
        }
    }
}

// float depthwise: each output sums its taps in the reference order (float adds do not reorder).
static void eval_dw_f(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const float *x = (const float *)(const void *)in->data, *f = (const float *)(const void *)w->data;
    const float *bias = op->n_in > 2 && op->in[2] >= 0 ? (const float *)(const void *)IN(2)->data : NULL;
    float *y = (float *)(void *)out->data;
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), IC = dim(in, 3);
    int FH = dim(w, 1), FW = dim(w, 2);
    int OH = dim(out, 1), OW = dim(out, 2), OC = dim(out, 3), DM = op->depth_mult;
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            int iy0 = oy * op->stride_h - op->pad_h;
            for (int ox = 0; ox < OW; ox++) {
                int ix0 = ox * op->stride_w - op->pad_w;
                float *yp = y + (((size_t)b * OH + oy) * OW + ox) * OC;
                for (int oc = 0; oc < OC; oc++) {
                    float total = 0.0f;
                    for (int fy = 0; fy < FH; fy++) {
                        int iy = iy0 + op->dil_h * fy;
                        if (iy < 0 || iy >= H) {
                            continue;
                        }
                        for (int fx = 0; fx < FW; fx++) {
                            int ix = ix0 + op->dil_w * fx;
                            if (ix < 0 || ix >= W) {
                                continue;
                            }
                            total += x[(((size_t)b * H + iy) * W + ix) * IC + oc / DM] * f[((size_t)fy * FW + fx) * OC + oc];
                        }
                    }
                    yp[oc] = act_f(total + (bias ? bias[oc] : 0.0f), op->fmin, op->fmax);
                }
            }
        }
    }
}

static void eval_fc(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *w = IN(1), *out = OUT(0);
    const void *biasp = op->n_in > 2 && op->in[2] >= 0 ? IN(2)->data : NULL;
    int depth = dim(out, out->ndim - 1), D = dim(w, 1);
    uint32_t batches = flat(out) / (uint32_t)depth;
    if (is_q(in)) {
        const int8_t *x = (const int8_t *)in->data, *f = (const int8_t *)w->data;
        const int32_t *m = pc_mult(it, op);
        const int8_t *s = pc_shift(it, op);
        for (uint32_t b = 0; b < batches; b++) {
            for (int o = 0; o < depth; o++) {
                const int8_t *xp = x + (size_t)b * D, *fp = f + (size_t)o * D;
                uint32_t sum = 0;
                for (int d = 0; d < D; d++) {
                    sum += (uint32_t)((fp[d] + op->w_off) * (xp[d] + op->in_off));
                }
                uint32_t acc = (uint32_t)sum;
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

static void eval_pool(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int q = is_q(in), avg = op->code == OP_AVERAGE_POOL_2D;
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), C = dim(in, 3);
    int OH = dim(out, 1), OW = dim(out, 2);
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            int iy0 = oy * op->stride_h - op->pad_h;
            int fy0 = iy0 < 0 ? -iy0 : 0, fy1 = H - iy0 < op->fh ? H - iy0 : op->fh;
            for (int ox = 0; ox < OW; ox++) {
                int ix0 = ox * op->stride_w - op->pad_w;
                int fx0 = ix0 < 0 ? -ix0 : 0, fx1 = W - ix0 < op->fw ? W - ix0 : op->fw;
                size_t oi = (((size_t)b * OH + oy) * OW + ox) * C;
                for (int c = 0; c < C; c++) {
                    int64_t acc = avg ? 0 : -128, count = 0;  // 64-bit: huge windows cannot overflow
                    float ftot = 0.0f, fmax = -3.40282347e38f, fcount = 0.0f;
                    for (int fy = fy0; fy < fy1; fy++) {
                        for (int fx = fx0; fx < fx1; fx++) {
                            size_t xi = (((size_t)b * H + iy0 + fy) * W + ix0 + fx) * C + c;
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

static void eval_softmax(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int depth = dim(in, in->ndim - 1);
    uint32_t rows = flat(in) / (uint32_t)depth;
    if (is_q(in)) {
        for (uint32_t r = 0; r < rows; r++) {
            const int8_t *x = (const int8_t *)in->data + (size_t)r * depth;
            int8_t *y = (int8_t *)out->data + (size_t)r * depth;
            int32_t mx = -128;
            for (int c = 0; c < depth; c++) {
                if (x[c] > mx) {
                    mx = x[c];
                }
            }
            int32_t sum = 0;
            for (int c = 0; c < depth; c++) {
                int32_t diff = x[c] - mx;
                if (diff >= op->diff_min) {
                    int32_t scaled = srdhm(wrap_shl(diff, op->shift), op->mult);
                    sum = add_wrap(sum, rdpot(exp_neg(scaled, 5), 12));
                }
            }
            int hr = clz32((uint32_t)sum);
            int nbits = 12 - hr;
            int32_t shifted = (int32_t)(((uint32_t)sum << (hr & 31)) - (1u << 31));
            if (hr >= 32) {
                shifted = (int32_t)(0u - (1u << 31));
            }
            int32_t recip = one_over_one_plus_x(shifted);
            for (int c = 0; c < depth; c++) {
                int32_t diff = x[c] - mx;
                if (diff >= op->diff_min) {
                    int32_t scaled = srdhm(wrap_shl(diff, op->shift), op->mult);
                    int32_t e = exp_neg(scaled, 5);
                    int32_t v = rdpot(srdhm(recip, e), nbits + 31 - 8) - 128;
                    y[c] = (int8_t)clampi(v, -128, 127);
                } else {
                    y[c] = -128;
                }
            }
        }
    } else {
        for (uint32_t r = 0; r < rows; r++) {
            const float *x = (const float *)(const void *)in->data + (size_t)r * depth;
            float *y = (float *)(void *)out->data + (size_t)r * depth;
            float mx = -3.40282347e38f;
            for (int c = 0; c < depth; c++) {
                mx = mx < x[c] ? x[c] : mx;
            }
            float sum = 0.0f;
            for (int c = 0; c < depth; c++) {
                y[c] = expf((x[c] - mx) * op->beta);
                sum += y[c];
            }
            for (int c = 0; c < depth; c++) {
                y[c] = y[c] / sum;
            }
        }
    }
}


static void eval_unary(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n = flat(in);
    if (is_q(in)) {
        const int8_t *x = (const int8_t *)in->data;
        int8_t *y = (int8_t *)out->data;
        for (uint32_t i = 0; i < n; i++) {
            int32_t v = x[i];
            switch (op->code) {
                case OP_RELU:
                    v = clampi(add_wrap(op->out_off, mbqm(v - op->in_off, op->mult, op->shift)), op->act_min, op->act_max);
                    break;
                case OP_RELU6:
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
                        if (op->code == OP_LOGISTIC) {
                            v = clampi(rdpot(fp_logistic(xq, 4), 23) - 128, -128, 127);
                        } else {
                            v = clampi(rdpot(fp_tanh(xq, 4), 24), -128, 127);
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
            case OP_RELU:
                v = v < 0.0f ? 0.0f : v;
                break;
            case OP_RELU6:
                v = v > 6.0f ? 6.0f : v < 0.0f ? 0.0f : v;
                break;
            case OP_LOGISTIC:
                v = v > 16.619047164916992188f ? 1.0f : v < -9.0f ? expf(v) : 1.0f / (1.0f + expf(-v));
                break;
            default:
                v = tanhf(v);
        }
        y[i] = v;
    }
}

// float -> int32 as x86 converts it: out of range gives INT32_MIN.
static int32_t f2i(float r) {
    return r >= -2147483648.0f && r < 2147483648.0f ? (int32_t)r : INT32_MIN;
}

static void eval_quant(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n = flat(in);
    int32_t lo = out->type == TFL_INT16 ? -32768 : -128, hi = out->type == TFL_INT16 ? 32767 : 127;
    for (uint32_t i = 0; i < n; i++) {
        int32_t v;
        if (op->code == OP_DEQUANTIZE) {
            v = in->type == TFL_INT16 ? ((const int16_t *)(const void *)in->data)[i] : ((const int8_t *)in->data)[i];
            ((float *)(void *)out->data)[i] = (float)((double)in->scale * (double)(v - in->zero_point));
            continue;
        }
        if (in->type == TFL_FLOAT32) {
            float x = ((const float *)(const void *)in->data)[i];
            v = add_wrap(f2i(roundf(x / out->scale)), out->zero_point);
        } else {
            v = in->type == TFL_INT16 ? ((const int16_t *)(const void *)in->data)[i] : ((const int8_t *)in->data)[i];
            v = add_wrap(mbqm(v - in->zero_point, op->mult, op->shift), out->zero_point);
        }
        v = clampi(v, lo, hi);
        if (out->type == TFL_INT16) {
            ((int16_t *)(void *)out->data)[i] = (int16_t)v;
        } else {
            ((int8_t *)out->data)[i] = (int8_t)v;
        }
    }
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

static void eval_binary(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
    uint32_t sa[TFL_MAX_DIMS], sb[TFL_MAX_DIMS], idx[TFL_MAX_DIMS] = {0};
    bcast_strides(a, out, sa);
    bcast_strides(b, out, sb);
    uint32_t n = flat(out), ia = 0, ib = 0;
    int nd = out->ndim, q = is_q(a), add = op->code == OP_ADD;
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

static void eval_concat(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *out = OUT(0);
    int axis = op->axis, es = tfl_type_size(out->type);
    uint32_t outer = 1, inner = (uint32_t)es;
    for (int d = 0; d < axis; d++) {
        outer *= (uint32_t)out->dims[d];
    }
    for (int d = axis + 1; d < out->ndim; d++) {
        inner *= (uint32_t)out->dims[d];
    }
    uint8_t *y = out->data;
    for (uint32_t o = 0; o < outer; o++) {
        for (int j = 0; j < op->n_in; j++) {
            const tfl_tensor *in = IN(j);
            uint32_t chunk = (uint32_t)in->dims[axis] * inner;
            memcpy(y, in->data + (size_t)o * chunk, chunk);
            y += chunk;
        }
    }
}

static void eval_pad(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    const int32_t *p = (const int32_t *)(const void *)IN(1)->data;
    int es = tfl_type_size(in->type), nd = in->ndim;
    uint32_t n = flat(out), idx[TFL_MAX_DIMS] = {0}, ii = 0;
    uint8_t padv = is_q(out) ? (uint8_t)out->zero_point : 0;
    for (uint32_t i = 0; i < n; i++) {
        int inside = 1;
        for (int d = 0; d < nd; d++) {
            int32_t before = get_i32(p, 2 * d);
            if ((int32_t)idx[d] < before || (int32_t)idx[d] >= before + in->dims[d]) {
                inside = 0;
                break;
            }
        }
        if (inside) {
            memcpy(out->data + (size_t)i * es, in->data + (size_t)ii * es, es);
            ii++;
        } else if (es == 1) {
            out->data[i] = padv;
        } else {
            memset(out->data + (size_t)i * es, 0, es);
        }
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < (uint32_t)out->dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}

static void eval_mean(const tfl_interp *it, const tfl_op *op) {
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

void tfl_eval_op(tfl_interp *it, const tfl_op *op) {
    switch (op->code) {
        case OP_CONV_2D:
            if (is_q(IN(0))) {
                if (!eval_conv_1x1_q(it, op)) {
                    eval_conv_q(it, op);
                }
            } else {
                eval_conv_f(it, op);
            }
            break;
        case OP_DEPTHWISE_CONV_2D:
            if (is_q(IN(0))) {
                eval_dw_q(it, op);
            } else {
                eval_dw_f(it, op);
            }
            break;
        case OP_FULLY_CONNECTED:
            eval_fc(it, op);
            break;
        case OP_AVERAGE_POOL_2D:
        case OP_MAX_POOL_2D:
            eval_pool(it, op);
            break;
        case OP_RESHAPE:
            if (OUT(0)->data != IN(0)->data) {
                memmove(OUT(0)->data, IN(0)->data, OUT(0)->bytes);
            }
            break;
        case OP_SOFTMAX:
            eval_softmax(it, op);
            break;
        case OP_RELU:
        case OP_RELU6:
        case OP_LOGISTIC:
        case OP_TANH:
            eval_unary(it, op);
            break;
        case OP_QUANTIZE:
        case OP_DEQUANTIZE:
            eval_quant(it, op);
            break;
        case OP_ADD:
        case OP_MUL:
            eval_binary(it, op);
            break;
        case OP_CONCATENATION:
            eval_concat(it, op);
            break;
        case OP_PAD:
            eval_pad(it, op);
            break;
        case OP_MEAN:
            eval_mean(it, op);
            break;
    }
}
