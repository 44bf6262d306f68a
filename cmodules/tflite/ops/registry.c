// The operator table: which builtin operators run, the tensors each takes, and the prepare
// and eval of each; prepare and eval of a model's operators go through it. Adding an
// operator: its TFL_OP_* code in tfl.h; its options, if it has any, in tfl_model.c
// (options_type and read_options); a prepare and an eval in its family's ops/*.c, declared in
// ops.h; a row here. A new family file also goes in sources.mk.
#include "ops.h"
#include "../tfl_opnames.h"

TFL_FOR_SIZE

// Each row: code; inputs min, max, and how many leading ones must be present (the rest are
// optional); same_type (see tfl_kernel); prepare; eval.
static const tfl_kernel kernels[] = {
    {TFL_OP_CONV_2D, 2, 3, 2, 3, tfl_prepare_conv, tfl_eval_conv},
    {TFL_OP_DEPTHWISE_CONV_2D, 2, 3, 2, 3, tfl_prepare_conv, tfl_eval_conv},
    {TFL_OP_FULLY_CONNECTED, 2, 3, 2, 3, tfl_prepare_fully_connected, tfl_eval_fully_connected},
    {TFL_OP_AVERAGE_POOL_2D, 1, 1, 1, 2, tfl_prepare_pool, tfl_eval_pool},
    {TFL_OP_MAX_POOL_2D, 1, 1, 1, 2, tfl_prepare_pool, tfl_eval_pool},
    {TFL_OP_SOFTMAX, 1, 1, 1, 0, tfl_prepare_softmax, tfl_eval_softmax},
    {TFL_OP_RELU, 1, 1, 1, 2, tfl_prepare_activation, tfl_eval_activation},
    {TFL_OP_RELU6, 1, 1, 1, 2, tfl_prepare_activation, tfl_eval_activation},
    {TFL_OP_LOGISTIC, 1, 1, 1, 2, tfl_prepare_activation, tfl_eval_activation},
    {TFL_OP_TANH, 1, 1, 1, 2, tfl_prepare_activation, tfl_eval_activation},
    {TFL_OP_QUANTIZE, 1, 1, 1, 0, tfl_prepare_quantize, tfl_eval_quantize},
    {TFL_OP_DEQUANTIZE, 1, 1, 1, 0, tfl_prepare_quantize, tfl_eval_quantize},
    {TFL_OP_ADD, 2, 2, 2, 3, tfl_prepare_binary, tfl_eval_binary},
    {TFL_OP_MUL, 2, 2, 2, 3, tfl_prepare_binary, tfl_eval_binary},
    {TFL_OP_RESHAPE, 1, 2, 1, 0, tfl_prepare_reshape, tfl_eval_reshape},
    {TFL_OP_CONCATENATION, 1, 255, 0, 0, tfl_prepare_concat, tfl_eval_concat},
    {TFL_OP_PAD, 2, 2, 1, 0, tfl_prepare_pad, tfl_eval_pad},
    {TFL_OP_MEAN, 2, 2, 1, 2, tfl_prepare_mean, tfl_eval_mean},
    {TFL_OP_SUB, 2, 2, 2, 3, tfl_prepare_binary, tfl_eval_binary},
    {TFL_OP_MAXIMUM, 2, 2, 2, 0, tfl_prepare_binary, tfl_eval_binary},
    {TFL_OP_MINIMUM, 2, 2, 2, 0, tfl_prepare_binary, tfl_eval_binary},
    {TFL_OP_PRELU, 2, 2, 2, 3, tfl_prepare_binary, tfl_eval_binary},
    {TFL_OP_LEAKY_RELU, 1, 1, 1, 2, tfl_prepare_piecewise, tfl_eval_piecewise},
    {TFL_OP_HARD_SWISH, 1, 1, 1, 2, tfl_prepare_piecewise, tfl_eval_piecewise},
    {TFL_OP_STRIDED_SLICE, 4, 4, 4, 0, tfl_prepare_layout, tfl_eval_layout},
    {TFL_OP_TRANSPOSE, 2, 2, 2, 0, tfl_prepare_layout, tfl_eval_layout},
    {TFL_OP_SPLIT, 2, 2, 2, 0, tfl_prepare_layout, tfl_eval_layout},
    {TFL_OP_UNPACK, 1, 1, 1, 0, tfl_prepare_layout, tfl_eval_layout},
    {TFL_OP_PACK, 1, 255, 0, 0, tfl_prepare_layout, tfl_eval_layout},
    {TFL_OP_SQUEEZE, 1, 1, 1, 0, tfl_prepare_reshape, tfl_eval_reshape},
    {TFL_OP_EXPAND_DIMS, 2, 2, 2, 0, tfl_prepare_reshape, tfl_eval_reshape},
    {TFL_OP_GATHER, 2, 2, 2, 0, tfl_prepare_indices, tfl_eval_indices},
    {TFL_OP_ARG_MAX, 2, 2, 2, 0, tfl_prepare_indices, tfl_eval_indices},
    {TFL_OP_RESIZE_BILINEAR, 2, 2, 2, 0, tfl_prepare_resize, tfl_eval_resize},
    {TFL_OP_RESIZE_NEAREST_NEIGHBOR, 2, 2, 2, 0, tfl_prepare_resize, tfl_eval_resize},
    {TFL_OP_TRANSPOSE_CONV, 3, 4, 3, 0, tfl_prepare_transpose_conv, tfl_eval_transpose_conv},
    {TFL_OP_SVDF, 5, 5, 3, 0, tfl_prepare_svdf, tfl_eval_svdf},
    {TFL_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 24, 24, 1, 0, tfl_prepare_lstm, tfl_eval_lstm},
};

#define N_KERNELS (sizeof(kernels) / sizeof(kernels[0]))

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

// t is int8 or float32, and a (and b, unless NULL) has t's type.
static int check_types(tfl_interp *it, uint32_t k, const tfl_tensor *t, const tfl_tensor *a, const tfl_tensor *b) {
    if (!(is_q(t) || t->type == TFL_FLOAT32)) {
        return tfl_type_err(it, k, t->type);
    }
    if (a->type != t->type || (b && b->type != t->type)) {
        return tfl_type_err(it, k, a->type != t->type ? a->type : b->type);
    }
    return TFL_OK;
}

int tfl_prepare_op(tfl_interp *it, uint32_t k) {
    tfl_op *op = &it->ops[k];
    for (int j = 0; j < op->n_out; j++) {
        if (!(OUT(j)->flags & TFL_T_ARENA)) {
            return tfl_op_err(it, k, "output is not a computed tensor");
        }
    }
    for (uint32_t i = 0; i < N_KERNELS; i++) {
        const tfl_kernel *kn = &kernels[i];
        if (kn->code != op->code) {
            continue;
        }
        if (op->n_in < kn->min_in || op->n_in > kn->max_in || op->n_out < 1 || (op->n_out > 1 && op->code != TFL_OP_SPLIT && op->code != TFL_OP_UNPACK)) {
            return tfl_op_err(it, k, "wrong number of tensors");
        }
        for (int j = 0; j < kn->present; j++) {
            if (op->in[j] < 0) {
                return tfl_op_err(it, k, "wrong number of tensors");
            }
        }
        if (kn->same_type) {
            const tfl_tensor *a = kn->same_type == 3 ? IN(1) : OUT(0), *b = kn->same_type == 3 ? OUT(0) : NULL;
            int r = check_types(it, k, IN(0), a, b);
            if (r) {
                return r;
            }
        }
        op->kernel = (uint8_t)i;
        return kn->prepare(it, k, op);
    }
    const char *type = op->n_in && op->in[0] >= 0 ? tfl_type_name(IN(0)->type) : "none";
    return tfl_fail(it, "unsupported operator %s (builtin code %d) at index %lu, tensor type %s",
        tfl_op_name(op->code), op->code, (unsigned long)k, type);
}

void tfl_eval_op(tfl_interp *it, const tfl_op *op) {
    kernels[op->kernel].eval(it, op);
}
