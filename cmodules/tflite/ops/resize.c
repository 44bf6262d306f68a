// RESIZE_BILINEAR (float32, and int8 in 10-bit fixed point) and RESIZE_NEAREST_NEIGHBOR (float32,
// int8, int16) of NHWC images to the constant size given, as TFLite Micro's resize_bilinear.h and
// resize_nearest_neighbor.h compute them, align_corners and half_pixel_centers included.
#include <math.h>

#include "ops.h"

TFL_FOR_SIZE

int tfl_prepare_resize(tfl_interp *it, uint32_t k, tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int bilinear = op->code == TFL_OP_RESIZE_BILINEAR, t = in->type;
    if (!(t == TFL_FLOAT32 || t == TFL_INT8 || (t == TFL_INT16 && !bilinear)) || out->type != t) {
        return tfl_type_err(it, k, out->type != t ? out->type : t);
    }
    uint32_t n;
    const int32_t *size = tfl_const_i32(it, op, 1, &n);
    if (!size || n != 2 || IN(1)->ndim != 1) {
        return tfl_op_err(it, k, "size must be a constant int32 tensor of 2 values");
    }
    if (in->ndim != 4 || out->ndim != 4 || dim(out, 0) != dim(in, 0) || dim(out, 3) != dim(in, 3) ||
        dim(out, 1) != get_i32(size, 0) || dim(out, 2) != get_i32(size, 1)) {
        return tfl_op_err(it, k, "output shape does not match the input and the size");
    }
    for (int d = 1; d < 3; d++) {
        if (dim(in, d) < 1 || dim(in, d) > 32767 || dim(out, d) > 32767) {
            return tfl_op_err(it, k, "image height and width must be 1 to 32767");
        }
    }
    if ((op->flags & TFL_OPT_ALIGN_CORNERS) && (op->flags & TFL_OPT_HALF_PIXEL)) {
        return tfl_op_err(it, k, "align_corners and half_pixel_centers together");
    }
    return TFL_OK;
}

// Input size over output size (align_corners: between the corner pixels).
static float scale_f(const tfl_op *op, int in, int out) {
    return (op->flags & TFL_OPT_ALIGN_CORNERS) && out > 1 ? (float)(in - 1) / (float)(out - 1) : (float)in / (float)out;
}

static int32_t scale_10(const tfl_op *op, int in, int out) {
    if ((op->flags & TFL_OPT_ALIGN_CORNERS) && out > 1) {
        in--, out--;
    }
    return ((1 << 10) * in + out / 2) / out;
}

static int nearest(const tfl_op *op, int o, int in, int out) {
    float x = ((float)o + (op->flags & TFL_OPT_HALF_PIXEL ? 0.5f : 0.0f)) * scale_f(op, in, out);
    int32_t v = (int32_t)(op->flags & TFL_OPT_ALIGN_CORNERS ? roundf(x) : floorf(x));
    v = v < in - 1 ? v : in - 1;
    return op->flags & TFL_OPT_HALF_PIXEL && v < 0 ? 0 : v;
}

// Source coordinate of output coordinate o and its two neighbours, in float or (q10) fixed point.
typedef struct {
    float f;
    int32_t q10, lo, hi;
} tfl_coord;

static tfl_coord coord(const tfl_op *op, int o, int in, int out, int q) {
    tfl_coord c = {0.0f, 0, 0, 0};
    int half = op->flags & TFL_OPT_HALF_PIXEL;
    if (q) {
        int32_t s = scale_10(op, in, out);
        c.q10 = half ? o * s + s / 2 - (1 << 9) : o * s;
        c.lo = c.q10 / (1 << 10);
        c.hi = (c.q10 + (1 << 10) - 1) / (1 << 10);
    } else {
        float s = scale_f(op, in, out);
        c.f = half ? ((float)o + 0.5f) * s - 0.5f : (float)o * s;
        c.lo = (int32_t)floorf(c.f);
        c.hi = (int32_t)ceilf(c.f);
    }
    c.lo = c.lo > 0 ? c.lo : 0;
    c.hi = c.hi < in - 1 ? c.hi : in - 1;
    return c;
}

void tfl_eval_resize(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *in = IN(0), *out = OUT(0);
    int B = dim(in, 0), H = dim(in, 1), W = dim(in, 2), C = dim(in, 3), OH = dim(out, 1), OW = dim(out, 2);
    int es = tfl_type_size(in->type), q = is_q(in);
    size_t row = (size_t)W * C, img = (size_t)H * row;
    uint8_t *y = out->data;
    for (int b = 0; b < B; b++) {
        for (int oy = 0; oy < OH; oy++) {
            tfl_coord cy = coord(op, oy, H, OH, q);
            for (int ox = 0; ox < OW; ox++, y += (size_t)C * es) {
                if (op->code == TFL_OP_RESIZE_NEAREST_NEIGHBOR) {
                    size_t at = b * img + nearest(op, oy, H, OH) * row + (size_t)nearest(op, ox, W, OW) * C;
                    memcpy(y, in->data + at * es, (size_t)C * es);
                    continue;
                }
                tfl_coord cx = coord(op, ox, W, OW, q);
                size_t p00 = b * img + cy.lo * row + (size_t)cx.lo * C, p10 = b * img + cy.hi * row + (size_t)cx.lo * C;
                size_t p01 = b * img + cy.lo * row + (size_t)cx.hi * C, p11 = b * img + cy.hi * row + (size_t)cx.hi * C;
                for (int c = 0; c < C; c++) {
                    if (q) {
                        const int8_t *x = (const int8_t *)in->data;
                        int64_t dy = cy.q10 - (1 << 10) * cy.lo, dx = cx.q10 - (1 << 10) * cx.lo;
                        int64_t v = (int64_t)x[p00 + c] * ((1 << 10) - dy) * ((1 << 10) - dx) +
                            (int64_t)x[p10 + c] * dy * ((1 << 10) - dx) + (int64_t)x[p01 + c] * ((1 << 10) - dy) * dx +
                            (int64_t)x[p11 + c] * dy * dx;
                        ((int8_t *)y)[c] = (int8_t)((v + (v > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
                    } else {
                        // the reference's expression, term by term (float rounding follows it)
                        const float *x = (const float *)(const void *)in->data;
                        float dy = cy.f - (float)cy.lo, dx = cx.f - (float)cx.lo;
                        ((float *)(void *)y)[c] = x[p00 + c] * (1 - dy) * (1 - dx) + x[p10 + c] * dy * (1 - dx) +
                            x[p01 + c] * (1 - dy) * dx + x[p11 + c] * dy * dx + 0.0f;
                    }
                }
            }
        }
    }
}
