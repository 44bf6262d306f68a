// jsoncheck: strict RFC 8259 syntax and UTF-8 check of one JSON text, in place, with a nesting
// limit. MicroPython's json.loads is lenient (it accepts `{"a" 1`, `[1 2`, `{"a": 1]`), so the
// device's MCP server checks each message with this first: -32700 for anything malformed.
#include <stdint.h>
#include <string.h>
#include "py/runtime.h"

#define JC_MAX_DEPTH 255

typedef struct {
    const uint8_t *p, *end, *start;
    const char *err;
} jc_t;

static void ws(jc_t *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

// One UTF-8 sequence starting at c->p (already known to be >= 0x80); rejects overlongs and
// surrogates as RFC 3629 does.
static int utf8(jc_t *c) {
    const uint8_t *p = c->p;
    uint8_t b = *p;
    int n;
    uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 1;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 2;
        cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 3;
        cp = b & 0x07;
    } else {
        return 0;
    }
    if (c->end - p <= n) {
        return 0;
    }
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
        return 0;
    }
    c->p += n + 1;
    return 1;
}

static int string(jc_t *c) {
    c->p++;  // opening quote
    while (c->p < c->end) {
        uint8_t b = *c->p;
        if (b == '"') {
            c->p++;
            return 1;
        }
        if (b < 0x20) {
            c->err = "control character in string";
            return 0;
        }
        if (b == '\\') {
            if (++c->p >= c->end) {
                break;
            }
            b = *c->p;
            if (b == 'u') {
                if (c->end - c->p < 5) {
                    break;
                }
                for (int i = 1; i <= 4; i++) {
                    uint8_t h = c->p[i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) {
                        c->err = "bad \\u escape";
                        return 0;
                    }
                }
                c->p += 5;
            } else if (strchr("\"\\/bfnrt", b) && b) {
                c->p++;
            } else {
                c->err = "bad escape";
                return 0;
            }
        } else if (b >= 0x80) {
            if (!utf8(c)) {
                c->err = "invalid UTF-8";
                return 0;
            }
        } else {
            c->p++;
        }
    }
    c->err = "unterminated string";
    return 0;
}

static int digits(jc_t *c) {
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > s;
}

static int number(jc_t *c) {
    if (*c->p == '-') {
        c->p++;
    }
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    } else if (!digits(c)) {
        goto bad;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c)) {
            goto bad;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (!digits(c)) {
            goto bad;
        }
    }
    return 1;
bad:
    c->err = "bad number";
    return 0;
}

static int literal(jc_t *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 1;
    }
    c->err = "unexpected character";
    return 0;
}

// Iterative: a stack of open containers ('{' or '['), so hostile nesting costs no C stack.
static int check(jc_t *c, int max_depth) {
    uint8_t stack[JC_MAX_DEPTH];
    int depth = 0;
    for (;;) {
        // a value
        ws(c);
        if (c->p >= c->end) {
            c->err = "unexpected end";
            return 0;
        }
        uint8_t b = *c->p;
        if (b == '{' || b == '[') {
            if (depth >= max_depth) {
                c->err = "nested too deeply";
                return 0;
            }
            stack[depth++] = b;
            c->p++;
            ws(c);
            if (c->p < c->end && *c->p == (b == '{' ? '}' : ']')) {
                c->p++;
                depth--;
                goto after_value;
            }
            if (b == '{') {
                goto key;
            }
            continue;
        } else if (b == '"') {
            if (!string(c)) {
                return 0;
            }
        } else if (b == '-' || (b >= '0' && b <= '9')) {
            if (!number(c)) {
                return 0;
            }
        } else if (!literal(c, b == 't' ? "true" : b == 'f' ? "false" : "null")) {
            return 0;
        }
    after_value:
        ws(c);
        if (depth == 0) {
            if (c->p != c->end) {
                c->err = "data after the JSON value";
                return 0;
            }
            return 1;
        }
        if (c->p >= c->end) {
            c->err = "unexpected end";
            return 0;
        }
        b = *c->p++;
        if (b == ',') {
            if (stack[depth - 1] == '{') {
                goto key;
            }
            continue;
        }
        if (b == (stack[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            goto after_value;
        }
        c->p--;
        c->err = stack[depth - 1] == '{' ? "expected ',' or '}'" : "expected ',' or ']'";
        return 0;
    key:
        ws(c);
        if (c->p >= c->end || *c->p != '"') {
            c->err = "expected a string key";
            return 0;
        }
        if (!string(c)) {
            return 0;
        }
        ws(c);
        if (c->p >= c->end || *c->p != ':') {
            c->err = "expected ':'";
            return 0;
        }
        c->p++;
    }
}

// jsoncheck.check(buf, max_depth=64): None when buf holds exactly one well-formed JSON text,
// else ValueError("<problem> at byte N").
static mp_obj_t jsoncheck_check(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bi;
    mp_get_buffer_raise(args[0], &bi, MP_BUFFER_READ);
    mp_int_t max_depth = n_args > 1 ? mp_obj_get_int(args[1]) : 64;
    if (max_depth < 1 || max_depth > JC_MAX_DEPTH) {
        mp_raise_ValueError(MP_ERROR_TEXT("max_depth out of range"));
    }
    jc_t c = {bi.buf, (const uint8_t *)bi.buf + bi.len, bi.buf, NULL};
    if (!check(&c, (int)max_depth)) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%s at byte %d"), c.err, (int)(c.p - c.start));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(jsoncheck_check_obj, 1, 2, jsoncheck_check);

static const mp_rom_map_elem_t jsoncheck_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_jsoncheck) },
    { MP_ROM_QSTR(MP_QSTR_check), MP_ROM_PTR(&jsoncheck_check_obj) },
};
static MP_DEFINE_CONST_DICT(jsoncheck_globals, jsoncheck_globals_table);

const mp_obj_module_t jsoncheck_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&jsoncheck_globals,
};
MP_REGISTER_MODULE(MP_QSTR_jsoncheck, jsoncheck_module);
