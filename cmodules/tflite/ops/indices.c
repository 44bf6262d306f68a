// Operators on indices: GATHER (slices picked by index, float32 and int8; gather.cc) and ARG_MAX
// (the index of the largest value along an axis, the first on ties, as int32; arg_min_max.h).
#include "ops.h"

TFL_FOR_SIZE

static uint32_t prod(const int32_t *dims, int from, int to) {
    uint32_t n = 1;
    for (int d = from; d < to; d++) {
        n *= (uint32_t)dims[d];
    }
    return n;
}

// Element i of an int32 or int64 tensor.
static int64_t index_at(const tfl_tensor *t, uint32_t i) {
    if (t->type == TFL_INT64) {
        int64_t v;
        memcpy(&v, t->data + 8 * (size_t)i, 8);
        return v;
    }
    return get_i32((const int32_t *)(const void *)t->data, i);
}

// Element i of a float32 or integer tensor; double orders them all exactly.
static double value_at(const tfl_tensor *t, uint32_t i) {
    return t->type == TFL_FLOAT32 ? ((const float *)(const void *)t->data)[i] : int_at(t, i);
}

static const char *check_gather(tfl_interp *it, tfl_op *op) {
    const tfl_tensor *p = IN(0), *ix = IN(1), *out = OUT(0);
    int axis = op->axis < 0 ? op->axis + p->ndim : op->axis, bd = op->num < 0 ? op->num + ix->ndim : op->num;
    if (axis < 0 || axis >= p->ndim || bd < 0 || bd > axis || bd > ix->ndim) {
        return "axis or batch_dims out of range";
    }
    op->axis = (int16_t)axis;
    op->num = (int16_t)bd;
    if (out->type != p->type) {
        return "output type does not match the input";
    }
    int m = 0;
    for (int d = 0; d < bd; d++) {
        if (p->dims[d] != ix->dims[d]) {
            return "batch dimensions of input and indices differ";
        }
    }
    if (out->ndim != p->ndim - 1 + ix->ndim - bd) {
        return "output shape does not match";
    }
    for (int d = 0; d < p->ndim; d++) {
        if (d == axis) {
            for (int j = bd; j < ix->ndim; j++) {
                if (out->dims[m++] != ix->dims[j]) {
                    return "output shape does not match";
                }
            }
        } else if (out->dims[m++] != p->dims[d]) {
            return "output shape does not match";
        }
    }
    if (ix->flags & TFL_T_CONST) {
        for (uint32_t i = 0; i < flat(ix); i++) {
            int64_t v = index_at(ix, i);
            if (v < 0 || v >= p->dims[axis]) {
                return "index out of range";
            }
        }
    }
    return NULL;
}

static const char *check_arg_max(tfl_interp *it, tfl_op *op) {
    const tfl_tensor *in = IN(0), *ax = IN(1), *out = OUT(0);
    if (!(ax->flags & TFL_T_CONST) || flat(ax) != 1) {
        return "axis must be a constant scalar";
    }
    int64_t a = index_at(ax, 0);
    a = a < 0 ? a + in->ndim : a;
    if (a < 0 || a >= in->ndim) {
        return "axis out of range";
    }
    op->axis = (int16_t)a;
    if (out->ndim != in->ndim - 1) {
        return "output shape does not match the input without the axis";
    }
    for (int d = 0, m = 0; d < in->ndim; d++) {
        if (d != a && out->dims[m++] != in->dims[d]) {
            return "output shape does not match the input without the axis";
        }
    }
    return in->dims[a] ? NULL : "axis is empty";
}

int tfl_prepare_indices(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *ix = IN(1), *out = OUT(0);
    const char *bad;
    if (op->code == TFL_OP_GATHER) {
        if (!(is_q(in) || in->type == TFL_FLOAT32)) {
            return tfl_type_err(it, k, in->type);  // what TFLite Micro's GATHER takes
        }
        if (ix->type != TFL_INT32 && ix->type != TFL_INT64) {
            return tfl_type_err(it, k, ix->type);
        }
        bad = check_gather(it, op);
    } else {
        int t = in->type;
        if (!(t == TFL_FLOAT32 || t == TFL_INT8 || t == TFL_INT16 || t == TFL_INT32)) {
            return tfl_type_err(it, k, t);
        }
        if ((ix->type != TFL_INT32 && ix->type != TFL_INT64) || out->type != TFL_INT32) {
            return tfl_type_err(it, k, out->type != TFL_INT32 ? out->type : ix->type);  // as TFLite Micro: int32 out
        }
        bad = check_arg_max(it, op);
    }
    return bad ? tfl_op_err(it, k, bad) : TFL_OK;
}

static void gather(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *p = IN(0), *ix = IN(1);
    int axis = op->axis, bd = op->num;
    uint32_t batches = prod(p->dims, 0, bd), outer = prod(p->dims, bd, axis), n = (uint32_t)p->dims[axis];
    uint32_t coords = prod(ix->dims, bd, ix->ndim);
    size_t inner = (size_t)prod(p->dims, axis + 1, p->ndim) * tfl_type_size(p->type);
    uint8_t *y = OUT(0)->data;
    for (uint32_t b = 0; b < batches; b++) {
        for (uint32_t o = 0; o < outer; o++) {
            for (uint32_t i = 0; i < coords; i++, y += inner) {
                int64_t v = index_at(ix, b * coords + i);
                if (v >= 0 && v < n) {
                    memcpy(y, p->data + ((b * outer + o) * (size_t)n + (size_t)v) * inner, inner);
                } else {
                    memset(y, 0, inner);  // an index out of range (TFLite Micro's result is undefined)
                }
            }
        }
    }
}

static void arg_max(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int axis = op->axis;
    uint32_t outer = prod(in->dims, 0, axis), n = (uint32_t)in->dims[axis], inner = prod(in->dims, axis + 1, in->ndim);
    for (uint32_t o = 0; o < outer; o++) {
        for (uint32_t i = 0; i < inner; i++) {
            uint32_t base = o * n * inner + i, best = 0;
            double top = value_at(in, base);
            for (uint32_t a = 1; a < n; a++) {
                double v = value_at(in, base + a * inner);
                if (v > top) {
                    top = v;
                    best = a;
                }
            }
            ((int32_t *)(void *)out->data)[o * inner + i] = (int32_t)best;
        }
    }
}

void tfl_eval_indices(const tfl_interp *it, const tfl_op *op) {
    if (op->code == TFL_OP_GATHER) {
        gather(it, op);
    } else {
        arg_max(it, op);
    }
}
