// MicroPython binding of the tfl core: tflite.Interpreter, shaped after the tflite-micro
// Python runtime. Tables live on the MicroPython heap; the model is kept by reference.
// The native module for stock firmware (natmod/tflite_natmod.c) compiles this same file against
// py/dynruntime.h: it defines what that API lacks first and registers the type in its mpy_init
// from TFLITE_INTERP_METHODS; only the static registration at the end is this build's alone.
#include <string.h>

#include "py/objarray.h"
#include "py/runtime.h"
#include "tfl.h"

TFL_FOR_SIZE

typedef struct {
    mp_obj_base_t base;
    mp_obj_t model;
    uint32_t arena_size;
    tfl_interp it;
} tflite_interp_obj_t;

static void *heap_alloc(void *ctx, size_t size) {
    (void)ctx;
    return m_malloc0(size ? size : 1);
}

static void check(tfl_interp *it, int r) {
    if (r == TFL_EINVAL) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%s"), it->err);
    } else if (r == TFL_ENOMEM) {
        mp_raise_type(&mp_type_MemoryError);
    }
}

static mp_obj_t tflite_interp_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_model, ARG_arena_size };
    // Not static: a native module's qstrs are numbered only when it is loaded.
    const mp_arg_t allowed[] = {
        { MP_QSTR_model, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_arena_size, MP_ARG_INT, {.u_int = 0} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed), allowed, args);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_model].u_obj, &buf, MP_BUFFER_READ);
    mp_int_t arena_size = args[ARG_arena_size].u_int;
    if (arena_size < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("arena_size must be >= 0"));
    }
    tflite_interp_obj_t *self = mp_obj_malloc(tflite_interp_obj_t, type);
    memset(&self->it, 0, sizeof(self->it));
    self->model = args[ARG_model].u_obj;
    check(&self->it, tfl_load(&self->it, buf.buf, buf.len, heap_alloc, NULL));
    uint32_t need = tfl_arena_need(&self->it);
    if (arena_size && (mp_uint_t)arena_size < need) {
        mp_raise_msg_varg(&mp_type_MemoryError, MP_ERROR_TEXT("arena_size %u too small: the model needs %u bytes"),
            (unsigned)arena_size, (unsigned)need);
    }
    size_t size = arena_size ? (size_t)arena_size : need;
    uint8_t *arena = m_malloc_maybe(size ? size : 1);
    if (!arena) {
        mp_raise_msg_varg(&mp_type_MemoryError, MP_ERROR_TEXT("arena of %u bytes does not fit in the heap"), (unsigned)size);
    }
    self->arena_size = (uint32_t)size;
    check(&self->it, tfl_bind(&self->it, arena, size));
    return MP_OBJ_FROM_PTR(self);
}

static tfl_tensor *io_tensor(tflite_interp_obj_t *self, mp_obj_t index, int output) {
    mp_int_t i = mp_obj_get_int(index);
    uint32_t n = output ? self->it.n_outputs : self->it.n_inputs;
    if (i < 0 || (mp_uint_t)i >= n) {
        mp_raise_msg(&mp_type_IndexError, MP_ERROR_TEXT("tensor index out of range"));
    }
    return &self->it.t[output ? self->it.outputs[i] : self->it.inputs[i]];
}

static mp_obj_t details(tflite_interp_obj_t *self, mp_obj_t index, int output) {
    tfl_tensor *t = io_tensor(self, index, output);
    mp_obj_t shape[TFL_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) {
        shape[d] = MP_OBJ_NEW_SMALL_INT(t->dims[d]);
    }
    mp_obj_t dict = mp_obj_new_dict(5);
    const char *name = t->name_pos ? (const char *)self->it.model + t->name_pos : "";
    mp_obj_dict_store(dict, MP_OBJ_NEW_QSTR(MP_QSTR_name), mp_obj_new_str(name, t->name_pos ? t->name_len : 0));
    mp_obj_dict_store(dict, MP_OBJ_NEW_QSTR(MP_QSTR_shape), mp_obj_new_tuple(t->ndim, shape));
    const char *dt = tfl_type_name(t->type);
    mp_obj_dict_store(dict, MP_OBJ_NEW_QSTR(MP_QSTR_dtype), mp_obj_new_str(dt, strlen(dt)));
    mp_obj_dict_store(dict, MP_OBJ_NEW_QSTR(MP_QSTR_scale), mp_obj_new_float(t->nscales ? t->scale : 0.0f));
    mp_obj_dict_store(dict, MP_OBJ_NEW_QSTR(MP_QSTR_zero_point), mp_obj_new_int(t->zero_point));
    return dict;
}

static mp_obj_t tflite_get_input_details(mp_obj_t self_in, mp_obj_t index) {
    return details(MP_OBJ_TO_PTR(self_in), index, 0);
}
static MP_DEFINE_CONST_FUN_OBJ_2(tflite_get_input_details_obj, tflite_get_input_details);

static mp_obj_t tflite_get_output_details(mp_obj_t self_in, mp_obj_t index) {
    return details(MP_OBJ_TO_PTR(self_in), index, 1);
}
static MP_DEFINE_CONST_FUN_OBJ_2(tflite_get_output_details_obj, tflite_get_output_details);

static mp_obj_t tflite_set_input(mp_obj_t self_in, mp_obj_t data, mp_obj_t index) {
    tfl_tensor *t = io_tensor(MP_OBJ_TO_PTR(self_in), index, 0);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    if (buf.len != t->bytes) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("input needs %u bytes, got %u"), (unsigned)t->bytes, (unsigned)buf.len);
    }
    memcpy(t->data, buf.buf, t->bytes);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tflite_set_input_obj, tflite_set_input);

static mp_obj_t tflite_invoke(mp_obj_t self_in) {
    tflite_interp_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(self->model, &buf, MP_BUFFER_READ);
    if (buf.buf != self->it.model || buf.len != self->it.model_len) {
        mp_raise_ValueError(MP_ERROR_TEXT("model buffer changed since load"));
    }
    check(&self->it, tfl_invoke(&self->it));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(tflite_invoke_obj, tflite_invoke);

static char typecode(int type) {
    switch (type) {
        case TFL_FLOAT32: return 'f';
        case TFL_INT32: return 'i';
        case TFL_INT16: return 'h';
        case TFL_INT8: return 'b';
        case TFL_INT64: return 'q';
        default: return 'B';
    }
}

static mp_obj_t tflite_get_output(size_t n_args, const mp_obj_t *args) {
    tfl_tensor *t = io_tensor(MP_OBJ_TO_PTR(args[0]), args[1], 1);
    if (n_args > 2 && args[2] != mp_const_none) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(args[2], &buf, MP_BUFFER_WRITE);
        if (buf.len != t->bytes) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("output needs %u bytes, got %u"), (unsigned)t->bytes, (unsigned)buf.len);
        }
        memcpy(buf.buf, t->data, t->bytes);
        return args[2];
    }
    mp_obj_array_t *a = mp_obj_malloc(mp_obj_array_t, &mp_type_array);
    a->typecode = typecode(t->type);
    a->free = 0;
    a->len = t->bytes / tfl_type_size(t->type);
    a->items = m_malloc(t->bytes ? t->bytes : 1);
    memcpy(a->items, t->data, t->bytes);
    return MP_OBJ_FROM_PTR(a);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tflite_get_output_obj, 2, 3, tflite_get_output);

static mp_obj_t tflite_arena_used_bytes(mp_obj_t self_in) {
    tflite_interp_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return mp_obj_new_int_from_uint(tfl_arena_need(&self->it));
}
static MP_DEFINE_CONST_FUN_OBJ_1(tflite_arena_used_bytes_obj, tflite_arena_used_bytes);

// Operator names in execution order (for the model's description).
static mp_obj_t tflite_operators(mp_obj_t self_in) {
    tflite_interp_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_obj_t list = mp_obj_new_list(0, NULL);
    for (uint32_t k = 0; k < self->it.n_ops; k++) {
        const char *n = tfl_op_name(self->it.ops[k].code);
        mp_obj_list_append(list, mp_obj_new_str(n, strlen(n)));
    }
    return list;
}
static MP_DEFINE_CONST_FUN_OBJ_1(tflite_operators_obj, tflite_operators);

static mp_obj_t tflite_reset(mp_obj_t self_in) {
    tflite_interp_obj_t *self = MP_OBJ_TO_PTR(self_in);
    tfl_reset(&self->it);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(tflite_reset_obj, tflite_reset);

static void tflite_interp_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    tflite_interp_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (dest[0] == MP_OBJ_NULL && attr == MP_QSTR_input_count) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(self->it.n_inputs);
    } else if (dest[0] == MP_OBJ_NULL && attr == MP_QSTR_output_count) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(self->it.n_outputs);
    } else {
        dest[1] = MP_OBJ_SENTINEL;  // continue lookup in locals_dict
    }
}

// Interpreter's methods, X(qstr, function object): the one list of both registrations (spelled
// out: the native module's build finds its qstrs by searching the text).
#define TFLITE_INTERP_METHODS(X) \
    X(MP_QSTR_get_input_details, &tflite_get_input_details_obj) \
    X(MP_QSTR_get_output_details, &tflite_get_output_details_obj) \
    X(MP_QSTR_set_input, &tflite_set_input_obj) \
    X(MP_QSTR_invoke, &tflite_invoke_obj) \
    X(MP_QSTR_get_output, &tflite_get_output_obj) \
    X(MP_QSTR_arena_used_bytes, &tflite_arena_used_bytes_obj) \
    X(MP_QSTR_reset, &tflite_reset_obj) \
    X(MP_QSTR_operators, &tflite_operators_obj)

#if !MICROPY_ENABLE_DYNRUNTIME
#define TFLITE_LOCALS_ENTRY(q, fun) { MP_ROM_QSTR(q), MP_ROM_PTR(fun) },
static const mp_rom_map_elem_t tflite_interp_locals_table[] = {
    TFLITE_INTERP_METHODS(TFLITE_LOCALS_ENTRY)
};
static MP_DEFINE_CONST_DICT(tflite_interp_locals, tflite_interp_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    tflite_interp_type,
    MP_QSTR_Interpreter,
    MP_TYPE_FLAG_NONE,
    make_new, tflite_interp_make_new,
    attr, tflite_interp_attr,
    locals_dict, &tflite_interp_locals
    );

static const mp_rom_map_elem_t tflite_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_tflite) },
    { MP_ROM_QSTR(MP_QSTR_Interpreter), MP_ROM_PTR(&tflite_interp_type) },
};
static MP_DEFINE_CONST_DICT(tflite_module_globals, tflite_module_globals_table);

const mp_obj_module_t tflite_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tflite_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_tflite, tflite_user_cmodule);
#endif
