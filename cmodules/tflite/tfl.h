// tfl: a small TFLite flatbuffer interpreter with TFLite Micro's reference arithmetic.
// The core (tfl_model.c, fixedpoint.c, ops/*.c; the list is sources.mk) is plain C99 and knows
// nothing of MicroPython: memory for the tables comes from the caller's allocator, tensor data
// from the caller's arena.
#ifndef TFL_H
#define TFL_H

#include <stddef.h>
#include <stdint.h>

#define TFL_MAX_DIMS 6

// Code whose time goes to loading or to moving data, not to arithmetic, is compiled for size (the
// module's text budget is 64 KiB): such a file puts TFL_FOR_SIZE after its includes, a kernel's
// file before its load-time part, at its end. GCC builds (ESP-IDF, unix) honour it; clang, which
// builds the fuzzer, has no such pragma.
#if defined(__GNUC__) && !defined(__clang__)
#define TFL_FOR_SIZE _Pragma("GCC optimize(\"Os\")")
#else
#define TFL_FOR_SIZE
#endif

enum { TFL_OK = 0, TFL_EINVAL = 1, TFL_ENOMEM = 2 };

// TensorType values from the TFLite schema.
enum {
    TFL_FLOAT32 = 0, TFL_INT32 = 2, TFL_UINT8 = 3, TFL_INT64 = 4, TFL_INT16 = 7, TFL_INT8 = 9,
};

// The builtin operators this runtime runs, by their BuiltinOperator code in the TFLite schema
// (tfl_opnames.h names every code; ops/registry.c says which kernel runs each of these).
enum {
    TFL_OP_ADD = 0, TFL_OP_AVERAGE_POOL_2D = 1, TFL_OP_CONCATENATION = 2, TFL_OP_CONV_2D = 3,
    TFL_OP_DEPTHWISE_CONV_2D = 4, TFL_OP_DEQUANTIZE = 6, TFL_OP_FULLY_CONNECTED = 9,
    TFL_OP_LOGISTIC = 14, TFL_OP_MAX_POOL_2D = 17, TFL_OP_MUL = 18, TFL_OP_RELU = 19,
    TFL_OP_RELU6 = 21, TFL_OP_RESHAPE = 22, TFL_OP_SOFTMAX = 25, TFL_OP_TANH = 28, TFL_OP_PAD = 34,
    TFL_OP_MEAN = 40, TFL_OP_QUANTIZE = 114,
    TFL_OP_SUB = 41, TFL_OP_PRELU = 54, TFL_OP_MAXIMUM = 55, TFL_OP_MINIMUM = 57, TFL_OP_LEAKY_RELU = 98,
    TFL_OP_HARD_SWISH = 117, TFL_OP_GATHER = 36, TFL_OP_TRANSPOSE = 39, TFL_OP_SQUEEZE = 43,
    TFL_OP_STRIDED_SLICE = 45, TFL_OP_SPLIT = 49, TFL_OP_ARG_MAX = 56, TFL_OP_EXPAND_DIMS = 70,
    TFL_OP_PACK = 83, TFL_OP_UNPACK = 88, TFL_OP_RESIZE_BILINEAR = 23, TFL_OP_RESIZE_NEAREST_NEIGHBOR = 97,
    TFL_OP_TRANSPOSE_CONV = 67, TFL_OP_SVDF = 27, TFL_OP_UNIDIRECTIONAL_SEQUENCE_LSTM = 44,
};

// tfl_op.flags: options that are yes or no.
enum {
    TFL_OPT_OFFSET = 1, TFL_OPT_NEW_AXES = 2, TFL_OPT_ALIGN_CORNERS = 4, TFL_OPT_HALF_PIXEL = 8, TFL_OPT_TIME_MAJOR = 16,
};

// Tensor flags. TFL_T_COPY: constant data not aligned for its type, copied into the arena.
enum {
    TFL_T_CONST = 1, TFL_T_ARENA = 2, TFL_T_VAR = 4, TFL_T_USED = 8, TFL_T_GIN = 16, TFL_T_GOUT = 32,
    TFL_T_COPY = 64,
};

typedef struct {
    uint8_t *data;
    uint32_t bytes;
    int32_t dims[TFL_MAX_DIMS];
    uint8_t ndim, type, flags;
    float scale;
    int32_t zero_point;
    uint32_t scales_pos, nscales;  // per-channel float scales, in the model
    uint32_t name_pos, name_len;
    int32_t first, last;        // lifetime in operator indices
    int32_t alias;              // tensor whose buffer this one shares (RESHAPE), or -1
    uint32_t offset;            // in the arena (TFL_T_COPY: in its persistent part)
} tfl_tensor;

typedef struct {
    uint8_t code, act, n_in, n_out, padding;  // padding: also FULLY_CONNECTED's weights format
    uint8_t kernel;             // row of the operator table (ops/registry.c), set by prepare
    int32_t *in, *out;
    // Parameters prepared at load time; each kernel uses the ones it needs.
    int32_t mult, shift, act_min, act_max;
    int32_t in_off, w_off, out_off;
    int32_t m1, s1, m2, s2, left_shift, diff_min, radius;
    float fmin, fmax, beta;
    int16_t stride_w, stride_h, dil_w, dil_h, pad_w, pad_h, fw, fh, depth_mult, axis;
    uint32_t pc_off, pc_n;      // per-channel multipliers in the arena's persistent part
    float alpha;                // LEAKY_RELU's slope; UNIDIRECTIONAL_SEQUENCE_LSTM's cell clip
    int16_t num;                // SPLIT's, PACK's and UNPACK's part count; GATHER's batch_dims; SVDF's rank
    uint8_t mask_begin, mask_end, mask_shrink, flags;  // STRIDED_SLICE's masks; TFL_OPT_*
} tfl_op;

typedef void *(*tfl_alloc_fn)(void *ctx, size_t size);  // zeroed memory, or NULL

typedef struct {
    const uint8_t *model;
    uint32_t model_len;
    tfl_tensor *t;
    tfl_op *ops;
    int32_t *inputs, *outputs;
    uint32_t n_tensors, n_ops, n_inputs, n_outputs;
    uint32_t plan_bytes, persist_bytes;  // arena need = plan_bytes + persist_bytes
    uint8_t *arena;
    char err[160];
} tfl_interp;

int tfl_load(tfl_interp *it, const uint8_t *model, size_t len, tfl_alloc_fn alloc, void *ctx);
uint32_t tfl_arena_need(const tfl_interp *it);
int tfl_bind(tfl_interp *it, uint8_t *arena, size_t size);
int tfl_invoke(tfl_interp *it);
void tfl_reset(tfl_interp *it);
int tfl_type_size(int type);
const char *tfl_type_name(int type);
const char *tfl_op_name(int code);

// Operator preparation and evaluation (ops/registry.c, tfl_bind_op in ops/common.c); prepare
// checks everything the kernel reads. tfl_fail (tfl_model.c) sets it->err.
int tfl_prepare_op(tfl_interp *it, uint32_t index);
void tfl_bind_op(tfl_interp *it, tfl_op *op);
void tfl_eval_op(tfl_interp *it, const tfl_op *op);
int tfl_fail(tfl_interp *it, const char *fmt, ...);

#endif
