# Checks tool arguments against the tool's inputSchema before the handler runs.
# Supports what device tools need: type, properties, required, additionalProperties (false),
# items, enum, minimum/maximum, minLength/maxLength, minItems/maxItems.


def _type_ok(t, v):
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v == int(v))
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    if t == "null":
        return v is None
    return True


def check(s, v, path="arguments"):
    """Returns None when v conforms to schema s, else a message naming the bad field."""
    t = s.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else (t,)
        for x in ts:
            if _type_ok(x, v):
                break
        else:
            return "%s: expected %s" % (path, " or ".join(ts))
    e = s.get("enum")
    if e is not None and v not in e:
        return "%s: must be one of %s" % (path, ", ".join([str(x) for x in e]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        m = s.get("minimum")
        if m is not None and v < m:
            return "%s: must be >= %s" % (path, m)
        m = s.get("maximum")
        if m is not None and v > m:
            return "%s: must be <= %s" % (path, m)
    elif isinstance(v, str):
        if len(v) < s.get("minLength", 0):
            return "%s: shorter than %d" % (path, s["minLength"])
        if "maxLength" in s and len(v) > s["maxLength"]:
            return "%s: longer than %d" % (path, s["maxLength"])
    elif isinstance(v, list):
        if len(v) < s.get("minItems", 0):
            return "%s: fewer than %d items" % (path, s["minItems"])
        if "maxItems" in s and len(v) > s["maxItems"]:
            return "%s: more than %d items" % (path, s["maxItems"])
        it = s.get("items")
        if it:
            for i, x in enumerate(v):
                err = check(it, x, "%s[%d]" % (path, i))
                if err:
                    return err
    elif isinstance(v, dict):
        props = s.get("properties", {})
        for k in s.get("required", ()):
            if k not in v:
                return "%s.%s: required" % (path, k)
        for k, x in v.items():
            ps = props.get(k)
            if ps is None:
                if s.get("additionalProperties") is False:
                    return "%s.%s: unknown property" % (path, k)
                continue
            err = check(ps, x, path + "." + k)
            if err:
                return err
    return None
