// Operators that move bytes without arithmetic: RESHAPE (usually a shared buffer, so no copy),
// CONCATENATION and PAD, for any element type the runtime knows.
#include "ops.h"

TFL_FOR_SIZE

int tfl_prepare_reshape(tfl_interp *it, uint32_t k, tfl_op *op) {
    tfl_tensor *in = IN(0), *out = OUT(0);
    if (in->type != out->type) {
        return tfl_type_err(it, k, out->type);
    }
    if (in->bytes != out->bytes) {
        return tfl_op_err(it, k, "output size does not match the input");
    }
    // The output shares the input's buffer unless both are the graph's own input and output.
    if ((in->flags & TFL_T_ARENA) && !(out->flags & TFL_T_GOUT && in->flags & TFL_T_GIN)) {
        out->alias = op->in[0];
    }
    return TFL_OK;
}

void tfl_eval_reshape(const tfl_interp *it, const tfl_op *op) {
    if (OUT(0)->data != IN(0)->data) {
        memmove(OUT(0)->data, IN(0)->data, OUT(0)->bytes);
    }
}

int tfl_prepare_concat(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *out = OUT(0);
    if (op->act != 0) {
        return tfl_op_err(it, k, "unsupported fused activation");
    }
    if (!tfl_type_size(out->type) || out->type == TFL_INT64) {
        return tfl_type_err(it, k, out->type);
    }
    int axis = op->axis < 0 ? op->axis + out->ndim : op->axis;
    if (axis < 0 || axis >= out->ndim) {
        return tfl_op_err(it, k, "axis out of range");
    }
    op->axis = (int16_t)axis;
    int64_t sum = 0;
    for (int j = 0; j < op->n_in; j++) {
        if (op->in[j] < 0) {
            return tfl_op_err(it, k, "missing input");
        }
        const tfl_tensor *in = IN(j);
        if (in->type != out->type) {
            return tfl_type_err(it, k, in->type);
        }
        if (in->ndim != out->ndim) {
            return tfl_op_err(it, k, "input shapes do not match the output");
        }
        for (int d = 0; d < out->ndim; d++) {
            if (d != axis && in->dims[d] != out->dims[d]) {
                return tfl_op_err(it, k, "input shapes do not match the output");
            }
        }
        if (is_q(in) && (in->scale != out->scale || in->zero_point != out->zero_point)) {
            return tfl_op_err(it, k, "int8 inputs must share the output's quantization");
        }
        sum += in->dims[axis];
    }
    if (sum != out->dims[axis]) {
        return tfl_op_err(it, k, "input shapes do not match the output");
    }
    return TFL_OK;
}

void tfl_eval_concat(const tfl_interp *it, const tfl_op *op) {
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

int tfl_prepare_pad(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    if (!(is_q(in) || in->type == TFL_FLOAT32 || in->type == TFL_INT16 || in->type == TFL_INT32)) {
        return tfl_type_err(it, k, in->type);
    }
    if (out->type != in->type || in->ndim != out->ndim) {
        return tfl_op_err(it, k, "output does not match the input");
    }
    uint32_t n;
    const int32_t *p = tfl_const_i32(it, op, 1, &n);
    if (!p || n != 2u * in->ndim) {
        return tfl_op_err(it, k, "paddings must be a constant int32 [rank, 2] tensor");
    }
    for (int d = 0; d < in->ndim; d++) {
        int32_t before = get_i32(p, 2 * d), after = get_i32(p, 2 * d + 1);
        if (before < 0 || after < 0 || (int64_t)in->dims[d] + before + after != out->dims[d]) {
            return tfl_op_err(it, k, "paddings do not match the output shape");
        }
    }
    return TFL_OK;
}

void tfl_eval_pad(const tfl_interp *it, const tfl_op *op) {
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
