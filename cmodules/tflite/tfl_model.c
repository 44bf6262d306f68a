// Loading a .tflite flatbuffer in place: every offset, length and index read from the file is
// checked against the buffer before use. Then the arena plan (greedy by size over lifetimes).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tfl.h"

TFL_FOR_SIZE

#define MAX_TENSORS 8192
#define MAX_OPS 8192
#define MAX_BYTES 0x40000000u
#define ALIGN 16

typedef struct {
    const uint8_t *b;
    uint32_t n;
    int bad;
} fb_t;

typedef struct {
    uint32_t pos, vt;
    uint16_t vtlen, tlen;
} fb_tab;

static uint32_t rd32(const uint8_t *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static int in_range(const fb_t *f, uint64_t pos, uint64_t size) {
    return pos <= f->n && size <= f->n - pos;
}

// A table at pos: its vtable and its declared size must lie inside the buffer.
static int fb_table(fb_t *f, uint32_t pos, fb_tab *t) {
    memset(t, 0, sizeof(*t));
    if (!in_range(f, pos, 4)) {
        f->bad = 1;
        return 0;
    }
    int64_t vt = (int64_t)pos - (int32_t)rd32(f->b + pos);
    if (vt < 0 || !in_range(f, (uint64_t)vt, 4)) {
        f->bad = 1;
        return 0;
    }
    t->pos = pos;
    t->vt = (uint32_t)vt;
    t->vtlen = rd16(f->b + vt);
    t->tlen = rd16(f->b + vt + 2);
    if (t->vtlen < 4 || (t->vtlen & 1) || !in_range(f, t->vt, t->vtlen) || !in_range(f, pos, t->tlen) || t->tlen < 4) {
        f->bad = 1;
        t->vtlen = 0;
        return 0;
    }
    return 1;
}

// Absolute position of field id holding size bytes, or 0 when absent.
static uint32_t fb_field(fb_t *f, const fb_tab *t, int id, uint32_t size) {
    uint32_t e = 4 + 2 * (uint32_t)id;
    if (e + 2 > t->vtlen) {
        return 0;
    }
    uint16_t off = rd16(f->b + t->vt + e);
    if (off == 0) {
        return 0;
    }
    if (off < 4 || (uint32_t)off + size > t->tlen) {
        f->bad = 1;
        return 0;
    }
    return t->pos + off;
}

static int32_t fb_i32(fb_t *f, const fb_tab *t, int id, int32_t def) {
    uint32_t p = fb_field(f, t, id, 4);
    return p ? (int32_t)rd32(f->b + p) : def;
}

static uint8_t fb_u8(fb_t *f, const fb_tab *t, int id, uint8_t def) {
    uint32_t p = fb_field(f, t, id, 1);
    return p ? f->b[p] : def;
}

static float fb_f32(fb_t *f, const fb_tab *t, int id, float def) {
    uint32_t p = fb_field(f, t, id, 4);
    if (!p) {
        return def;
    }
    uint32_t u = rd32(f->b + p);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static uint64_t fb_u64(fb_t *f, const fb_tab *t, int id) {
    uint32_t p = fb_field(f, t, id, 8);
    return p ? rd32(f->b + p) | (uint64_t)rd32(f->b + p + 4) << 32 : 0;
}

// Target of an offset field, or 0 when absent.
static uint32_t fb_ref(fb_t *f, const fb_tab *t, int id) {
    uint32_t p = fb_field(f, t, id, 4);
    if (!p) {
        return 0;
    }
    uint64_t target = (uint64_t)p + rd32(f->b + p);
    if (!in_range(f, target, 4)) {
        f->bad = 1;
        return 0;
    }
    return (uint32_t)target;
}

// Vector field: position of its first element and its length; 0 elements when absent.
static uint32_t fb_vec(fb_t *f, const fb_tab *t, int id, uint32_t esize, uint32_t *count) {
    *count = 0;
    uint32_t v = fb_ref(f, t, id);
    if (!v) {
        return 0;
    }
    uint32_t n = rd32(f->b + v);
    if (!in_range(f, (uint64_t)v + 4, (uint64_t)n * esize)) {
        f->bad = 1;
        return 0;
    }
    *count = n;
    return v + 4;
}

// Table number i of a vector of tables.
static int fb_vec_table(fb_t *f, uint32_t vec, uint32_t i, fb_tab *t) {
    uint64_t e = (uint64_t)vec + 4 * (uint64_t)i;
    if (!in_range(f, e, 4) || e + rd32(f->b + e) > f->n) {
        f->bad = 1;
        memset(t, 0, sizeof(*t));
        return 0;
    }
    return fb_table(f, (uint32_t)(e + rd32(f->b + e)), t);
}

int tfl_fail(tfl_interp *it, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->err, sizeof(it->err), fmt, ap);
    va_end(ap);
    return TFL_EINVAL;
}

int tfl_type_size(int type) {
    switch (type) {
        case TFL_FLOAT32:
        case TFL_INT32:
            return 4;
        case TFL_INT16:
            return 2;
        case TFL_INT8:
        case TFL_UINT8:
        case 6:  // BOOL
            return 1;
        case TFL_INT64:
            return 8;
        default:
            return 0;
    }
}

const char *tfl_type_name(int type) {
    static const char *const names[] = {
        "float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16",
        "complex64", "int8", "float64", "complex128", "uint64", "resource", "variant",
        "uint32", "uint16", "int4",
    };
    return type >= 0 && type < (int)(sizeof(names) / sizeof(names[0])) ? names[type] : "unknown";
}

static int bad_model(tfl_interp *it, const char *what) {
    return tfl_fail(it, "malformed model: %s", what);
}

// Reads an int32 index vector, checking every entry (-1 allowed where optional).
static int read_indices(tfl_interp *it, fb_t *f, const fb_tab *t, int id, int32_t **out, uint32_t *count,
    tfl_alloc_fn alloc, void *ctx, int allow_optional) {
    uint32_t n;
    uint32_t v = fb_vec(f, t, id, 4, &n);
    if (f->bad) {
        return bad_model(it, "index vector out of bounds");
    }
    *count = n;
    *out = n ? alloc(ctx, n * sizeof(int32_t)) : NULL;
    if (n && !*out) {
        return TFL_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t x = (int32_t)rd32(f->b + v + 4 * i);
        if (x < (allow_optional ? -1 : 0) || x >= (int32_t)it->n_tensors) {
            return tfl_fail(it, "malformed model: tensor index %ld out of range", (long)x);
        }
        (*out)[i] = x;
    }
    return TFL_OK;
}

// BuiltinOptions union types from the TFLite schema, for the operators that have options.
enum {
    OPT_CONV_2D = 1, OPT_DEPTHWISE_CONV_2D = 2, OPT_POOL_2D = 5, OPT_FULLY_CONNECTED = 8,
    OPT_SOFTMAX = 9, OPT_CONCATENATION = 10, OPT_ADD = 11, OPT_MUL = 21,
    OPT_SUB = 28, OPT_LEAKY_RELU = 75, OPT_GATHER = 23, OPT_STRIDED_SLICE = 32, OPT_SPLIT = 35,
    OPT_PACK = 59, OPT_UNPACK = 64, OPT_RESIZE_BILINEAR = 15, OPT_RESIZE_NEAREST_NEIGHBOR = 74,
    OPT_TRANSPOSE_CONV = 49, OPT_SVDF = 6, OPT_UNIDIRECTIONAL_SEQUENCE_LSTM = 71,
};

// The BuiltinOptions union type an operator's options come in; 0 for none.
static int options_type(int code) {
    switch (code) {
        case TFL_OP_CONV_2D: return OPT_CONV_2D;
        case TFL_OP_DEPTHWISE_CONV_2D: return OPT_DEPTHWISE_CONV_2D;
        case TFL_OP_AVERAGE_POOL_2D: case TFL_OP_MAX_POOL_2D: return OPT_POOL_2D;
        case TFL_OP_FULLY_CONNECTED: return OPT_FULLY_CONNECTED;
        case TFL_OP_SOFTMAX: return OPT_SOFTMAX;
        case TFL_OP_CONCATENATION: return OPT_CONCATENATION;
        case TFL_OP_ADD: return OPT_ADD;
        case TFL_OP_MUL: return OPT_MUL;
        case TFL_OP_SUB: return OPT_SUB;
        case TFL_OP_LEAKY_RELU: return OPT_LEAKY_RELU;
        case TFL_OP_GATHER: return OPT_GATHER;
        case TFL_OP_STRIDED_SLICE: return OPT_STRIDED_SLICE;
        case TFL_OP_SPLIT: return OPT_SPLIT;
        case TFL_OP_PACK: return OPT_PACK;
        case TFL_OP_UNPACK: return OPT_UNPACK;
        case TFL_OP_RESIZE_BILINEAR: return OPT_RESIZE_BILINEAR;
        case TFL_OP_RESIZE_NEAREST_NEIGHBOR: return OPT_RESIZE_NEAREST_NEIGHBOR;
        case TFL_OP_TRANSPOSE_CONV: return OPT_TRANSPOSE_CONV;
        case TFL_OP_SVDF: return OPT_SVDF;
        case TFL_OP_UNIDIRECTIONAL_SEQUENCE_LSTM: return OPT_UNIDIRECTIONAL_SEQUENCE_LSTM;
        default: return 0;
    }
}

// Out-of-range option values stay out of range (prepare refuses them).
static int32_t clamp_i16(int32_t v) {
    return v < -256 ? -256 : v > 256 ? 256 : v;
}

// The parameters of operator table ot that its kernel takes from the options: the options
// table if its union type is the one the operator expects, otherwise an empty table whose
// fields all read as their defaults.
static void read_options(fb_t *f, const fb_tab *ot, tfl_op *op) {
    uint32_t pos = fb_ref(f, ot, 4);  // checked for every operator, with options or not
    int type = options_type(op->code);
    fb_tab o = {0, 0, 0, 0};
    if (type && pos && fb_u8(f, ot, 3, 0) == type) {
        fb_table(f, pos, &o);
    }
    switch (op->code) {
        case TFL_OP_CONV_2D:
            op->padding = fb_u8(f, &o, 0, 0);
            op->stride_w = (int16_t)fb_i32(f, &o, 1, 0);
            op->stride_h = (int16_t)fb_i32(f, &o, 2, 0);
            op->act = fb_u8(f, &o, 3, 0);
            op->dil_w = (int16_t)fb_i32(f, &o, 4, 1);
            op->dil_h = (int16_t)fb_i32(f, &o, 5, 1);
            break;
        case TFL_OP_DEPTHWISE_CONV_2D: {
            op->padding = fb_u8(f, &o, 0, 0);
            op->stride_w = (int16_t)fb_i32(f, &o, 1, 0);
            op->stride_h = (int16_t)fb_i32(f, &o, 2, 0);
            int32_t dm = fb_i32(f, &o, 3, 0);
            op->depth_mult = (int16_t)(dm < 0 || dm > 32767 ? -1 : dm);
            op->act = fb_u8(f, &o, 4, 0);
            op->dil_w = (int16_t)fb_i32(f, &o, 5, 1);
            op->dil_h = (int16_t)fb_i32(f, &o, 6, 1);
            break;
        }
        case TFL_OP_TRANSPOSE_CONV:
            op->padding = fb_u8(f, &o, 0, 0);
            op->stride_w = (int16_t)fb_i32(f, &o, 1, 0);
            op->stride_h = (int16_t)fb_i32(f, &o, 2, 0);
            op->act = fb_u8(f, &o, 3, 0);
            break;
        case TFL_OP_AVERAGE_POOL_2D:
        case TFL_OP_MAX_POOL_2D:
            op->padding = fb_u8(f, &o, 0, 0);
            op->stride_w = (int16_t)fb_i32(f, &o, 1, 0);
            op->stride_h = (int16_t)fb_i32(f, &o, 2, 0);
            op->fw = (int16_t)fb_i32(f, &o, 3, 0);
            op->fh = (int16_t)fb_i32(f, &o, 4, 0);
            op->act = fb_u8(f, &o, 5, 0);
            break;
        case TFL_OP_FULLY_CONNECTED:
            op->act = fb_u8(f, &o, 0, 0);
            op->padding = fb_u8(f, &o, 1, 0);  // weights_format
            break;
        case TFL_OP_SOFTMAX:
            op->beta = fb_f32(f, &o, 0, 0.0f);
            break;
        case TFL_OP_CONCATENATION: {
            int32_t axis = fb_i32(f, &o, 0, 0);
            op->axis = (int16_t)(axis < -64 || axis > 64 ? 64 : axis);
            op->act = fb_u8(f, &o, 1, 0);
            break;
        }
        case TFL_OP_ADD:
        case TFL_OP_MUL:
        case TFL_OP_SUB:
            op->act = fb_u8(f, &o, 0, 0);
            break;
        case TFL_OP_LEAKY_RELU:
            op->alpha = fb_f32(f, &o, 0, 0.0f);
            break;
        case TFL_OP_STRIDED_SLICE:
            // masks: one bit per dimension (at most 6 matter)
            op->mask_begin = (uint8_t)fb_i32(f, &o, 0, 0);
            op->mask_end = (uint8_t)fb_i32(f, &o, 1, 0);
            op->mask_shrink = (uint8_t)fb_i32(f, &o, 4, 0);
            op->flags = (fb_i32(f, &o, 2, 0) || fb_i32(f, &o, 3, 0) ? TFL_OPT_NEW_AXES : 0) |
                (fb_u8(f, &o, 5, 0) ? TFL_OPT_OFFSET : 0);
            break;
        case TFL_OP_SPLIT:
            op->num = (int16_t)clamp_i16(fb_i32(f, &o, 0, 0));
            break;
        case TFL_OP_SVDF:
            op->num = (int16_t)clamp_i16(fb_i32(f, &o, 0, 0));
            op->act = fb_u8(f, &o, 1, 0);
            break;
        case TFL_OP_UNIDIRECTIONAL_SEQUENCE_LSTM:  // proj_clip (2) only matters with projection
            op->act = fb_u8(f, &o, 0, 0);
            op->alpha = fb_f32(f, &o, 1, 0.0f);
            op->flags = fb_u8(f, &o, 3, 0) ? TFL_OPT_TIME_MAJOR : 0;
            break;
        case TFL_OP_PACK:
        case TFL_OP_UNPACK:
        case TFL_OP_GATHER: {
            op->num = (int16_t)clamp_i16(fb_i32(f, &o, op->code == TFL_OP_GATHER ? 1 : 0, 0));
            op->axis = (int16_t)clamp_i16(fb_i32(f, &o, op->code == TFL_OP_GATHER ? 0 : 1, 0));
            break;
        }
        case TFL_OP_RESIZE_BILINEAR:  // fields 0 and 1 are the deprecated new_height, new_width
        case TFL_OP_RESIZE_NEAREST_NEIGHBOR: {
            int first = op->code == TFL_OP_RESIZE_BILINEAR ? 2 : 0;
            op->flags = (fb_u8(f, &o, first, 0) ? TFL_OPT_ALIGN_CORNERS : 0) | (fb_u8(f, &o, first + 1, 0) ? TFL_OPT_HALF_PIXEL : 0);
            break;
        }
    }
}

// Shape, type, quantization and data of a tensor the graph uses.
static int read_tensor(tfl_interp *it, fb_t *f, const fb_tab *tt, uint32_t bufvec, uint32_t nbuf, uint32_t i) {
    tfl_tensor *t = &it->t[i];
    uint32_t nd;
    uint32_t sv = fb_vec(f, tt, 0, 4, &nd);
    if (f->bad) {
        return bad_model(it, "tensor shape out of bounds");
    }
    if (nd > TFL_MAX_DIMS) {
        return tfl_fail(it, "tensor %lu has %lu dimensions (at most %d)", (unsigned long)i, (unsigned long)nd, TFL_MAX_DIMS);
    }
    t->ndim = (uint8_t)nd;
    t->type = fb_u8(f, tt, 1, 0);
    int esize = tfl_type_size(t->type);
    if (!esize) {
        return tfl_fail(it, "tensor %lu has unsupported type %s", (unsigned long)i, tfl_type_name(t->type));
    }
    uint64_t count = 1;
    for (uint32_t d = 0; d < nd; d++) {
        int32_t v = (int32_t)rd32(f->b + sv + 4 * d);
        if (v < 0) {
            return tfl_fail(it, "tensor %lu has a negative or dynamic dimension %ld", (unsigned long)i, (long)v);
        }
        t->dims[d] = v;
        count *= (uint64_t)v;
        if (count > MAX_BYTES) {
            return tfl_fail(it, "tensor %lu is too large", (unsigned long)i);
        }
    }
    if (count * (uint64_t)esize > MAX_BYTES) {
        return tfl_fail(it, "tensor %lu is too large", (unsigned long)i);
    }
    t->bytes = (uint32_t)(count * (uint32_t)esize);
    t->name_pos = 0;
    uint32_t nm = fb_vec(f, tt, 3, 1, &t->name_len);
    t->name_pos = nm;
    if (fb_u8(f, tt, 5, 0)) {
        t->flags |= TFL_T_VAR;
    }
    // Quantization: first scale and zero point; per-channel scales stay in the model.
    fb_tab q;
    uint32_t qp = fb_ref(f, tt, 4);
    if (qp && fb_table(f, qp, &q)) {
        uint32_t ns, nz;
        uint32_t sp = fb_vec(f, &q, 2, 4, &ns);
        uint32_t zp = fb_vec(f, &q, 3, 8, &nz);
        if (ns) {
            uint32_t u = rd32(f->b + sp);
            memcpy(&t->scale, &u, 4);
            t->scales_pos = sp;
            t->nscales = ns;
            if (nz && nz != ns) {
                return tfl_fail(it, "tensor %lu: %lu scales but %lu zero points", (unsigned long)i, (unsigned long)ns, (unsigned long)nz);
            }
            if (nz) {
                int64_t z = (int64_t)(rd32(f->b + zp) | (uint64_t)rd32(f->b + zp + 4) << 32);
                int64_t zmin = t->type == TFL_UINT8 ? 0 : t->type == TFL_INT8 ? -128 : -32768;
                int64_t zmax = t->type == TFL_UINT8 ? 255 : t->type == TFL_INT8 ? 127 : 32767;
                if (z < zmin || z > zmax) {
                    return tfl_fail(it, "tensor %lu: zero point out of range", (unsigned long)i);
                }
                t->zero_point = (int32_t)z;
            }
            if (t->type == TFL_INT8 || t->type == TFL_INT16 || t->type == TFL_UINT8) {
                for (uint32_t j = 0; j < ns; j++) {
                    uint32_t u = rd32(f->b + sp + 4 * j);
                    float s;
                    memcpy(&s, &u, 4);
                    if (!(s > 0.0f && s < 3.0e38f)) {
                        return tfl_fail(it, "tensor %lu: invalid quantization scale", (unsigned long)i);
                    }
                }
            }
        }
    }
    if (f->bad) {
        return bad_model(it, "tensor fields out of bounds");
    }
    if ((t->type == TFL_INT8 || t->type == TFL_INT16 || t->type == TFL_UINT8) && !t->nscales) {
        return tfl_fail(it, "tensor %lu: %s without quantization parameters", (unsigned long)i, tfl_type_name(t->type));
    }
    // Constant data from the buffer table (inline vector, or offset/size for large models).
    uint32_t b = (uint32_t)fb_i32(f, tt, 2, 0);
    if (b >= nbuf) {
        return tfl_fail(it, "malformed model: tensor %lu refers to buffer %lu of %lu", (unsigned long)i, (unsigned long)b, (unsigned long)nbuf);
    }
    if (b) {
        fb_tab bt;
        uint32_t nb = 0, dp = 0;
        if (fb_vec_table(f, bufvec, b, &bt)) {
            dp = fb_vec(f, &bt, 0, 1, &nb);
            if (!nb) {
                uint64_t off = fb_u64(f, &bt, 1), size = fb_u64(f, &bt, 2);
                if (off > 1) {
                    if (!in_range(f, off, size)) {
                        return bad_model(it, "buffer offset out of bounds");
                    }
                    dp = (uint32_t)off;
                    nb = (uint32_t)size;
                }
            }
        }
        if (f->bad) {
            return bad_model(it, "buffer out of bounds");
        }
        if (nb) {
            if (nb != t->bytes) {
                return tfl_fail(it, "tensor %lu: buffer has %lu bytes, shape needs %lu", (unsigned long)i, (unsigned long)nb, (unsigned long)t->bytes);
            }
            t->flags |= TFL_T_CONST;
            t->data = (uint8_t *)(uintptr_t)(f->b + dp);
            // Kernels read weights in place, but chips like the ESP32 fault on unaligned words:
            // data not aligned for its type (a model at an odd address, as a frozen bytes
            // constant may be) is copied into the arena's persistent part by tfl_bind.
            uintptr_t al = esize > 4 ? 4 : (uintptr_t)esize;
            if ((uintptr_t)t->data & (al - 1)) {
                t->flags |= TFL_T_COPY;
                t->offset = it->persist_bytes;
                it->persist_bytes += (t->bytes + 15) & ~15u;
            }
        }
    }
    return TFL_OK;
}

static int32_t root_of(const tfl_interp *it, int32_t i) {
    // Alias chains only point to earlier-produced tensors, so this ends.
    while (it->t[i].alias >= 0) {
        i = it->t[i].alias;
    }
    return i;
}

static uint32_t align_up(uint32_t x) {
    return (x + ALIGN - 1) & ~(uint32_t)(ALIGN - 1);
}

// Greedy by size: biggest buffers first, each at the lowest offset that does not overlap a
// buffer already placed whose lifetime overlaps its own.
static int plan(tfl_interp *it, tfl_alloc_fn alloc, void *ctx) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        if ((it->t[i].flags & TFL_T_ARENA) && it->t[i].alias < 0) {
            n++;
        }
    }
    if (!n) {
        it->plan_bytes = 0;
        return TFL_OK;
    }
    uint32_t *order = alloc(ctx, 2 * n * sizeof(uint32_t));
    if (!order) {
        return TFL_ENOMEM;
    }
    uint32_t *placed = order + n;
    n = 0;
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        if ((it->t[i].flags & TFL_T_ARENA) && it->t[i].alias < 0) {
            order[n++] = i;
        }
    }
    // Insertion sort by size, descending (stable: index order on ties).
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = order[i], j = i;
        while (j > 0 && it->t[order[j - 1]].bytes < it->t[x].bytes) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    uint32_t np = 0, total = 0;
    for (uint32_t k = 0; k < n; k++) {
        tfl_tensor *t = &it->t[order[k]];
        uint32_t size = align_up(t->bytes), cand = 0;
        for (uint32_t j = 0; j < np; j++) {
            const tfl_tensor *p = &it->t[placed[j]];
            if (p->last < t->first || p->first > t->last) {
                continue;
            }
            if (cand + size <= p->offset) {
                break;
            }
            uint32_t end = p->offset + align_up(p->bytes);
            if (end > cand) {
                cand = end;
            }
        }
        t->offset = cand;
        if (cand + size > total) {
            total = cand + size;
        }
        // Keep placed sorted by offset.
        uint32_t j = np++;
        while (j > 0 && it->t[placed[j - 1]].offset > cand) {
            placed[j] = placed[j - 1];
            j--;
        }
        placed[j] = order[k];
    }
    it->plan_bytes = total;
    return TFL_OK;
}

int tfl_load(tfl_interp *it, const uint8_t *model, size_t len, tfl_alloc_fn alloc, void *ctx) {
    fb_t fs = {model, (uint32_t)len, 0}, *f = &fs;
    it->model = model;
    it->model_len = (uint32_t)len;
    it->err[0] = 0;
    if (len < 8 || len > 0x7fffffff) {
        return bad_model(it, "too short");
    }
    fb_tab m, sg;
    if (!fb_table(f, rd32(model), &m)) {
        return bad_model(it, "bad root table");
    }
    uint32_t version = (uint32_t)fb_i32(f, &m, 0, 0);
    if (version != 3) {
        return tfl_fail(it, "unsupported schema version %lu (expected 3)", (unsigned long)version);
    }
    uint32_t nsg, ncodes, nbuf;
    uint32_t codes = fb_vec(f, &m, 1, 4, &ncodes);
    uint32_t sgs = fb_vec(f, &m, 2, 4, &nsg);
    uint32_t bufs = fb_vec(f, &m, 4, 4, &nbuf);
    if (f->bad || nsg < 1 || !fb_vec_table(f, sgs, 0, &sg)) {
        return bad_model(it, "no subgraph");
    }
    uint32_t tv = fb_vec(f, &sg, 0, 4, &it->n_tensors);
    uint32_t ov = fb_vec(f, &sg, 3, 4, &it->n_ops);
    if (f->bad) {
        return bad_model(it, "subgraph out of bounds");
    }
    if (it->n_tensors > MAX_TENSORS || it->n_ops > MAX_OPS) {
        return tfl_fail(it, "model too large: %lu tensors, %lu operators", (unsigned long)it->n_tensors, (unsigned long)it->n_ops);
    }
    it->t = alloc(ctx, (it->n_tensors + 1) * sizeof(tfl_tensor));
    it->ops = alloc(ctx, (it->n_ops + 1) * sizeof(tfl_op));
    if (!it->t || !it->ops) {
        return TFL_ENOMEM;
    }
    int r;
    if ((r = read_indices(it, f, &sg, 1, &it->inputs, &it->n_inputs, alloc, ctx, 0)) ||
        (r = read_indices(it, f, &sg, 2, &it->outputs, &it->n_outputs, alloc, ctx, 0))) {
        return r;
    }
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        it->t[i].alias = -1;
        it->t[i].first = -1;
        it->t[i].last = -1;
    }
    for (uint32_t i = 0; i < it->n_inputs; i++) {
        it->t[it->inputs[i]].flags |= TFL_T_GIN | TFL_T_USED;
    }
    for (uint32_t i = 0; i < it->n_outputs; i++) {
        it->t[it->outputs[i]].flags |= TFL_T_GOUT | TFL_T_USED;
    }
    // Operators: code, tensor indices, options.
    for (uint32_t k = 0; k < it->n_ops; k++) {
        tfl_op *op = &it->ops[k];
        fb_tab ot, ct;
        if (!fb_vec_table(f, ov, k, &ot)) {
            return bad_model(it, "operator out of bounds");
        }
        uint32_t oc = (uint32_t)fb_i32(f, &ot, 0, 0);
        if (oc >= ncodes || !fb_vec_table(f, codes, oc, &ct)) {
            return tfl_fail(it, "malformed model: operator %lu has opcode index %lu of %lu", (unsigned long)k, (unsigned long)oc, (unsigned long)ncodes);
        }
        int32_t code = fb_i32(f, &ct, 3, 0);
        int32_t dep = (int8_t)fb_u8(f, &ct, 0, 0);
        if (dep > code) {
            code = dep;
        }
        uint32_t nin, nout;
        if ((r = read_indices(it, f, &ot, 1, &op->in, &nin, alloc, ctx, 1)) ||
            (r = read_indices(it, f, &ot, 2, &op->out, &nout, alloc, ctx, 0))) {
            return r;
        }
        if (nin > 255 || nout > 255) {
            return tfl_fail(it, "operator %lu has too many tensors", (unsigned long)k);
        }
        op->n_in = (uint8_t)nin;
        op->n_out = (uint8_t)nout;
        op->code = code >= 0 && code < 255 ? (uint8_t)code : 255;
        read_options(f, &ot, op);
        if (f->bad) {
            return bad_model(it, "operator fields out of bounds");
        }
        // Lifetimes, and the graph must be in execution order (no cycles, single writer).
        for (uint32_t j = 0; j < nin; j++) {
            if (op->in[j] >= 0) {
                it->t[op->in[j]].flags |= TFL_T_USED;
                it->t[op->in[j]].last = (int32_t)k;
            }
        }
        for (uint32_t j = 0; j < nout; j++) {
            tfl_tensor *t = &it->t[op->out[j]];
            if (t->first >= 0 || (t->flags & TFL_T_GIN) || t->last >= 0) {
                return tfl_fail(it, "malformed model: tensor %ld written by operator %lu is already defined or read before", (long)op->out[j], (unsigned long)k);
            }
            t->flags |= TFL_T_USED;
            t->first = (int32_t)k;
        }
    }
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        tfl_tensor *t = &it->t[i];
        if (!(t->flags & TFL_T_USED)) {
            continue;
        }
        fb_tab tt;
        if (!fb_vec_table(f, tv, i, &tt)) {
            return bad_model(it, "tensor out of bounds");
        }
        if ((r = read_tensor(it, f, &tt, bufs, nbuf, i))) {
            return r;
        }
        int produced = t->first >= 0;
        if (t->flags & TFL_T_CONST) {
            if (produced || (t->flags & (TFL_T_GIN | TFL_T_VAR))) {
                return tfl_fail(it, "malformed model: constant tensor %lu is written", (unsigned long)i);
            }
            continue;
        }
        if (!produced && !(t->flags & (TFL_T_GIN | TFL_T_VAR))) {
            return tfl_fail(it, "malformed model: tensor %lu is read but never computed", (unsigned long)i);
        }
        if (produced && (t->flags & TFL_T_VAR)) {
            return tfl_fail(it, "variable tensor %lu is written by an operator", (unsigned long)i);
        }
        t->flags |= TFL_T_ARENA;
        if (!produced) {
            t->first = 0;
        }
        if (t->last < t->first) {
            t->last = t->first;
        }
        if (t->flags & (TFL_T_GOUT | TFL_T_VAR)) {
            t->last = (int32_t)it->n_ops;
        }
    }
    for (uint32_t k = 0; k < it->n_ops; k++) {
        if ((r = tfl_prepare_op(it, k))) {
            return r;
        }
    }
    // A RESHAPE's output shares its input's buffer: merge lifetimes into the root.
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        tfl_tensor *t = &it->t[i];
        if (t->alias >= 0) {
            tfl_tensor *root = &it->t[root_of(it, (int32_t)i)];
            if (t->first < root->first) {
                root->first = t->first;
            }
            if (t->last > root->last) {
                root->last = t->last;
            }
        }
    }
    if ((r = plan(it, alloc, ctx))) {
        return r;
    }
    it->plan_bytes = align_up(it->plan_bytes);
    return TFL_OK;
}

uint32_t tfl_arena_need(const tfl_interp *it) {
    return it->plan_bytes + it->persist_bytes;
}

int tfl_bind(tfl_interp *it, uint8_t *arena, size_t size) {
    if (size < tfl_arena_need(it)) {
        return TFL_ENOMEM;
    }
    it->arena = arena;
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        tfl_tensor *t = &it->t[i];
        if (t->flags & TFL_T_ARENA) {
            t->data = arena + it->t[root_of(it, (int32_t)i)].offset;
        } else if (t->flags & TFL_T_COPY) {  // once: the interpreter is bound once
            uint8_t *copy = arena + it->plan_bytes + t->offset;
            memcpy(copy, t->data, t->bytes);
            t->data = copy;
            t->flags &= (uint8_t)~TFL_T_COPY;
        }
    }
    for (uint32_t k = 0; k < it->n_ops; k++) {
        tfl_bind_op(it, &it->ops[k]);
    }
    tfl_reset(it);
    return TFL_OK;
}

void tfl_reset(tfl_interp *it) {
    for (uint32_t i = 0; i < it->n_tensors; i++) {
        tfl_tensor *t = &it->t[i];
        if ((t->flags & TFL_T_VAR) && t->data) {
            int v = t->type == TFL_INT8 ? t->zero_point : 0;
            memset(t->data, v, t->bytes);
        }
    }
}

int tfl_invoke(tfl_interp *it) {
    if (!it->arena) {
        return TFL_EINVAL;
    }
    for (uint32_t k = 0; k < it->n_ops; k++) {
        tfl_eval_op(it, &it->ops[k]);
    }
    return TFL_OK;
}
