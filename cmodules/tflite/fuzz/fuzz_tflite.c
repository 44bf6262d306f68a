// libFuzzer target for the tfl core (loader, planner, kernels), built with ASan and UBSan.
// The input is a .tflite file: load it; if it loads and is cheap enough, bind an arena of
// exactly the planned size and invoke it, so any out-of-plan access is caught.
#include <stdlib.h>
#include <string.h>

#include "tfl.h"

#define MAX_ARENA (16u << 20)
#define MAX_WORK 50000000.0  // rough multiply-adds per invoke, to keep each run fast

typedef union blk {
    union blk *next;
    long double align;
} blk;

static void *fz_alloc(void *ctx, size_t size) {
    blk **head = ctx;
    blk *b = calloc(1, sizeof(blk) + size);
    if (!b) {
        return NULL;
    }
    b->next = *head;
    *head = b;
    return b + 1;
}

static double elems(const tfl_tensor *t) {
    double n = 1;
    for (int d = 0; d < t->ndim; d++) {
        n *= t->dims[d];
    }
    return n;
}

static double work(const tfl_interp *it) {
    double w = 0;
    for (uint32_t k = 0; k < it->n_ops; k++) {
        const tfl_op *op = &it->ops[k];
        double out = op->n_out ? elems(&it->t[op->out[0]]) : 0, per = 1;
        if (op->n_in > 1 && op->in[1] >= 0 && op->n_out) {
            const tfl_tensor *o = &it->t[op->out[0]];
            int last = o->ndim ? o->dims[o->ndim - 1] : 1;
            per += elems(&it->t[op->in[1]]) / (last > 0 ? last : 1);
        }
        per += (double)op->fw * op->fh;
        for (int j = 0; j < op->n_in; j++) {
            if (op->in[j] >= 0) {
                w += elems(&it->t[op->in[j]]);
            }
        }
        w += out * per;
    }
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *model = malloc(size ? size : 1);
    memcpy(model, data, size);
    blk *head = NULL;
    tfl_interp it;
    memset(&it, 0, sizeof(it));
    if (tfl_load(&it, model, size, fz_alloc, &head) == TFL_OK && tfl_arena_need(&it) <= MAX_ARENA &&
        work(&it) <= MAX_WORK) {
        uint32_t need = tfl_arena_need(&it);
        uint8_t *arena = malloc(need ? need : 1);
        if (tfl_bind(&it, arena, need) == TFL_OK) {
            for (uint32_t i = 0; i < it.n_inputs; i++) {
                tfl_tensor *t = &it.t[it.inputs[i]];
                for (uint32_t j = 0; j < t->bytes; j++) {
                    t->data[j] = size ? data[(i + j) % size] : 0;
                }
            }
            tfl_invoke(&it);
            tfl_reset(&it);
        }
        free(arena);
    }
    while (head) {
        blk *n = head->next;
        free(head);
        head = n;
    }
    free(model);
    return 0;
}
