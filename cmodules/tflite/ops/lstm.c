// UNIDIRECTIONAL_SEQUENCE_LSTM, float32 and int8, as TFLite Micro's lstm_eval.h computes it: the
// standard LSTM (input, forget, cell and output gates, each with input and recurrent weights and a
// bias; no peephole, projection, layer normalization or CIFG: TFLite Micro refuses those too), with
// the output state (hidden) and cell state in variable tensors kept across invokes. int8 is the
// converter's integer LSTM: int8 input, weights and hidden state, int32 biases, an int16 cell state
// whose scale is a power of two, and int16 gates (Q3.12 before their activation, Q0.15 after).
//
// TFLite Micro computes a time step gate by gate over whole vectors (two fully connected
// layers, their sum, the activation), then the cell, then the hidden state. Every stage after
// the two matrix products is elementwise, so computing one state element through all stages at
// a time gives the same bits; the only ordering that matters is that the recurrent products of
// a step all read the hidden state of the previous step, so the new hidden state is written to
// the step's output first and copied into the state once the step is done.
#include <float.h>
#include <math.h>

#include "../floatmath.h"
#include "ops.h"

// Compiled for size, kernels too: the module's text budget (64 KiB on the 32-bit build) holds
// the vision kernels at full speed, an LSTM's recurrence at -Os.
TFL_FOR_SIZE

// The operator's inputs (TFLite's lstm_shared.h numbering). Gates in tensor order: input,
// forget, cell, output.
enum {
    L_X = 0, L_W = 1, L_R = 5, L_PEEP = 9, L_BIAS = 12, L_PROJ = 16, L_H = 18, L_C = 19, L_NORM = 20,
};

// int8: the multipliers of the eight fully connected products (gate g's input product at 2g, its
// recurrent product at 2g + 1) and of the three products of gates (forget gate x cell, input gate x
// cell gate, tanh(cell) x output gate), in the arena's persistent part (tfl_bind_lstm fills them).
enum { M_FC = 0, M_FORGET = 8, M_INPUT = 9, M_HIDDEN = 10, N_MULT = 11 };

static int32_t *mults(const tfl_interp *it, const tfl_op *op) {
    return (int32_t *)(void *)(it->arena + it->plan_bytes + op->pc_off);
}

// The reference fully connected and mul kernels clamp their float results to the activation
// range of "no activation", [-FLT_MAX, FLT_MAX]: an infinity comes out as the largest float.
static inline float no_act(float v) {
    return act_f(v, -FLT_MAX, FLT_MAX);
}

// The four gates' dot products of one cell with the same vector v: rows w[g] + off, n long.
// Each sum keeps the reference's order; four at once give the processor independent chains.
static void dot4_f(const float *v, const float *const w[4], size_t off, int n, float out[4]) {
    const float *w0 = w[0] + off, *w1 = w[1] + off, *w2 = w[2] + off, *w3 = w[3] + off;
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
    for (int d = 0; d < n; d++) {
        t0 += v[d] * w0[d];
        t1 += v[d] * w1[d];
        t2 += v[d] * w2[d];
        t3 += v[d] * w3[d];
    }
    out[0] = t0, out[1] = t1, out[2] = t2, out[3] = t3;
}

#define F32(j) ((const float *)(const void *)IN(j)->data)

// One time step for rows consecutive rows (batch entries) of input x, state h and c, output y.
static void step_f(const tfl_interp *it, const tfl_op *op, const float *x, float *h, float *c, float *y, int rows) {
    int n_in = dim(IN(L_W), 1), n_cell = dim(IN(L_H), 1);
    float clip = op->alpha;
    const float *const w[4] = {F32(L_W), F32(L_W + 1), F32(L_W + 2), F32(L_W + 3)};
    const float *const rw[4] = {F32(L_R), F32(L_R + 1), F32(L_R + 2), F32(L_R + 3)};
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n_in, *hr = h + (size_t)r * n_cell;
        for (int s = 0; s < n_cell; s++) {
            float gate[4], dx[4], dh[4];
            dot4_f(xr, w, (size_t)s * n_in, n_in, dx);
            dot4_f(hr, rw, (size_t)s * n_cell, n_cell, dh);
            for (int g = 0; g < 4; g++) {
                // input product plus its bias, recurrent product plus a bias of 0 (the
                // reference adds one when the bias is absent: -0 becomes +0), then the sum
                float a = no_act(dx[g] + F32(L_BIAS + g)[s]);
                float b = no_act(dh[g] + 0.0f);
                gate[g] = a + b;
            }
            float ig = tfl_logisticf(gate[0]), fg = tfl_logisticf(gate[1]), cg = tfl_tanhf(gate[2]);
            float og = tfl_logisticf(gate[3]);
            size_t at = (size_t)r * n_cell + s;
            // forget gate times the old cell, input gate times the cell gate, each clamped as a
            // mul, then their sum, then the clip as std::max(std::min(clip, v), -clip)
            float v = no_act(fg * c[at]) + no_act(ig * cg);
            if (clip > 0.0f) {
                v = v < clip ? v : clip;
                v = v < -clip ? -clip : v;
            }
            c[at] = v;
            y[at] = no_act(tfl_tanhf(v) * og);
        }
    }
    memcpy(h, y, (size_t)rows * n_cell * sizeof(float));
}

// TFLite's int16 logistic and tanh interpolate in one table of 65536 * sigmoid(i / 24), i = 0..255,
// as TFLite tabulates it (its rounding is its own: 44 entries are one above round(), so the
// values are data here, not computed).
static const uint16_t sigmoid_tab[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
};

// Table lookup with linear interpolation on |v|: frac_bits fractional bits per table step.
static uint32_t sig_interp(uint32_t a, int frac_bits) {
    uint32_t i = a >> frac_bits, t = a & ((1u << frac_bits) - 1);
    return (sigmoid_tab[i] << frac_bits) + t * (uint32_t)(sigmoid_tab[i + 1] - sigmoid_tab[i]);
}

// Logistic of a Q3.12 gate into Q0.15: the input scaled by 3 (the table's steps are 1/24), 9
// fractional bits per step, saturating from step 255, mirrored for negative inputs, rounded.
static int16_t logistic16(int16_t x) {
    int32_t v = 3 * (int32_t)x;
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t r = a >> 9 >= 255 ? 0x7fffu << 10 : sig_interp(a, 9);
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1;
    return (int16_t)(r >> 10);
}

// Tanh into Q0.15 as 2 * sigmoid(2x) - 1: the input times mult, shifted right by shift with
// rounding (mult 3 << (12 + p) and no shift, or 3 and a shift of -(12 + p), for input scale 2^p),
// 8 fractional bits per table step.
static int16_t tanh16(int16_t x, int32_t mult, int shift) {
    int32_t v = ((int32_t)x * mult + (shift > 0 ? 1 << (shift - 1) : 0)) >> shift;
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    int32_t r = a >> 8 >= 255 ? 0xffff << 8 : (int32_t)sig_interp(a, 8);
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8);
}

static inline int16_t sat16(int32_t v) {
    return (int16_t)clampi(v, -32768, 32767);
}

// A fully connected product into int16 (no output offset, no activation but int16's range).
static inline int16_t fc16(const int8_t *x, const int8_t *w, int n, int32_t x_off, int32_t bias, const int32_t *m) {
    uint32_t acc = 0;
    for (int d = 0; d < n; d++) {
        acc += (uint32_t)(w[d] * (x[d] + x_off));
    }
    return sat16(mbqm((int32_t)(acc + (uint32_t)bias), m[0], m[1]));
}

// A product of two int16 values, requantized (TFLite's MulElementwise).
static inline int32_t mul_q(int32_t a, int32_t b, const int32_t *m) {
    return mbqm(a * b, m[0], m[1]);
}

static void step_q(const tfl_interp *it, const tfl_op *op, const int8_t *x, int8_t *h, int16_t *c, int8_t *y, int rows) {
    int n_in = dim(IN(L_W), 1), n_cell = dim(IN(L_H), 1);
    const int32_t *m = mults(it, op);
    int32_t tmul = op->left_shift >= 0 ? 3 << op->left_shift : 3;
    int tshift = op->left_shift >= 0 ? 0 : -op->left_shift;
    int16_t clip = (int16_t)op->radius;
    for (int r = 0; r < rows; r++) {
        const int8_t *xr = x + (size_t)r * n_in, *hr = h + (size_t)r * n_cell;
        for (int s = 0; s < n_cell; s++) {
            int16_t gate[4];
            for (int g = 0; g < 4; g++) {
                const int8_t *w = (const int8_t *)IN(L_W + g)->data + (size_t)s * n_in;
                const int8_t *rw = (const int8_t *)IN(L_R + g)->data + (size_t)s * n_cell;
                int32_t bias = ((const int32_t *)(const void *)IN(L_BIAS + g)->data)[s];
                int16_t a = fc16(xr, w, n_in, op->in_off, bias, m + 2 * (M_FC + 2 * g));
                int16_t b = fc16(hr, rw, n_cell, op->w_off, 0, m + 2 * (M_FC + 2 * g + 1));
                gate[g] = sat16(a + b);
            }
            // the gates: sigmoid, sigmoid, tanh of a Q3.12 input (shift 0: scale 2^-12), sigmoid
            int16_t ig = logistic16(gate[0]), fg = logistic16(gate[1]), cg = tanh16(gate[2], 3, 0);
            int16_t og = logistic16(gate[3]);
            size_t at = (size_t)r * n_cell + s;
            // each product clamped to int16, then their saturating sum, then the clip
            int16_t f_c = sat16(mul_q(fg, c[at], m + 2 * M_FORGET)), i_g = sat16(mul_q(ig, cg, m + 2 * M_INPUT));
            int16_t v = sat16(f_c + i_g);
            if (op->alpha > 0.0f) {
                v = v < clip ? v : clip;
                v = v < -clip ? (int16_t)-clip : v;
            }
            c[at] = v;
            int32_t hv = op->out_off + mul_q(tanh16(v, tmul, tshift), og, m + 2 * M_HIDDEN);
            y[at] = (int8_t)clampi(hv, -128, 127);
        }
    }
    memcpy(h, y, (size_t)rows * n_cell);
}

// Time major ([time, batch, input]): each step runs every batch entry at once. Batch major
// ([batch, time, input]): one batch entry's whole sequence after another, as TFLite Micro runs
// them; the states of the entries are separate rows either way.
void tfl_eval_lstm(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *x = IN(L_X);
    int tm = op->flags & TFL_OPT_TIME_MAJOR;
    int steps = dim(x, tm ? 0 : 1), batch = dim(x, tm ? 1 : 0), n_in = dim(x, 2), n_cell = dim(IN(L_H), 1);
    int rows = tm ? batch : 1, q = is_q(x);
    for (int b = 0; b < batch; b += rows) {
        for (int t = 0; t < steps; t++) {
            size_t row = tm ? (size_t)t * batch : (size_t)b * steps + t, hb = (size_t)b * n_cell;
            if (q) {
                step_q(it, op, (const int8_t *)x->data + row * n_in, (int8_t *)IN(L_H)->data + hb,
                    (int16_t *)(void *)IN(L_C)->data + hb, (int8_t *)OUT(0)->data + row * n_cell, rows);
            } else {
                step_f(it, op, (const float *)(const void *)x->data + row * n_in, (float *)(void *)IN(L_H)->data + hb,
                    (float *)(void *)IN(L_C)->data + hb, (float *)(void *)OUT(0)->data + row * n_cell, rows);
            }
        }
    }
}

// Loading: checks and parameters.

static int present(const tfl_op *op, int j) {
    return op->in[j] >= 0;
}

static int any_present(const tfl_op *op, int j0, int j1) {
    for (int j = j0; j < j1; j++) {
        if (present(op, j)) {
            return 1;
        }
    }
    return 0;
}

static int is_mat(const tfl_tensor *t, int rows, int cols) {
    return t->ndim == 2 && dim(t, 0) == rows && dim(t, 1) == cols;
}

static int prepare_q(tfl_interp *it, uint32_t k, tfl_op *op) {
    for (int j = L_W; j < L_PEEP; j++) {
        if (IN(j)->nscales != 1 || IN(j)->zero_point != 0) {
            return tfl_op_err(it, k, "int8 weights need one scale and zero point 0 (per-channel scales are not supported)");
        }
    }
    // The cell state scale is 2^p: TFLite Micro's int16 tanh of the cell takes its input in Q3.12
    // shifted by 12 + p bits, which must stay a shift its arithmetic does not overflow.
    int p;
    float m = frexpf(IN(L_C)->scale, &p);
    p--;
    if (m != 0.5f || p < -43 || p > 2) {
        return tfl_op_err(it, k, "the int16 cell state scale must be a power of two, 2^-43 to 2^2");
    }
    op->left_shift = 12 + p;
    // The clip quantized as TFLite Micro does: cell_clip / scale in double, into int16, truncated.
    double qc = (double)op->alpha / (double)IN(L_C)->scale;
    op->radius = (int32_t)(qc > 32767.0 ? 32767.0 : qc);
    op->in_off = -IN(L_X)->zero_point;
    op->w_off = -IN(L_H)->zero_point;
    op->out_off = IN(L_H)->zero_point;
    op->pc_off = it->persist_bytes;
    it->persist_bytes += (N_MULT * 8 + 15) & ~15u;
    return TFL_OK;
}

static void set_mult(int32_t *m, int i, double real) {
    tfl_quantize_multiplier(real, &m[2 * i], &m[2 * i + 1]);
}

// As TFLite Micro derives them, in double from the float scales: products of the fully connected
// layers into Q3.12 (scale 2^-12), gate outputs in Q0.15 (2^-15).
void tfl_bind_lstm(tfl_interp *it, tfl_op *op) {
    int32_t *m = mults(it, op);
    double x_s = IN(L_X)->scale, h_s = IN(L_H)->scale, c_s = IN(L_C)->scale, q12 = 1.0 / 4096, q15 = 1.0 / 32768;
    for (int g = 0; g < 4; g++) {
        set_mult(m, M_FC + 2 * g, x_s * (double)IN(L_W + g)->scale / q12);
        set_mult(m, M_FC + 2 * g + 1, h_s * (double)IN(L_R + g)->scale / q12);
    }
    set_mult(m, M_FORGET, q15 * c_s / c_s);
    set_mult(m, M_INPUT, q15 * q15 / c_s);
    set_mult(m, M_HIDDEN, q15 * q15 / h_s);
}

int tfl_prepare_lstm(tfl_interp *it, uint32_t k, tfl_op *op) {
    if (any_present(op, L_PEEP, L_PEEP + 3)) {
        return tfl_op_err(it, k, "peephole (cell-to-gate) weights are not supported");
    }
    if (any_present(op, L_PROJ, L_PROJ + 2)) {
        return tfl_op_err(it, k, "projection is not supported");
    }
    if (any_present(op, L_NORM, L_NORM + 4)) {
        return tfl_op_err(it, k, "layer normalization is not supported");
    }
    if (!present(op, L_W) && !present(op, L_R)) {
        return tfl_op_err(it, k, "CIFG (no input gate) is not supported");
    }
    for (int j = L_W; j < L_PEEP; j++) {
        if (!present(op, j) || !present(op, L_BIAS + (j - L_W) % 4)) {
            return tfl_op_err(it, k, "needs the input and recurrent weights and the bias of every gate");
        }
    }
    if (!present(op, L_H) || !present(op, L_C) || !(IN(L_H)->flags & TFL_T_VAR) || !(IN(L_C)->flags & TFL_T_VAR)) {
        return tfl_op_err(it, k, "the output state (input 18) and cell state (input 19) must be variable tensors");
    }
    // TFLite Micro applies no activation to the cell gate but TANH (it asserts on any other).
    if (op->act != 4) {
        return tfl_op_err(it, k, "the cell activation must be TANH");
    }
    if (!(op->alpha >= 0.0f)) {
        return tfl_op_err(it, k, "the cell clip must not be negative");
    }
    const tfl_tensor *x = IN(L_X), *h = IN(L_H), *c = IN(L_C), *y = OUT(0);
    int q = is_q(x), ty = x->type;
    int ok = (q || ty == TFL_FLOAT32) && h->type == ty && y->type == ty && c->type == (q ? TFL_INT16 : ty);
    for (int j = L_W; j < L_PEEP; j++) {
        ok = ok && IN(j)->type == ty && IN(L_BIAS + (j - L_W) % 4)->type == (q ? TFL_INT32 : ty);
    }
    if (!ok) {
        return tfl_op_err(it, k, "unsupported tensor types (int8: int8 input, weights, output state and output, "
                                 "int32 biases, an int16 cell state; float32: every tensor float32)");
    }
    if (x->ndim != 3 || h->ndim != 2 || y->ndim != 3) {
        return tfl_op_err(it, k, "tensor shapes do not match");
    }
    int tm = op->flags & TFL_OPT_TIME_MAJOR;
    int batch = dim(x, tm ? 1 : 0), n_in = dim(x, 2), n_cell = dim(h, 1);
    ok = (uint64_t)flat(h) == (uint64_t)batch * (uint32_t)n_cell && flat(c) == flat(h) && dim(y, 0) == dim(x, 0) &&
         dim(y, 1) == dim(x, 1) && dim(y, 2) == n_cell;
    for (int g = 0; g < 4; g++) {
        const tfl_tensor *b = IN(L_BIAS + g);
        ok = ok && is_mat(IN(L_W + g), n_cell, n_in) && is_mat(IN(L_R + g), n_cell, n_cell) && b->ndim == 1 &&
             dim(b, 0) == n_cell;
    }
    if (!ok) {
        return tfl_op_err(it, k, "tensor shapes do not match");
    }
    return q ? prepare_q(it, k, op) : TFL_OK;
}
