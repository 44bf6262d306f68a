// UNIDIRECTIONAL_SEQUENCE_LSTM, float32, as TFLite Micro's lstm_eval.h computes it: the standard
// LSTM (input, forget, cell and output gates, each with input and recurrent weights and a bias;
// no peephole, projection, layer normalization or CIFG: TFLite Micro refuses those too), with the
// output state (hidden) and cell state in variable tensors kept across invokes.
//
// TFLite Micro computes a time step gate by gate over whole vectors (two fully connected
// layers, their sum, the activation), then the cell, then the hidden state. Every stage after
// the two matrix products is elementwise, so computing one state element through all stages at
// a time gives the same bits; the only ordering that matters is that the recurrent products of
// a step all read the hidden state of the previous step, so the new hidden state is written to
// the step's output first and copied into the state once the step is done.
#include <float.h>

#include "../floatmath.h"
#include "ops.h"

// The operator's inputs (TFLite's lstm_shared.h numbering). Gates in tensor order: input,
// forget, cell, output.
enum {
    L_X = 0, L_W = 1, L_R = 5, L_PEEP = 9, L_BIAS = 12, L_PROJ = 16, L_H = 18, L_C = 19, L_NORM = 20,
};

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
    const tfl_tensor *x = IN(L_X), *h = IN(L_H), *c = IN(L_C), *y = OUT(0);
    int ty = x->type;
    int ok = ty == TFL_FLOAT32 && h->type == ty && c->type == ty && y->type == ty;
    for (int j = L_W; j < L_PEEP; j++) {
        ok = ok && IN(j)->type == ty && IN(L_BIAS + (j - L_W) % 4)->type == ty;
    }
    if (!ok) {
        return tfl_op_err(it, k, "unsupported tensor types (float32: every tensor float32)");
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
    return TFL_OK;
}

// The reference fully connected and mul kernels clamp their float results to the activation
// range of "no activation", [-FLT_MAX, FLT_MAX]: an infinity comes out as the largest float.
static inline float no_act(float v) {
    return act_f(v, -FLT_MAX, FLT_MAX);
}

static inline float dot_f(const float *a, const float *b, int n) {
    float total = 0.0f;
    for (int d = 0; d < n; d++) {
        total += a[d] * b[d];
    }
    return total;
}

#define F32(j) ((const float *)(const void *)IN(j)->data)

// One time step for rows consecutive rows (batch entries) of input x, state h and c, output y.
static void step_f(const tfl_interp *it, const tfl_op *op, const float *x, float *h, float *c, float *y, int rows) {
    int n_in = dim(IN(L_W), 1), n_cell = dim(IN(L_H), 1);
    float clip = op->alpha;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n_in, *hr = h + (size_t)r * n_cell;
        for (int s = 0; s < n_cell; s++) {
            float gate[4];
            for (int g = 0; g < 4; g++) {
                // input product plus its bias, recurrent product plus a bias of 0 (the
                // reference adds one when the bias is absent: -0 becomes +0), then the sum
                float a = no_act(dot_f(xr, F32(L_W + g) + (size_t)s * n_in, n_in) + F32(L_BIAS + g)[s]);
                float b = no_act(dot_f(hr, F32(L_R + g) + (size_t)s * n_cell, n_cell) + 0.0f);
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

// Time major ([time, batch, input]): each step runs every batch entry at once. Batch major
// ([batch, time, input]): one batch entry's whole sequence after another, as TFLite Micro runs
// them; the states of the entries are separate rows either way.
void tfl_eval_lstm(const tfl_interp *it, const tfl_op *op) {
    const tfl_tensor *x = IN(L_X);
    int tm = op->flags & TFL_OPT_TIME_MAJOR;
    int steps = dim(x, tm ? 0 : 1), batch = dim(x, tm ? 1 : 0), n_in = dim(x, 2), n_cell = dim(IN(L_H), 1);
    int rows = tm ? batch : 1;
    for (int b = 0; b < batch; b += rows) {
        for (int t = 0; t < steps; t++) {
            size_t row = tm ? (size_t)t * batch : (size_t)b * steps + t;
            float *xs = (float *)(void *)x->data + row * n_in, *ys = (float *)(void *)OUT(0)->data + row * n_cell;
            float *h = (float *)(void *)IN(L_H)->data + (size_t)b * n_cell, *c = (float *)(void *)IN(L_C)->data + (size_t)b * n_cell;
            step_f(it, op, xs, h, c, ys, rows);
        }
    }
}
