# The strict JSON check in Python, for firmware without the jsoncheck C module (stock
# MicroPython): RFC 8259 syntax, UTF-8 as RFC 3629 (no overlongs, no surrogates), a nesting
# limit, with the C module's API and errors: check(buf, max_depth) -> None, else
# ValueError("<problem> at byte N"). MicroPython's json.loads accepts malformed text without it.
# Imported only where the C module is missing: it costs RAM that the C module does not.


def _err(what, i):
    raise ValueError("%s at byte %d" % (what, i))


# bytes a string's scan stops at: 1 for the quote, control characters, backslash, non-ASCII
_STOP = bytes(1 if c < 32 or c in (34, 92) or c >= 128 else 0 for c in range(256))


def _string(b, i, n):
    # b[i] is the opening quote -> index after the closing quote
    i += 1
    stop = _STOP
    while i < n:
        c = b[i]
        if not stop[c]:
            i += 1
            continue
        if c == 34:  # "
            return i + 1
        if c < 32:
            _err("control character in string", i)
        if c == 92:  # backslash
            i += 1
            if i >= n:
                break
            c = b[i]
            if c == 117:  # u
                if n - i < 5:
                    break
                for k in range(i + 1, i + 5):
                    h = b[k]
                    if not (48 <= h <= 57 or 97 <= h | 32 <= 102):
                        _err("bad \\u escape", i)
                i += 5
            elif c in b'"\\/bfnrt':
                i += 1
            else:
                _err("bad escape", i)
        elif c >= 128:
            i = _utf8(b, i, n, c)
        else:
            i += 1
    _err("unterminated string", i)


def _utf8(b, i, n, c):
    if 0xC2 <= c <= 0xDF:
        k, cp = 1, c & 0x1F
    elif 0xE0 <= c <= 0xEF:
        k, cp = 2, c & 0x0F
    elif 0xF0 <= c <= 0xF4:
        k, cp = 3, c & 0x07
    else:
        _err("invalid UTF-8", i)
    if n - i <= k:
        _err("invalid UTF-8", i)
    for j in range(i + 1, i + k + 1):
        x = b[j]
        if x & 0xC0 != 0x80:
            _err("invalid UTF-8", i)
        cp = cp << 6 | x & 0x3F
    if (k == 2 and (cp < 0x800 or 0xD800 <= cp <= 0xDFFF)) or (k == 3 and (cp < 0x10000 or cp > 0x10FFFF)):
        _err("invalid UTF-8", i)
    return i + k + 1


def _digits(b, i, n):
    while i < n and 48 <= b[i] <= 57:
        i += 1
    return i


def _number(b, i, n):
    if b[i] == 45:  # -
        i += 1
    if i < n and b[i] == 48:
        i += 1
    else:
        j = _digits(b, i, n)
        if j == i:
            _err("bad number", i)
        i = j
    if i < n and b[i] == 46:  # .
        i += 1
        j = _digits(b, i, n)
        if j == i:
            _err("bad number", i)
        i = j
    if i < n and b[i] | 32 == 101:  # e E
        i += 1
        if i < n and b[i] in b"+-":
            i += 1
        j = _digits(b, i, n)
        if j == i:
            _err("bad number", i)
        i = j
    return i


def _ws(b, i, n):
    while i < n and b[i] in b" \t\n\r":
        i += 1
    return i


def check(buf, max_depth=64):
    if isinstance(buf, str):
        buf = buf.encode()
    if not 1 <= max_depth <= 255:
        raise ValueError("max_depth out of range")
    b = buf  # bytes, bytearray or memoryview: b[i] is an int, no copy
    n = len(b)
    stack = bytearray(max_depth)  # the open containers, '{' or '[': no recursion
    depth = 0
    i = 0
    while True:
        # a value
        i = _ws(b, i, n)
        if i >= n:
            _err("unexpected end", i)
        c = b[i]
        closed = False
        if c == 123 or c == 91:  # { [
            if depth >= max_depth:
                _err("nested too deeply", i)
            stack[depth] = c
            depth += 1
            i = _ws(b, i + 1, n)
            if i < n and b[i] == c + 2:  # } ]
                i += 1
                depth -= 1
                closed = True
            elif c == 91:
                continue
        elif c == 34:
            i = _string(b, i, n)
        elif c == 45 or 48 <= c <= 57:
            i = _number(b, i, n)
        else:
            w = b"true" if c == 116 else b"false" if c == 102 else b"null"
            if n - i < len(w):
                _err("unexpected character", i)
            for k in range(len(w)):
                if b[i + k] != w[k]:
                    _err("unexpected character", i)
            i += len(w)
        if c != 123 or closed:
            # after a value: close containers, or a comma
            while True:
                i = _ws(b, i, n)
                if depth == 0:
                    if i != n:
                        _err("data after the JSON value", i)
                    return
                if i >= n:
                    _err("unexpected end", i)
                c = b[i]
                top = stack[depth - 1]
                i += 1
                if c == 44:  # ,
                    break
                if c == top + 2:
                    depth -= 1
                    continue
                _err("expected ',' or '}'" if top == 123 else "expected ',' or ']'", i - 1)
            if top == 91:
                continue
        # a key, then ':'
        i = _ws(b, i, n)
        if i >= n or b[i] != 34:
            _err("expected a string key", i)
        i = _ws(b, _string(b, i, n), n)
        if i >= n or b[i] != 58:  # :
            _err("expected ':'", i)
        i += 1
