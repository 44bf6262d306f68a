// Operators that only move elements, for any element type: STRIDED_SLICE (strided_slice.h,
// with the begin/end rules of strided_slice_logic.h), TRANSPOSE, SPLIT, UNPACK and PACK. Each
// is one strided copy per part (a walk): every element of one side in order, the other side's
// position advanced by a step per dimension.
#include "ops.h"

TFL_FOR_SIZE

typedef struct {
    int nd;
    int32_t n[TFL_MAX_DIMS];                  // elements per dimension
    int32_t src[TFL_MAX_DIMS], dst[TFL_MAX_DIMS];  // steps per dimension, in elements
    int32_t src0, dst0;                       // positions of the first element
} walk;

static void strides_of(const int32_t *dims, int nd, int32_t *st) {
    int32_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        st[d] = s;
        s *= dims[d];
    }
}

static void run_walk(const walk *w, uint8_t *dst, const uint8_t *src, int es) {
    uint32_t total = 1, idx[TFL_MAX_DIMS] = {0};
    for (int d = 0; d < w->nd; d++) {
        total *= (uint32_t)w->n[d];
    }
    int32_t s = w->src0, t = w->dst0;
    for (uint32_t i = 0; i < total; i++) {
        memcpy(dst + (size_t)t * es, src + (size_t)s * es, es);
        for (int d = w->nd - 1; d >= 0; d--) {
            s += w->src[d];
            t += w->dst[d];
            if (++idx[d] < (uint32_t)w->n[d]) {
                break;
            }
            s -= w->src[d] * w->n[d];
            t -= w->dst[d] * w->n[d];
            idx[d] = 0;
        }
    }
}

// The dims and strides of t without dimension axis (UNPACK's outputs, PACK's inputs).
static int drop_axis(const tfl_tensor *t, int axis, int32_t *n, int32_t *st) {
    int32_t all[TFL_MAX_DIMS];
    strides_of(t->dims, t->ndim, all);
    int m = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d != axis) {
            n[m] = t->dims[d];
            st[m++] = all[d];
        }
    }
    return m;
}

static int32_t clamp_to(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

// STRIDED_SLICE: start, step and count per input dimension; NULL, or what is wrong.
static const char *slice_walk(const tfl_interp *it, const tfl_op *op, walk *w) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    const int32_t *b = (const int32_t *)(const void *)IN(1)->data, *e = (const int32_t *)(const void *)IN(2)->data;
    const int32_t *st = (const int32_t *)(const void *)IN(3)->data;
    int32_t in_st[TFL_MAX_DIMS];
    strides_of(in->dims, in->ndim, in_st);
    int kept = 0;
    w->nd = in->ndim;
    w->src0 = 0;
    for (int d = 0; d < in->ndim; d++) {
        int32_t size = in->dims[d], stride = get_i32(st, d), start = get_i32(b, d), stop = get_i32(e, d);
        int shrink = op->mask_shrink >> d & 1;
        if (stride == 0) {
            return "stride must not be 0";
        }
        start = start < 0 ? start + size : start;
        start = stride > 0 ? clamp_to(start, 0, size) : clamp_to(start, -1, size - 1);
        if (op->mask_begin >> d & 1) {
            start = stride > 0 ? 0 : size - 1;
        }
        if (shrink) {
            if (start < 0 || start >= size) {
                return "shrunk dimension's begin out of range";
            }
            stop = start + 1;
        } else {
            stop = stop < 0 ? stop + size : stop;
            stop = stride > 0 ? clamp_to(stop, 0, size) : clamp_to(stop, -1, size - 1);
            if (op->mask_end >> d & 1) {
                stop = stride > 0 ? size : -1;
            }
        }
        int64_t span = stride > 0 ? stop - start : start - stop, step = stride > 0 ? stride : -(int64_t)stride;
        int32_t count = span > 0 ? (int32_t)((span + step - 1) / step) : 0;
        if (!shrink && (kept >= out->ndim || out->dims[kept++] != count)) {
            return "output shape does not match the slice";
        }
        w->n[d] = count;
        // a step is only taken between two elements, so it stays inside the tensor (int32)
        w->src[d] = count > 1 ? stride * in_st[d] : 0;
        w->src0 += start * in_st[d];
    }
    return kept == out->ndim ? NULL : "output shape does not match the slice";
}

// Part j of the operator as a walk (SPLIT and UNPACK: output j; PACK: input j).
static void part_walk(const tfl_interp *it, const tfl_op *op, int j, walk *w) {
    int32_t st[TFL_MAX_DIMS];
    const tfl_tensor *in = IN(0), *out = OUT(0);
    w->src0 = w->dst0 = 0;
    switch (op->code) {
        case TFL_OP_STRIDED_SLICE:
            slice_walk(it, op, w);
            break;
        case TFL_OP_TRANSPOSE: {
            const int32_t *perm = (const int32_t *)(const void *)IN(1)->data;
            strides_of(in->dims, in->ndim, st);
            w->nd = out->ndim;
            for (int d = 0; d < w->nd; d++) {
                w->n[d] = out->dims[d];
                w->src[d] = st[get_i32(perm, d)];
            }
            break;
        }
        case TFL_OP_SPLIT:
            in = IN(1);
            out = OUT(j);
            strides_of(in->dims, in->ndim, w->src);
            w->nd = out->ndim;
            memcpy(w->n, out->dims, sizeof(w->n));
            w->src0 = j * out->dims[op->axis] * w->src[op->axis];
            break;
        case TFL_OP_UNPACK:
            strides_of(in->dims, in->ndim, st);
            w->nd = drop_axis(in, op->axis, w->n, w->src);
            w->src0 = j * st[op->axis];
            break;
        default:  // PACK: input j scattered into the output
            strides_of(out->dims, out->ndim, st);
            w->nd = drop_axis(out, op->axis, w->n, w->dst);
            w->dst0 = j * st[op->axis];
            strides_of(w->n, w->nd, w->src);
            return;
    }
    strides_of(w->n, w->nd, w->dst);
}

// t's shape is ref's with dimension axis removed (or, for PACK's output, inserted with size n).
static int same_but_axis(const tfl_tensor *t, const tfl_tensor *ref, int axis, int n) {
    if (t->type != ref->type || t->ndim != (n ? ref->ndim + 1 : ref->ndim - 1)) {
        return 0;
    }
    const tfl_tensor *big = n ? t : ref, *small = n ? ref : t;
    for (int d = 0, m = 0; d < big->ndim; d++) {
        if (d != axis && big->dims[d] != small->dims[m++]) {
            return 0;
        }
    }
    return !n || t->dims[axis] == n;
}

static int normalize_axis(tfl_op *op, int axis, int nd) {
    axis = axis < 0 ? axis + nd : axis;
    op->axis = (int16_t)axis;
    return axis >= 0 && axis < nd;
}

static const char *check_parts(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    uint32_t n;
    switch (op->code) {
        case TFL_OP_STRIDED_SLICE: {
            for (int j = 1; j < 4; j++) {
                if (!tfl_const_i32(it, op, j, &n) || n != in->ndim) {
                    return "begin, end and strides must be constant int32 tensors, one value per input dimension";
                }
            }
            if (in->ndim > 5) {
                return "input has more than 5 dimensions";
            }
            if (op->flags) {
                return op->flags & TFL_OPT_OFFSET ? "offset is not supported" : "ellipsis and new-axis masks are not supported";
            }
            walk w;
            return slice_walk(it, op, &w);
        }
        case TFL_OP_TRANSPOSE: {
            const int32_t *perm = tfl_const_i32(it, op, 1, &n);
            int seen = 0;
            if (!perm || n != in->ndim || out->ndim != in->ndim) {
                return "perm must be a constant int32 tensor, one value per dimension";
            }
            if (in->ndim < 1 || in->ndim > 5) {
                return "input must have 1 to 5 dimensions";  // as TFLite Micro
            }
            for (int d = 0; d < in->ndim; d++) {
                int32_t p = get_i32(perm, d);
                if (p < 0 || p >= in->ndim || (seen >> p & 1)) {
                    return "perm is not a permutation of the dimensions";
                }
                seen |= 1 << p;
                if (out->dims[d] != in->dims[p]) {
                    return "output shape does not match the permutation";
                }
            }
            return NULL;
        }
        case TFL_OP_SPLIT: {
            const int32_t *axis = tfl_const_i32(it, op, 0, &n);
            in = IN(1);
            if (!axis || n != 1) {
                return "axis must be a constant int32 scalar";
            }
            if (!normalize_axis(op, get_i32(axis, 0), in->ndim)) {
                return "axis out of range";
            }
            if (op->num != op->n_out || in->dims[op->axis] % op->n_out) {
                return "num_splits must match the outputs and divide the axis";
            }
            for (int j = 0; j < op->n_out; j++) {
                const tfl_tensor *o = OUT(j);
                if (o->type != in->type || o->ndim != in->ndim) {
                    return "outputs do not match the input";
                }
                for (int d = 0; d < in->ndim; d++) {
                    if (o->dims[d] != (d == op->axis ? in->dims[d] / op->n_out : in->dims[d])) {
                        return "outputs do not match the input";
                    }
                }
            }
            return NULL;
        }
        case TFL_OP_UNPACK:
            if (!normalize_axis(op, op->axis, in->ndim)) {
                return "axis out of range";
            }
            if (op->num != op->n_out || in->dims[op->axis] != op->n_out) {
                return "num must match the outputs and the axis";
            }
            for (int j = 0; j < op->n_out; j++) {
                if (!same_but_axis(OUT(j), in, op->axis, 0)) {
                    return "outputs do not match the input";
                }
            }
            return NULL;
        default:  // PACK
            if (!normalize_axis(op, op->axis, out->ndim)) {
                return "axis out of range";
            }
            if (op->num != op->n_in) {
                return "values_count must match the inputs";
            }
            for (int j = 0; j < op->n_in; j++) {
                if (op->in[j] < 0 || IN(j)->type != in->type || memcmp(IN(j)->dims, in->dims, sizeof(in->dims)) ||
                    IN(j)->ndim != in->ndim) {
                    return "inputs must have one shape and type";
                }
            }
            return same_but_axis(out, in, op->axis, op->n_in) ? NULL : "output shape does not match the inputs";
    }
}

int tfl_prepare_layout(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *data = IN(op->code == TFL_OP_SPLIT ? 1 : 0);
    if (!tfl_type_size(data->type) || (op->code != TFL_OP_UNPACK && op->code != TFL_OP_SPLIT && OUT(0)->type != data->type)) {
        return tfl_type_err(it, k, OUT(0)->type);
    }
    const char *bad = check_parts(it, k, op);
    return bad ? tfl_op_err(it, k, bad) : TFL_OK;
}

void tfl_eval_layout(const tfl_interp *it, const tfl_op *op) {
    int pack = op->code == TFL_OP_PACK, split = op->code == TFL_OP_SPLIT;
    int parts = pack ? op->n_in : op->n_out, es = tfl_type_size(OUT(0)->type);
    for (int j = 0; j < parts; j++) {
        walk w;
        part_walk(it, op, j, &w);
        run_walk(&w, (pack ? OUT(0) : OUT(j))->data, (pack ? IN(j) : IN(split))->data, es);
    }
}
