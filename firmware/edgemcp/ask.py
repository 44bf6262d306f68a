# Asking the client during a tool call (ctx.elicit, ctx.sample), in both eras of MCP; imported
# on the first question. 2025: a request to the client (elicitation/create, sampling/createMessage)
# on the session's link, whose response the server hands back here. 2026-07-28, which has no
# server-to-client requests: the tool stops with an input_required result naming what it needs,
# and runs again from its start when the client retries with the answer; the requestState
# carries the answers so far, bound to the tool and its arguments by an HMAC-SHA256 whose key
# is made at boot (a state from before a reset, or tampered with, is refused: -32602).
import asyncio
import binascii
import hashlib
import json
import os
from .registry import InputRequired, MissingCapability, ToolError

RELATED_REQUEST = "edgemcp/relatedRequestId"
_KEY = os.urandom(32)
_ASK_TIMEOUT_MS = const(300000)  # a person answers a 2025 client's question within 5 minutes
_ids = [0]


def _hmac(msg):
    k = _KEY + bytes(32)  # the key padded to SHA-256's 64-byte block
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    outer.update(inner.digest())
    return outer.digest()


def _bind(name, args):
    # what a state belongs to: the tool and its arguments (top-level keys sorted: a retry may
    # send them in another order)
    return [name, sorted(args.items())]


def seal(name, args, answers):
    payload = json.dumps([_bind(name, args), answers]).encode()
    return "%s.%s" % (binascii.b2a_base64(payload, newline=False).decode(), binascii.hexlify(_hmac(payload)).decode())


def answers(name, args, p):
    """The answers a retry brings: those its requestState carries (checked) and its
    inputResponses. -> dict key -> the client's result; ValueError (-32602) if either is bad."""
    got = {}
    state = p.get("requestState")
    if state is not None:
        try:
            b64, mac = state.split(".")
            payload = binascii.a2b_base64(b64)
            ok = binascii.unhexlify(mac) == _hmac(payload)
            bound, got = json.loads(payload) if ok else (None, None)
        except Exception:  # not a state this device made: any shape at all
            ok = False
        if not ok or json.loads(json.dumps(bound)) != json.loads(json.dumps(_bind(name, args))):
            raise ValueError("requestState: not valid for this request (tampered, from another call, or from "
                             "before the device restarted)")
    r = p.get("inputResponses")
    if r is not None:
        if not isinstance(r, dict):
            raise ValueError("inputResponses must be an object")
        got.update(r)
    return got


def required(q, name, args, got):
    """The input_required result for the questions the tool could not have answered yet."""
    return {"resultType": "input_required", "inputRequests": q.requests, "requestState": seal(name, args, got)}


def can(ctx, method):
    return method.split("/")[0] in ctx.caps  # elicitation, sampling


async def ask_all(ctx, questions, send):
    """questions: {key: (method, params)} -> {key: the client's result}. In the modern era all
    that are not answered yet go out in one input_required result."""
    for method, _ in questions.values():
        if not can(ctx, method):
            if ctx.answers is not None:  # the modern era names it as a protocol error, -32021
                raise MissingCapability({method.split("/")[0]: {}})
            raise ToolError("the client cannot answer %s (it did not declare the capability)" % method)
    if ctx.answers is not None:  # the modern era: the answers came with this call, or stop here
        missing = {k: {"method": m, "params": p} for k, (m, p) in questions.items() if k not in ctx.answers}
        if missing:
            raise InputRequired(missing)
        return {k: ctx.answers[k] for k in questions}
    got = {}  # one after another (an await in a comprehension is not MicroPython's)
    for k, (m, p) in questions.items():
        got[k] = await _request(ctx, m, p, send)
    return got


async def _request(ctx, method, params, send):
    # The 2025 era: a request to the client on the session's link, and its answer.
    s = ctx.session
    _ids[0] += 1
    rid = "ask-%d" % _ids[0]
    w = s.asks[rid] = [asyncio.Event(), None]
    p = dict(params)  # tagged with the call it belongs to: a bridge serves many clients on one link
    p["_meta"] = {RELATED_REQUEST: ctx.request_id}
    send(s, {"jsonrpc": "2.0", "id": rid, "method": method, "params": p})
    try:
        await asyncio.wait_for_ms(w[0].wait(), _ASK_TIMEOUT_MS)
    except asyncio.TimeoutError:
        raise ToolError("no answer to %s within %d s" % (method, _ASK_TIMEOUT_MS // 1000))
    finally:
        s.asks.pop(rid, None)
    r = w[1]
    if "error" in r:
        raise ToolError("the client answered %s with an error: %s" % (method, r["error"].get("message")))
    return r.get("result") or {}
