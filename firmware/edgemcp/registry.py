# What the device offers: tools, resources, resource templates and prompts, declared with the
# decorators of the public API (edgemcp.tool, edgemcp.resource, edgemcp.prompt).

TOOLS = []  # [(descriptor dict, handler, wants_ctx)] in declaration order
RESOURCES = {}  # uri -> (descriptor dict, handler)
TEMPLATES = []  # [(descriptor dict, prefix, suffix, var name, handler)]
PROMPTS = {}  # name -> (descriptor dict, handler)


class ToolError(Exception):
    """Raised by a tool handler: becomes a tool result with isError: true."""


def _schema(params):
    # `params` is a full JSON schema or just its properties (a property with "default" is optional).
    if params is None:
        return {"type": "object", "properties": {}}
    if params.get("type") == "object":
        return params
    req = [k for k, v in params.items() if "default" not in v]
    s = {"type": "object", "properties": params}
    if req:
        s["required"] = req
    return s


def tool(description, params=None, name=None, title=None, output_schema=None, annotations=None, ctx=False):
    def deco(fn):
        d = {"name": name or fn.__name__, "description": description, "inputSchema": _schema(params)}
        if title:
            d["title"] = title
        if output_schema:
            d["outputSchema"] = output_schema
        if annotations:
            d["annotations"] = annotations
        for i, t in enumerate(TOOLS):  # re-declaring a name replaces it
            if t[0]["name"] == d["name"]:
                TOOLS[i] = (d, fn, ctx)
                break
        else:
            TOOLS.append((d, fn, ctx))
        return fn
    return deco


def find_tool(name):
    for t in TOOLS:
        if t[0]["name"] == name:
            return t
    return None


def resource(uri, name=None, description=None, mime_type="application/json"):
    def deco(fn):
        d = {"name": name or fn.__name__, "mimeType": mime_type}
        if description:
            d["description"] = description
        i = uri.find("{")
        if i < 0:
            d["uri"] = uri
            RESOURCES[uri] = (d, fn)
        else:
            # one {var} per template: enough for model://{name}-style addresses
            j = uri.find("}", i)
            d["uriTemplate"] = uri
            TEMPLATES.append((d, uri[:i], uri[j + 1:], uri[i + 1:j], fn))
        return fn
    return deco


def find_resource(uri):
    # -> (descriptor, handler, kwargs) or None
    r = RESOURCES.get(uri)
    if r:
        return r[0], r[1], {}
    for d, pre, suf, var, fn in TEMPLATES:
        if uri.startswith(pre) and uri.endswith(suf) and len(uri) > len(pre) + len(suf):
            v = uri[len(pre):len(uri) - len(suf)]
            if "/" not in v:
                return d, fn, {var: v}
    return None


def prompt(description, arguments=None, name=None, title=None):
    # arguments: [{"name", "description", "required"}]
    def deco(fn):
        d = {"name": name or fn.__name__, "description": description, "arguments": arguments or []}
        if title:
            d["title"] = title
        PROMPTS[d["name"]] = (d, fn)
        return fn
    return deco
