# Fixture tools for tests and protocol conformance runs; loaded only with "test_tools": true.
import asyncio
from .registry import tool, ToolError
from .server import log
from . import events


@tool("Echo the text back.", {"text": {"type": "string"}})
def echo(text):
    return text


@tool("Work for `seconds`, reporting progress `steps` times; cancellable.",
      {"seconds": {"type": "number", "minimum": 0, "maximum": 60},
       "steps": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5}}, ctx=True)
async def slow(ctx, seconds, steps=5):
    for i in range(steps):
        await asyncio.sleep(seconds / steps)
        ctx.progress(i + 1, steps, "step %d of %d" % (i + 1, steps))
    return {"slept": seconds, "steps": steps}


@tool("Always fails with a tool error (and logs it).", {"message": {"type": "string", "default": "failed on purpose"}})
def fail(message="failed on purpose"):
    log("error", message, "testtools")
    raise ToolError(message)


@tool("Add two numbers.", {"a": {"type": "number"}, "b": {"type": "number"}})
def add(a, b):
    return {"sum": a + b}


@tool("Emit `count` events {\"i\", \"data\"} on `stream` through the flash queue (store-and-forward).",
      {"stream": {"type": "string"}, "data": {"description": "any JSON value", "default": None},
       "count": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}})
def emit(stream, data=None, count=1):
    first = last = None
    for i in range(count):
        last = events.emit(stream, {"i": i, "data": data})
        if first is None:
            first = last
    return {"first_seq": first, "last_seq": last}


@tool("Ask the user for a name (elicitation), then a model for a greeting (sampling).", ctx=True)
async def greet(ctx):
    r = await ctx.elicit("Who is there?", {"type": "object", "properties": {"name": {"type": "string"}},
                                           "required": ["name"]})
    if r.get("action") != "accept":
        return "nobody: " + str(r.get("action"))
    name = r["content"]["name"]
    m = await ctx.sample("Greet %s in three words." % name, 20)
    return "%s -> %s" % (name, m["content"]["text"])
