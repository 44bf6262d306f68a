// tflite as a dynamic native module (a .mpy with machine code) for stock MicroPython: the
// built-in module's binding, modtflite.c, compiled against py/dynruntime.h, plus the few things
// that API lacks, defined here in its own terms, and a registration made at import time (a
// native module can hold no constant type: mp_type_type and the qstrs are known only when it
// is loaded).
#include "py/dynruntime.h"

// array.array's type: dynruntime.h has no mp_type_array; looked up once, in mpy_init.
const mp_obj_type_t *tflite_array_type;
#define mp_type_array (*tflite_array_type)

// Exception types and calls absent from dynruntime.h.
#define mp_type_MemoryError (*(mp_obj_type_t *)mp_load_global(MP_QSTR_MemoryError))
#define mp_raise_msg_varg tflite_raise_msg_varg
#define m_malloc_maybe(n) m_realloc_maybe(NULL, (n), false)
#define m_malloc0(n) memset(m_malloc(n), 0, (n))

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);  // natlibc.c

static NORETURN void tflite_raise_msg_varg(const mp_obj_type_t *type, const char *fmt, ...) {
    char msg[200];  // the longest is "%s" of tfl_interp.err (160 bytes)
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg)) {
        n = sizeof(msg) - 1;
    }
    nlr_raise(mp_obj_new_exception_arg1(type, mp_obj_new_str(msg, n)));
}

#include "modtflite.c"

// Writable data must be global (the loader supports no static BSS) and zeroed.
mp_obj_full_type_t tflite_interp_type;
#define TFLITE_COUNT(q, fun) +1
mp_map_elem_t tflite_interp_locals_table[0 TFLITE_INTERP_METHODS(TFLITE_COUNT)];
static MP_DEFINE_CONST_DICT(tflite_interp_locals, tflite_interp_locals_table);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    mp_obj_t array = mp_import_name(MP_QSTR_array, mp_const_none, MP_OBJ_NEW_SMALL_INT(0));
    tflite_array_type = MP_OBJ_TO_PTR(mp_load_attr(array, MP_QSTR_array));

    mp_map_elem_t *e = tflite_interp_locals_table;
    #define TFLITE_LOCALS_ENTRY(q, fun) *e++ = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(q), MP_OBJ_FROM_PTR(fun) };
    TFLITE_INTERP_METHODS(TFLITE_LOCALS_ENTRY)

    tflite_interp_type.base.type = (void *)&mp_type_type;
    tflite_interp_type.flags = MP_TYPE_FLAG_NONE;
    tflite_interp_type.name = MP_QSTR_Interpreter;
    MP_OBJ_TYPE_SET_SLOT(&tflite_interp_type, make_new, tflite_interp_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&tflite_interp_type, attr, tflite_interp_attr, 1);
    MP_OBJ_TYPE_SET_SLOT(&tflite_interp_type, locals_dict, (void *)&tflite_interp_locals, 2);
    mp_store_global(MP_QSTR_Interpreter, MP_OBJ_FROM_PTR(&tflite_interp_type));

    MP_DYNRUNTIME_INIT_EXIT
}
