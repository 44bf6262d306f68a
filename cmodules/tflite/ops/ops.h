// What the operator files (ops/*.c) share: the operator table's row, tensor access, the checks
// several prepares make (common.c), the window geometry, and every operator family's prepare
// and eval (the table in registry.c names them). Internal to the core; the API is tfl.h.
#ifndef TFL_OPS_H
#define TFL_OPS_H

#include <string.h>

#include "../fixedpoint.h"
#include "../tfl.h"

// prepare runs once at load, after the table's tensor counts and types are checked: it checks
// everything else eval reads (an untrusted model must not crash eval) and fills the
// operator's parameters. eval runs the kernel.
typedef int (*tfl_prepare_fn)(tfl_interp *it, uint32_t k, tfl_op *op);
typedef void (*tfl_eval_fn)(const tfl_interp *it, const tfl_op *op);

// A row of the operator table (registry.c). Every operator has one output, but SPLIT and UNPACK,
// which have one per part.
typedef struct {
    uint8_t code;                     // TFL_OP_*
    uint8_t min_in, max_in, present;  // inputs: how many, and how many leading ones not omitted
    uint8_t same_type;  // 0: prepare checks types; 2: input 0 and the output, 3: inputs 0 and 1
                        // and the output, have one type, int8 or float32
    tfl_prepare_fn prepare;
    tfl_eval_fn eval;
} tfl_kernel;

// On the hot kernels: a fixed alignment, so their loops run alike wherever the link puts them.
#if defined(__GNUC__)
#define TFL_HOT __attribute__((aligned(64)))
#else
#define TFL_HOT
#endif

// On an integer kernel's innermost loop, in a function of its own: GCC may vectorise it where the
// target has SIMD (x86's SSE2; the ESP32-S3's compiler has no such target and leaves it scalar).
// Integer sums wrap alike in any order, so the bits stay the reference's. Not for float loops.
#if defined(__GNUC__) && !defined(__clang__)
#define TFL_VECTORIZE __attribute__((optimize("tree-loop-vectorize")))
#else
#define TFL_VECTORIZE
#endif

// The operator's tensors (it and op in scope).
#define IN(i) (&it->t[op->in[i]])
#define OUT(i) (&it->t[op->out[i]])

static inline uint32_t flat(const tfl_tensor *t) {
    uint32_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        n *= (uint32_t)t->dims[d];
    }
    return n;
}

static inline int dim(const tfl_tensor *t, int d) {
    return t->dims[d];
}

static inline int is_q(const tfl_tensor *t) {
    return t->type == TFL_INT8;
}

static inline float act_f(float x, float lo, float hi) {
    float y = x < lo ? lo : x;
    return hi < y ? hi : y;
}

// Input j's data, or NULL when the operator omits that (optional) input.
static inline const void *opt_data(const tfl_interp *it, const tfl_op *op, int j) {
    return op->n_in > j && op->in[j] >= 0 ? it->t[op->in[j]].data : NULL;
}

// Constant int32 data may sit unaligned in the model.
static inline int32_t get_i32(const int32_t *p, uint32_t i) {
    int32_t v;
    memcpy(&v, p + i, 4);
    return v;
}

// Element i of an int8, int16 or int32 tensor.
static inline int32_t int_at(const tfl_tensor *t, uint32_t i) {
    switch (t->type) {
        case TFL_INT8:
            return ((const int8_t *)t->data)[i];
        case TFL_INT16:
            return ((const int16_t *)(const void *)t->data)[i];
        default:
            return ((const int32_t *)(const void *)t->data)[i];
    }
}

// Per-channel multipliers and shifts in the arena's persistent part (tfl_prepare_filter
// reserves them, tfl_bind_op fills them).
static inline int32_t *pc_mult(const tfl_interp *it, const tfl_op *op) {
    return (int32_t *)(void *)(it->arena + it->plan_bytes + op->pc_off);
}

static inline int8_t *pc_shift(const tfl_interp *it, const tfl_op *op) {
    return (int8_t *)(it->arena + it->plan_bytes + op->pc_off + 4 * op->pc_n);
}

// One axis of a window (convolution or pooling) for one output coordinate: the input
// coordinate of filter tap 0 and the taps [f0, f1) that land inside the input. Taps outside
// are skipped, as the reference kernels skip them; the kept ones stay in order.
typedef struct {
    int i0, f0, f1;
} tfl_span;

tfl_span tfl_taps(int o, int stride, int pad, int dil, int in, int filt);  // common.c

// common.c: checks and parameters several prepares share.
int tfl_op_err(tfl_interp *it, uint32_t k, const char *what);
int tfl_type_err(tfl_interp *it, uint32_t k, int type);
int tfl_act_range(tfl_interp *it, uint32_t k, tfl_op *op, const tfl_tensor *out);
int tfl_window(int in, int filt, int stride, int dil, int padding, int *out, int16_t *pad);
int tfl_prepare_filter(tfl_interp *it, uint32_t k, tfl_op *op, int channels);
const int32_t *tfl_const_i32(tfl_interp *it, const tfl_op *op, int j, uint32_t *n);

// One prepare and one eval per operator family (several codes may share them).
int tfl_prepare_conv(tfl_interp *it, uint32_t k, tfl_op *op);            // conv.c, both convs
void tfl_eval_conv(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_fully_connected(tfl_interp *it, uint32_t k, tfl_op *op); // fully_connected.c
void tfl_eval_fully_connected(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_pool(tfl_interp *it, uint32_t k, tfl_op *op);            // pool.c
void tfl_eval_pool(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_softmax(tfl_interp *it, uint32_t k, tfl_op *op);         // softmax.c
void tfl_eval_softmax(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_activation(tfl_interp *it, uint32_t k, tfl_op *op);      // activations.c
void tfl_eval_activation(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_quantize(tfl_interp *it, uint32_t k, tfl_op *op);        // quantize.c
void tfl_eval_quantize(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_binary(tfl_interp *it, uint32_t k, tfl_op *op);          // elementwise.c, every broadcasting one
void tfl_eval_binary(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_reshape(tfl_interp *it, uint32_t k, tfl_op *op);         // shape.c
void tfl_eval_reshape(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_concat(tfl_interp *it, uint32_t k, tfl_op *op);
void tfl_eval_concat(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_pad(tfl_interp *it, uint32_t k, tfl_op *op);
void tfl_eval_pad(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_mean(tfl_interp *it, uint32_t k, tfl_op *op);            // reduce.c
void tfl_eval_mean(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_piecewise(tfl_interp *it, uint32_t k, tfl_op *op);       // piecewise.c
void tfl_eval_piecewise(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_layout(tfl_interp *it, uint32_t k, tfl_op *op);          // layout.c
void tfl_eval_layout(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_indices(tfl_interp *it, uint32_t k, tfl_op *op);         // indices.c
void tfl_eval_indices(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_resize(tfl_interp *it, uint32_t k, tfl_op *op);          // resize.c
void tfl_eval_resize(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_transpose_conv(tfl_interp *it, uint32_t k, tfl_op *op);  // transpose_conv.c
void tfl_eval_transpose_conv(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_svdf(tfl_interp *it, uint32_t k, tfl_op *op);            // svdf.c
void tfl_eval_svdf(const tfl_interp *it, const tfl_op *op);
int tfl_prepare_lstm(tfl_interp *it, uint32_t k, tfl_op *op);            // lstm.c
void tfl_eval_lstm(const tfl_interp *it, const tfl_op *op);
void tfl_bind_lstm(tfl_interp *it, tfl_op *op);  // from tfl_bind_op

#endif
