# What the device offers: tools, resources, resource templates and prompts, declared with the
# decorators of the public API (edgemcp.tool, edgemcp.resource, edgemcp.prompt).


class Entry:
    # A declared tool, resource, resource template or prompt: its descriptor (listed as it is)
    # and its handler; a tool's also says whether the handler takes a Context (progress, log)
    # before its arguments; a prompt's or template's, what completes its arguments or variable
    # ({name: [values] or fn(prefix) -> [values]}, for completion/complete).
    __slots__ = ("desc", "fn", "ctx", "complete")

    def __init__(self, desc, fn, complete=None):
        self.desc = desc
        self.fn = fn
        self.complete = complete


TOOLS = []  # [Entry] in declaration order
RESOURCES = {}  # uri -> Entry
TEMPLATES = []  # [Entry] whose descriptor has a uriTemplate
PROMPTS = {}  # name -> Entry
_NO_PARAMS = {"type": "object", "properties": {}}  # shared by every tool without parameters
on_change = None  # set by the server: on_change("tools"|"resources"|"prompts") after a declaration


class ToolError(Exception):
    """Raised by a tool handler: becomes a tool result with isError: true."""


class MissingCapability(Exception):
    # A modern-era tool needs what the client did not declare (ask.py): -32021 for the call.
    def __init__(self, caps):
        self.caps = caps  # {"sampling": {}}


class InputRequired(Exception):
    # A modern-era tool stopped at questions (ask.py): the call's result asks for the answers.
    def __init__(self, requests):
        self.requests = requests  # {key: {"method", "params"}}


def _schema(params):
    # `params` is a full JSON schema or just its properties (a property with "default" is optional).
    if params is None:
        return _NO_PARAMS
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
        t = Entry(d, fn)
        t.ctx = ctx
        for i, old in enumerate(TOOLS):  # re-declaring a name replaces it
            if old.desc["name"] == d["name"]:
                TOOLS[i] = t
                break
        else:
            TOOLS.append(t)
        if on_change:
            on_change("tools")
        return fn
    return deco


def find_tool(name):
    for t in TOOLS:
        if t.desc["name"] == name:
            return t
    return None


def resource(uri, name=None, description=None, mime_type="application/json", complete=None):
    def deco(fn):
        d = {"name": name or fn.__name__, "mimeType": mime_type}
        if description:
            d["description"] = description
        i = uri.find("{")
        if i < 0:
            d["uri"] = uri
            RESOURCES[uri] = Entry(d, fn)
        else:
            d["uriTemplate"] = uri  # one {var}: enough for model://{name}-style addresses
            TEMPLATES.append(Entry(d, fn, complete))
        if on_change:
            on_change("resources")
        return fn
    return deco


def find_resource(uri):
    # -> (Entry, handler kwargs) or None
    r = RESOURCES.get(uri)
    if r:
        return r, {}
    for t in TEMPLATES:
        u = t.desc["uriTemplate"]
        i = u.find("{")
        j = u.find("}", i)
        pre, suf = u[:i], u[j + 1:]
        if uri.startswith(pre) and uri.endswith(suf) and len(uri) > len(pre) + len(suf):
            v = uri[len(pre):len(uri) - len(suf)]
            if "/" not in v:
                return t, {u[i + 1:j]: v}
    return None


def prompt(description, arguments=None, name=None, title=None, complete=None, ctx=False):
    # arguments: [{"name", "description", "required"}]; ctx: an async handler that takes a Context
    # (to ask the client) before its arguments
    def deco(fn):
        d = {"name": name or fn.__name__, "description": description, "arguments": arguments or []}
        if title:
            d["title"] = title
        PROMPTS[d["name"]] = e = Entry(d, fn, complete)
        e.ctx = ctx
        if on_change:
            on_change("prompts")
        return fn
    return deco
