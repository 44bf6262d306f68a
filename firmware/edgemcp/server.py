# The device's MCP server: JSON-RPC 2.0 parsing and checking, the MCP methods and MCP logging,
# for any number of sessions (one per client and link: serial, MQTT), in both eras of MCP: a
# request whose _meta names a modern protocol version (2026-07-28) is served statelessly; an
# initialize selects the 2025 behaviour for that session. Protocol extensions add their methods
# with register(). Imports nothing of the app.
import json
import time
import asyncio
try:
    import jsoncheck  # strict syntax check (C): MicroPython's json.loads accepts malformed text
except ImportError:  # stock firmware: the same check in Python
    from . import jsonstrict as jsoncheck
from . import registry, schema

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")  # the initialize era
MODERN = ("2026-07-28",)  # the per-request era: no initialize, no session
_PV = "io.modelcontextprotocol/protocolVersion"  # request _meta keys of the modern era
_CAPS = "io.modelcontextprotocol/clientCapabilities"
_SID = "io.modelcontextprotocol/subscriptionId"
_LOG = "io.modelcontextprotocol/logLevel"
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

# const(): folded by MicroPython's compiler (no import needed); a public name stays a global.
PARSE_ERROR = const(-32700)
INVALID_REQUEST = const(-32600)
METHOD_NOT_FOUND = const(-32601)
INVALID_PARAMS = const(-32602)
INTERNAL_ERROR = const(-32603)
RESOURCE_NOT_FOUND = const(-32002)
UNSUPPORTED_VERSION = const(-32022)
MISSING_CAPABILITY = const(-32021)
_MAX_DEPTH = const(32)  # JSON nesting accepted in a message
_INFO = const(1)  # index of "info" in LEVELS

# Set by the app from the config before any session opens.
settings = {"name": "edgemcp", "version": "0", "page_bytes": 4096, "max_message": 16384,
            "log_records": 16}
sessions = []


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        self.code = code
        self.message = message
        self.data = data


class Session:
    # One MCP client on one link. `write(b)` sends one serialized message, without framing.
    def __init__(self, write):
        self.write = write
        self.ready = False
        self.version = None
        self.level = _INFO  # index in LEVELS until the client sets one
        self.subs = set()
        self.tasks = {}  # request id -> running async tool task
        self.listens = {}  # modern subscriptions/listen: request id -> its notification filter
        self.req_levels = {}  # modern requests in progress that asked for log messages: id -> level
        self.caps = {}  # what the 2025-era client declared it can answer (initialize)
        self.asks = {}  # our questions to that client in flight (ask.py): id -> [Event, response]
        self.ext = None  # a protocol extension's state for this session (forward.py: its event sink)


def register(method, handler):
    """Adds a request method (a protocol extension): handler(session, id, params) -> result,
    raising RpcError for an error reply."""
    METHODS[method] = handler


def open_session(write):
    s = Session(write)
    sessions.append(s)
    return s


def close_session(s):
    for t in s.tasks.values():
        t.cancel()
    s.tasks.clear()
    s.listens.clear()
    s.req_levels.clear()
    if s in sessions:
        sessions.remove(s)


def send(s, msg):
    try:
        b = json.dumps(msg, separators=(",", ":"))
    except (TypeError, ValueError) as e:  # a handler returned something JSON cannot carry
        b = None
        err = "result not serializable: %s" % e
    else:
        err = "message of %d bytes exceeds max_message" % len(b) if len(b) > settings["max_message"] else None
    if err:
        if "id" not in msg:
            return
        b = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": INTERNAL_ERROR, "message": err}})
    s.write(b)


def reply(s, rid, result):
    send(s, {"jsonrpc": "2.0", "id": rid, "result": result})


def error(s, rid, code, message, data=None):
    e = {"code": code, "message": message}
    if data is not None:
        e["data"] = data
    send(s, {"jsonrpc": "2.0", "id": rid, "error": e})


def notify(s, method, params):
    send(s, {"jsonrpc": "2.0", "method": method, "params": params})


def _top_id(buf):
    # The id of a message too large to parse: "id" at the top level of the object, when it is
    # an integer or a plain string (scanned in place: nothing is allocated until it is found).
    n = len(buf)
    i = d = 0
    while i < n:
        c = buf[i]
        if c == 34:  # a string: a key or a value
            if d == 1 and i + 4 < n and buf[i + 1] == 105 and buf[i + 2] == 100 and buf[i + 3] == 34:
                i += 4
                while i < n and buf[i] in b" \t\r\n:":
                    i += 1
                j = i + 1
                if i < n and buf[i] == 34:
                    while j < n and buf[j] != 34 and buf[j] != 92:
                        j += 1
                    return str(bytes(buf[i + 1:j]), "utf-8") if j < n and buf[j] == 34 else None
                while j < n and 48 <= buf[j] <= 57:
                    j += 1
                try:
                    return int(bytes(buf[i:j]))
                except ValueError:
                    return None
            i += 1
            while i < n and buf[i] != 34:
                i += 2 if buf[i] == 92 else 1
        elif c == 123 or c == 91:
            d += 1
        elif c == 125 or c == 93:
            d -= 1
        i += 1
    return None


def receive(s, buf):
    """Handle one raw message (bytes or memoryview) from session s."""
    try:
        jsoncheck.check(buf, _MAX_DEPTH)
        msg = json.loads(buf)
    except MemoryError:  # what was parsed so far is garbage now: answer, and serve on
        msg = None
        error(s, _top_id(buf), INTERNAL_ERROR, "out of memory parsing a message of %d bytes" % len(buf))
        return
    except (ValueError, UnicodeError) as e:
        e = str(e)
        if e.startswith("nested"):
            error(s, None, INVALID_REQUEST, "JSON nested deeper than %d levels" % _MAX_DEPTH)
        else:
            error(s, None, PARSE_ERROR, "parse error: " + e)
        return
    if not isinstance(msg, dict):
        error(s, None, INVALID_REQUEST, "batches are not supported" if isinstance(msg, list) else "not a JSON-RPC object")
        return
    rid = msg.get("id")
    has_id = "id" in msg
    if has_id and (isinstance(rid, bool) or not isinstance(rid, (str, int))):
        error(s, None, INVALID_REQUEST, "id must be a string or an integer")
        return
    if msg.get("jsonrpc") != "2.0":
        error(s, rid, INVALID_REQUEST, 'jsonrpc must be "2.0"')
        return
    method = msg.get("method")
    if method is None:
        if has_id and ("result" in msg or "error" in msg):
            w = s.asks.get(rid)  # the answer to a tool's question (ask.py); else nothing waits for it
            if w:
                w[1] = msg
                w[0].set()
            return
        error(s, rid, INVALID_REQUEST, "method missing")
        return
    if not isinstance(method, str):
        error(s, rid, INVALID_REQUEST, "method must be a string")
        return
    params = msg.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        if has_id:
            error(s, rid, INVALID_PARAMS if isinstance(params, list) else INVALID_REQUEST, "params must be an object")
        return
    if not has_id:
        h = NOTIFICATIONS.get(method)
        if h:
            h(s, params)
        return
    meta = params.get("_meta")
    v = meta.get(_PV) if isinstance(meta, dict) else None
    modern = v is not None and v not in VERSIONS
    try:
        if modern:
            h = _modern_handler(method, meta, v)
            lv = meta.get(_LOG)
            if lv in LEVELS:  # the device log goes to this request while it runs
                s.req_levels[rid] = LEVELS.index(lv)
        else:
            h = METHODS.get(method)
            if h is None or method in MODERN_ONLY:
                raise RpcError(METHOD_NOT_FOUND, "method not found: " + method)
            if not s.ready and method not in ("initialize", "ping"):
                raise RpcError(INVALID_REQUEST, "not initialized: send initialize first")
        r = h(s, rid, params)
    except RpcError as e:
        if modern and e.code == RESOURCE_NOT_FOUND:  # the modern era's code for it
            e.code = INVALID_PARAMS
        error(s, rid, e.code, e.message, e.data)
    except Exception as e:  # a bug must not take the device down
        error(s, rid, INTERNAL_ERROR, "internal error: %r" % e)
    else:
        if r is not _PENDING:
            reply(s, rid, _modern_result(method, r) if modern else r)
            s.req_levels.pop(rid, None)
        return
    s.req_levels.pop(rid, None)


def _modern_handler(method, meta, v):
    # A modern request: its version and capabilities checked, and no method of the other era.
    if v not in MODERN:
        raise RpcError(UNSUPPORTED_VERSION, "Unsupported protocol version",
                       {"supported": MODERN + VERSIONS, "requested": v})
    if not isinstance(meta.get(_CAPS), dict):
        raise RpcError(INVALID_PARAMS, "_meta needs " + _CAPS)
    h = METHODS.get(method)
    if h is None or method in LEGACY_ONLY:
        raise RpcError(METHOD_NOT_FOUND, "method not found: " + method)
    return h


def _modern_result(method, r):
    # What every modern result carries: its type, the server's identity, and on the
    # cacheable methods how long it stays fresh (nothing is: tools and resources can change).
    if "resultType" not in r:  # (input_required has its own)
        r["resultType"] = "complete"
    r["_meta"] = {"io.modelcontextprotocol/serverInfo": _server_info()}
    if method in _CACHEABLE:
        r["ttlMs"] = 0
        r["cacheScope"] = "public"
    return r


_PENDING = object()  # the reply is sent later by a task


def _str_param(p, key):
    v = p.get(key)
    if not isinstance(v, str):
        raise RpcError(INVALID_PARAMS, "params.%s must be a string" % key)
    return v


def _server_info():
    return {"name": settings["name"], "version": settings["version"]}


def _capabilities(modern):
    c = {"tools": {"listChanged": True}, "resources": {"subscribe": True, "listChanged": True},
         "prompts": {"listChanged": True}, "completions": {}}
    if not modern:  # the modern era has no logging capability: the level comes with each request
        c["logging"] = {}
    return c


def _initialize(s, rid, p):
    v = p.get("protocolVersion")
    if not isinstance(v, str):
        raise RpcError(INVALID_PARAMS, "params.protocolVersion must be a string")
    s.version = v if v in VERSIONS else VERSIONS[0]
    s.ready = True
    c = p.get("capabilities")
    s.caps = c if isinstance(c, dict) else {}
    return {"protocolVersion": s.version, "capabilities": _capabilities(False), "serverInfo": _server_info()}


def _discover(s, rid, p):
    return {"supportedVersions": MODERN + VERSIONS, "capabilities": _capabilities(True)}


def _page(items, p, key):
    # One page of descriptors whose JSON stays within the page byte budget; cursor = next index.
    c = p.get("cursor")
    start = 0
    if c is not None:
        try:
            start = int(c)
        except (TypeError, ValueError):
            raise RpcError(INVALID_PARAMS, "invalid cursor")
        if not 0 <= start <= len(items):
            raise RpcError(INVALID_PARAMS, "invalid cursor")
    budget = settings["page_bytes"] - 80  # envelope, id and cursor
    out = []
    i = start
    while i < len(items):
        n = len(json.dumps(items[i])) + 1
        if out and n > budget:
            break
        budget -= n
        out.append(items[i])
        i += 1
    r = {key: out}
    if i < len(items):
        r["nextCursor"] = str(i)
    return r


def _tools_list(s, rid, p):
    return _page([t.desc for t in registry.TOOLS], p, "tools")


class Context:
    # Given to tool handlers declared with ctx=True. `caps`: what the client can answer (its
    # capabilities, of either era); `answers`: in the modern era, what it answered to this
    # call's questions so far (ask.py), else None.
    def __init__(self, s, rid, token, caps, answers):
        self.session = s
        self.request_id = rid
        self.token = token
        self.caps = caps
        self.answers = answers
        self.asked = 0

    def can_ask(self, method):
        """Whether the client can answer `method` (elicitation/create, sampling/createMessage)."""
        from . import ask
        return ask.can(self, method)

    async def ask_all(self, questions):
        """Asks the client (async tools): {key: (method, params)} -> {key: its result}, e.g.
        {"action": "accept", "content": {...}} for elicitation/create. Raises ToolError when it
        cannot answer one."""
        from . import ask
        return await ask.ask_all(self, questions, send)

    async def ask(self, method, params, key=None):
        if key is None:
            key = "q%d" % self.asked
        self.asked += 1
        return (await self.ask_all({key: (method, params)}))[key]

    async def elicit(self, message, schema, key=None):
        return await self.ask("elicitation/create", {"mode": "form", "message": message, "requestedSchema": schema}, key)

    async def sample(self, text, max_tokens=200, key=None):
        return await self.ask("sampling/createMessage", {
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}], "maxTokens": max_tokens}, key)

    def progress(self, done, total=None, message=None):
        if self.token is None:
            return
        p = {"progressToken": self.token, "progress": done}
        if total is not None:
            p["total"] = total
        if message:
            p["message"] = message
        notify(self.session, "notifications/progress", p)

    def log(self, level, data):
        log(level, data)


def tool_result(v):
    if isinstance(v, str):
        return {"content": [{"type": "text", "text": v}]}
    if isinstance(v, dict):
        return {"content": [{"type": "text", "text": json.dumps(v)}], "structuredContent": v}
    if isinstance(v, list):
        return {"content": v}
    if v is None:
        return {"content": []}
    return {"content": [{"type": "text", "text": str(v)}]}


def _failed(msg):
    return {"content": [{"type": "text", "text": msg}], "isError": True}


def _tools_call(s, rid, p):
    name = _str_param(p, "name")
    t = registry.find_tool(name)
    if t is None:  # a protocol error in MCP, not a tool's failure
        raise RpcError(INVALID_PARAMS, "unknown tool: " + name, {"tool": name})
    args = p.get("arguments")
    if args is None:
        args = {}
    err = schema.check(t.desc["inputSchema"], args)
    if err:
        return _failed("invalid arguments: " + err)
    meta = p.get("_meta")
    if not isinstance(meta, dict):
        meta = {}
    token = meta.get("progressToken")
    modern = meta.get(_PV) in MODERN
    ctx = _context(s, rid, p, meta, name, args, token) if t.ctx else None
    try:
        r = t.fn(ctx, **args) if t.ctx else t.fn(**args)
    except registry.ToolError as e:
        return _failed(str(e))
    except Exception as e:
        return _failed("%s failed: %r" % (name, e))
    if hasattr(r, "send"):  # a coroutine: run it as a task so the link keeps serving
        s.tasks[rid] = asyncio.create_task(_finish(s, rid, name, r, modern, ctx, args))
        return _PENDING
    return tool_result(r)


def _context(s, rid, p, meta, name, args, token=None):
    # The Context of a call to a handler declared with ctx=True.
    got = None
    caps = meta.get(_CAPS)  # a 2025 client behind a bridge: its capabilities, with its call
    if not isinstance(caps, dict):
        caps = s.caps
    if meta.get(_PV) in MODERN:  # a retry brings answers (checked) to the questions of an earlier round
        got = {}
        if "requestState" in p or "inputResponses" in p:
            from . import ask
            try:
                got = ask.answers(name, args, p)
            except ValueError as e:
                raise RpcError(INVALID_PARAMS, str(e))
    return Context(s, rid, token, caps, got)


async def _finish(s, rid, name, coro, modern, ctx, args):
    try:
        r = tool_result(await coro)
    except asyncio.CancelledError:
        return  # cancelled by the client: no reply
    except registry.InputRequired as q:
        from . import ask
        r = ask.required(q, name, args, ctx.answers)
    except registry.MissingCapability as e:
        error(s, rid, MISSING_CAPABILITY, "%s needs a capability the client did not declare: %s"
              % (name, ", ".join(e.caps)), {"requiredCapabilities": e.caps})
        return
    except registry.ToolError as e:
        r = _failed(str(e))
    except Exception as e:
        r = _failed("%s failed: %r" % (name, e))
    finally:
        s.tasks.pop(rid, None)
        s.req_levels.pop(rid, None)
    reply(s, rid, _modern_result("tools/call", r) if modern else r)


def _cancelled(s, p):
    rid = p.get("requestId")
    t = s.tasks.pop(rid, None)
    if t:
        t.cancel()
    s.listens.pop(rid, None)  # a listen stream ends by cancellation, without a reply
    s.req_levels.pop(rid, None)


def _resources_list(s, rid, p):
    return _page([r.desc for r in registry.RESOURCES.values()], p, "resources")


def _templates_list(s, rid, p):
    return _page([t.desc for t in registry.TEMPLATES], p, "resourceTemplates")


def _resources_read(s, rid, p):
    uri = _str_param(p, "uri")
    r = registry.find_resource(uri)
    if r is None:
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found: " + uri, {"uri": uri})
    res, kw = r
    try:
        v = res.fn(**kw)
    except KeyError:  # a template variable that names nothing
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found: " + uri, {"uri": uri})
    c = {"uri": uri, "mimeType": res.desc["mimeType"]}
    if isinstance(v, (bytes, bytearray, memoryview)):
        import binascii
        c["blob"] = binascii.b2a_base64(v, newline=False).decode()
    elif isinstance(v, str):
        c["text"] = v
    else:
        c["text"] = json.dumps(v)
    return {"contents": [c]}


def _subscribe(s, rid, p):
    uri = _str_param(p, "uri")
    if registry.find_resource(uri) is None:
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found: " + uri, {"uri": uri})
    s.subs.add(uri)
    return {}


def _unsubscribe(s, rid, p):
    s.subs.discard(_str_param(p, "uri"))
    return {}


def _listen(s, rid, p):
    # subscriptions/listen: acknowledged at once with what the device will send, then open
    # until the client cancels it; its notifications carry its id.
    try:
        f = p["notifications"]
        ok = {k: True for k in ("toolsListChanged", "resourcesListChanged", "promptsListChanged") if f.get(k) is True}
        uris = f.get("resourceSubscriptions")
        if uris is not None:
            ok["resourceSubscriptions"] = [u for u in uris if registry.find_resource(u) is not None]
    except (KeyError, AttributeError, TypeError):
        raise RpcError(INVALID_PARAMS, "params.notifications: an object, resourceSubscriptions a list of URIs")
    s.listens[rid] = ok
    notify(s, "notifications/subscriptions/acknowledged", {"notifications": ok, "_meta": {_SID: rid}})
    return _PENDING


def _list_changed(kind):
    # A tool, resource or prompt declared while the device runs (a module imported late).
    m = "notifications/%s/list_changed" % kind
    for s in sessions:
        if s.ready:
            notify(s, m, {})
        for rid, f in s.listens.items():
            if f.get(kind + "ListChanged"):
                notify(s, m, {"_meta": {_SID: rid}})


registry.on_change = _list_changed


def notify_resource_updated(uri):
    for s in sessions:
        if uri in s.subs:
            notify(s, "notifications/resources/updated", {"uri": uri})
        for rid, f in s.listens.items():  # modern listen streams, each notification tagged
            if uri in f.get("resourceSubscriptions", ()):
                notify(s, "notifications/resources/updated", {"uri": uri, "_meta": {_SID: rid}})


def _prompts_list(s, rid, p):
    return _page([v.desc for v in registry.PROMPTS.values()], p, "prompts")


def _prompts_get(s, rid, p):
    name = _str_param(p, "name")
    pr = registry.PROMPTS.get(name)
    if pr is None:
        raise RpcError(INVALID_PARAMS, "unknown prompt: " + name)
    args = p.get("arguments") or {}
    if not isinstance(args, dict):
        raise RpcError(INVALID_PARAMS, "params.arguments must be an object")
    decl = pr.desc["arguments"]
    for a in decl:
        if a.get("required") and a["name"] not in args:
            raise RpcError(INVALID_PARAMS, "missing argument: " + a["name"])
    known = [a["name"] for a in decl]
    for k, v in args.items():
        if k not in known or not isinstance(v, str):
            raise RpcError(INVALID_PARAMS, "bad argument: " + k)
    if not pr.ctx:
        return _prompt_result(pr, pr.fn(**args))
    meta = p.get("_meta")
    if not isinstance(meta, dict):
        meta = {}
    ctx = _context(s, rid, p, meta, name, args)
    s.tasks[rid] = asyncio.create_task(_finish_prompt(s, rid, pr, pr.fn(ctx, **args), meta.get(_PV) in MODERN, ctx, args))
    return _PENDING


def _prompt_result(pr, v):
    if isinstance(v, str):
        v = [{"role": "user", "content": {"type": "text", "text": v}}]
    return {"description": pr.desc["description"], "messages": v}


async def _finish_prompt(s, rid, pr, coro, modern, ctx, args):
    # An async prompt with ctx=True (one that asks): its messages, or the questions it stopped at.
    name = pr.desc["name"]
    try:
        r = _prompt_result(pr, await coro)
    except asyncio.CancelledError:
        return
    except registry.InputRequired as q:
        from . import ask
        r = ask.required(q, name, args, ctx.answers)
    except Exception as e:  # ToolError, MissingCapability, a bug: prompts/get answers an error
        code = MISSING_CAPABILITY if isinstance(e, registry.MissingCapability) else INTERNAL_ERROR
        error(s, rid, code, "prompt %s: %s" % (name, e), {"requiredCapabilities": e.caps} if code != INTERNAL_ERROR else None)
        return
    finally:
        s.tasks.pop(rid, None)
        s.req_levels.pop(rid, None)
    reply(s, rid, _modern_result("prompts/get", r) if modern else r)


def _complete(s, rid, p):
    # completion/complete for a prompt argument or a template variable: the declared values
    # that start with what was typed (a function's list as it returns it), 100 at most.
    ref, arg = p.get("ref"), p.get("argument")
    try:
        e = registry.PROMPTS.get(ref["name"]) if ref["type"] == "ref/prompt" else \
            [t for t in registry.TEMPLATES if t.desc["uriTemplate"] == ref["uri"]][0]
        src, typed = (e.complete or {}).get(arg["name"]), arg.get("value") or ""
        vals = src(typed) if callable(src) else [v for v in src or () if v.startswith(typed)]
    except (TypeError, KeyError, IndexError, AttributeError):  # malformed, or no such prompt or template
        raise RpcError(INVALID_PARAMS, "completion/complete: unknown ref or bad argument")
    return {"completion": {"values": vals[:100], "total": len(vals), "hasMore": len(vals) > 100}}


def _set_level(s, rid, p):
    lv = p.get("level")
    if lv not in LEVELS:
        raise RpcError(INVALID_PARAMS, "level must be one of " + ", ".join(LEVELS))
    s.level = LEVELS.index(lv)
    return {}


def _ping(s, rid, p):
    return {}


log_ring = []  # the last settings["log_records"] records, oldest first (device://log)


def log(level, data, logger="edgemcp"):
    """A device log record: kept for device://log, and sent to every session whose logging
    level lets it through (notifications/message). stdout belongs to the protocol."""
    try:
        n = LEVELS.index(level)
    except ValueError:
        n, level = _INFO, "info"
    if len(log_ring) >= settings["log_records"]:
        log_ring.pop(0)
    log_ring.append({"t": time.ticks_ms(), "level": level, "logger": logger, "data": data})
    for s in sessions:
        if s.ready and n >= s.level:
            notify(s, "notifications/message", {"level": level, "logger": logger, "data": data})
        for rid, lv in s.req_levels.items():  # modern requests, listen streams tagged as theirs
            if n >= lv:
                p = {"level": level, "logger": logger, "data": data}
                if rid in s.listens:
                    p["_meta"] = {_SID: rid}
                notify(s, "notifications/message", p)
    notify_resource_updated("device://log")


METHODS = {
    "initialize": _initialize,
    "ping": _ping,
    "server/discover": _discover,
    "subscriptions/listen": _listen,
    "tools/list": _tools_list,
    "tools/call": _tools_call,
    "resources/list": _resources_list,
    "resources/read": _resources_read,
    "resources/templates/list": _templates_list,
    "resources/subscribe": _subscribe,
    "resources/unsubscribe": _unsubscribe,
    "prompts/list": _prompts_list,
    "prompts/get": _prompts_get,
    "logging/setLevel": _set_level,
    "completion/complete": _complete,
}

# The methods of one era only; results of _CACHEABLE carry caching hints in the modern era.
LEGACY_ONLY = ("initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe")
MODERN_ONLY = ("server/discover", "subscriptions/listen")
_CACHEABLE = ("server/discover", "tools/list", "resources/list", "resources/templates/list", "resources/read",
              "prompts/list")

# notifications/initialized needs nothing: the session is ready once initialize is answered.
NOTIFICATIONS = {"notifications/cancelled": _cancelled}
