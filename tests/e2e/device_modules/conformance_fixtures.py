# Device-side fixtures that the MCP conformance suite calls by fixed names. Not part of the
# firmware: the conformance test copies this file into the virtual device's filesystem and
# lists it under "modules" in /edgemcp.json, as a user would deploy their own tool module.
import asyncio
import binascii
from edgemcp import tool, resource, prompt, log, ToolError

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
WAV = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA=="
IMAGE = {"type": "image", "data": PNG, "mimeType": "image/png"}
EMBEDDED = {"type": "resource", "resource": {"uri": "test://embedded-resource", "mimeType": "text/plain",
                                             "text": "This is an embedded resource content."}}


@tool("Returns a simple text response.")
def test_simple_text():
    return "This is a simple text response for testing."


@tool("Always fails with a tool error.")
def test_error_handling():
    raise ToolError("This tool intentionally returns an error for testing")


@tool("Returns a 1x1 PNG image.")
def test_image_content():
    return [IMAGE]


@tool("Returns a short WAV sound.")
def test_audio_content():
    return [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]


@tool("Returns an embedded text resource.")
def test_embedded_resource():
    return [EMBEDDED]


@tool("Returns text, an image and an embedded resource.")
def test_multiple_content_types():
    return [{"type": "text", "text": "Multiple content types test:"}, IMAGE, EMBEDDED]


@tool("Sends three log messages while it runs.")
async def test_tool_with_logging():
    for i, what in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
        log("info", what)
        if i < 2:
            await asyncio.sleep_ms(50)
    return "Tool with logging executed successfully"


@tool("Reports progress 0, 50 and 100 of 100.", ctx=True)
async def test_tool_with_progress(ctx):
    for p in (0, 50, 100):
        ctx.progress(p, 100)
        await asyncio.sleep_ms(50)
    return "Tool with progress completed"


@resource("test://static-text", mime_type="text/plain", description="A fixed text")
def static_text():
    return "This is the content of the static text resource."


@resource("test://static-binary", mime_type="image/png", description="A fixed PNG")
def static_binary():
    return binascii.a2b_base64(PNG)


@resource("test://template/{id}/data", description="Data for an id", complete={"id": lambda typed: [
    i for i in ("1", "2", "42", "420") if i.startswith(typed)]})
def template_data(id):
    return {"id": id, "templateTest": True, "data": "Data for ID: " + id}


@resource("test://watched-resource", mime_type="text/plain", description="A resource to subscribe to")
def watched():
    return "Watched resource content"


@prompt("A prompt without arguments.")
def test_simple_prompt():
    return "This is a simple prompt for testing."


@prompt("A prompt with two arguments.", [{"name": "arg1", "description": "first", "required": True},
                                          {"name": "arg2", "description": "second", "required": True}],
        complete={"arg1": ("paris", "park", "party", "test", "testing")})
def test_prompt_with_arguments(arg1, arg2):
    return "Prompt with arguments: arg1='%s', arg2='%s'" % (arg1, arg2)


@prompt("A prompt that embeds a resource.", [{"name": "resourceUri", "description": "the resource", "required": True}])
def test_prompt_with_embedded_resource(resourceUri):
    return [{"role": "user", "content": {"type": "resource", "resource": {
                "uri": resourceUri, "mimeType": "text/plain", "text": "Embedded resource content for testing."}}},
            {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}}]


@prompt("A prompt with an image.")
def test_prompt_with_image():
    return [{"role": "user", "content": IMAGE},
            {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}}]


@tool("Asks the client's model for a completion of the prompt.", {"prompt": {"type": "string"}}, ctx=True)
async def test_sampling(ctx, prompt):
    r = await ctx.sample(prompt, 100)
    return "LLM response: " + r["content"]["text"]


@tool("Asks the user for a name and an email.", {"message": {"type": "string"}}, ctx=True)
async def test_elicitation(ctx, message):
    r = await ctx.elicit(message, {"type": "object", "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"}}, "required": ["username", "email"]})
    return "User response: action=%s, content=%s" % (r.get("action"), r.get("content"))


@tool("Asks the user with a default for every primitive type (SEP-1034).", ctx=True)
async def test_elicitation_sep1034_defaults(ctx):
    r = await ctx.elicit("Please review the defaults", {"type": "object", "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True}}})
    return "Elicitation completed: action=%s, content=%s" % (r.get("action"), r.get("content"))


@tool("Asks the user with the five enum forms (SEP-1330).", ctx=True)
async def test_elicitation_sep1330_enums(ctx):
    titled = [{"const": "value%d" % i, "title": t} for i, t in ((1, "First Option"), (2, "Second Option"),
                                                               (3, "Third Option"))]
    r = await ctx.elicit("Please choose", {"type": "object", "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "oneOf": titled},
        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                       "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "items": {"anyOf": [
            {"const": "value%d" % i, "title": t} for i, t in ((1, "First Choice"), (2, "Second Choice"),
                                                             (3, "Third Choice"))]}}}})
    return "Elicitation completed: action=%s, content=%s" % (r.get("action"), r.get("content"))


# The 2026-07-28 suite's input_required fixtures: the same ctx.ask as any tool, with the keys the
# suite expects (its rounds are a client's retries; the device keeps no state between them).
NAME_Q = ("elicitation/create", {"message": "What is your name?", "requestedSchema": {
    "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}})
CAPITAL_Q = ("sampling/createMessage", {"messages": [{"role": "user", "content": {
    "type": "text", "text": "What is the capital of France?"}}], "maxTokens": 100})


def _text(r):
    c = r.get("content") or {}
    return c.get("text") if isinstance(c, dict) else str(c)


@tool("Asks the user's name (input_required).", ctx=True)
async def test_input_required_result_elicitation(ctx):
    r = await ctx.ask(*NAME_Q, key="user_name")
    return "Hello, %s!" % (r.get("content") or {}).get("name")


@tool("Asks the client's model a question (input_required).", ctx=True)
async def test_input_required_result_sampling(ctx):
    return "The model said: %s" % _text(await ctx.ask(*CAPITAL_Q, key="capital_question"))


@tool("Asks the client for its roots (input_required).", ctx=True)
async def test_input_required_result_list_roots(ctx):
    r = await ctx.ask("roots/list", {}, key="client_roots")
    return "Roots: " + ", ".join(x.get("uri", "?") for x in r.get("roots") or [])


@tool("Asks for a confirmation; the answer comes back with the sealed requestState.", ctx=True)
async def test_input_required_result_request_state(ctx):
    r = await ctx.ask("elicitation/create", {"message": "Please confirm", "requestedSchema": {
        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}, key="confirm")
    return "state-ok: confirmed=%s" % (r.get("content") or {}).get("ok")


@tool("Asks three questions at once (input_required).", ctx=True)
async def test_input_required_result_multiple_inputs(ctx):
    got = await ctx.ask_all({
        "user_name": NAME_Q,
        "greeting": ("sampling/createMessage", {"messages": [{"role": "user", "content": {
            "type": "text", "text": "Generate a greeting"}}], "maxTokens": 50}),
        "client_roots": ("roots/list", {})})
    return "name=%s greeting=%s roots=%d" % ((got["user_name"].get("content") or {}).get("name"),
                                             _text(got["greeting"]), len(got["client_roots"].get("roots") or []))


@tool("Asks two questions, one round each (input_required).", ctx=True)
async def test_input_required_result_multi_round(ctx):
    name = await ctx.ask("elicitation/create", {"message": "Step 1: What is your name?", "requestedSchema": {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}, key="step1")
    color = await ctx.ask("elicitation/create", {"message": "Step 2: What is your favorite color?", "requestedSchema": {
        "type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}}, key="step2")
    return "%s likes %s" % ((name.get("content") or {}).get("name"), (color.get("content") or {}).get("color"))


# The same question, for the scenario that tampers with its sealed requestState.
tool("Asks the user's name with a sealed requestState (a tampered one is refused).",
     name="test_input_required_result_tampered_state", ctx=True)(test_input_required_result_elicitation)


@tool("Asks only what the client declared it can answer.", ctx=True)
async def test_input_required_result_capabilities(ctx):
    if ctx.can_ask("elicitation/create"):
        r = await ctx.ask(*NAME_Q, key="user_name")
        return "name: %s" % (r.get("content") or {}).get("name")
    return "The model said: %s" % _text(await ctx.ask(*CAPITAL_Q, key="capital_question"))


@tool("Tool with JSON Schema 2020-12 features", {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                          "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                   "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                   "phone": {"type": "string"}, "email": {"type": "string"}},
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]}, "else": {"required": ["email"]}, "additionalProperties": False})
def json_schema_2020_12_tool(**kw):
    return {"received": kw}


@tool("Needs the client's sampling capability (-32021 without it).", ctx=True)
async def test_missing_capability(ctx):
    return "The model said: %s" % _text(await ctx.sample("Say hello", 10))


@tool("Asks the user while it runs (an input_required result, never a request on the stream).", ctx=True)
async def test_streaming_elicitation(ctx):
    r = await ctx.elicit("Anything to add?", {"type": "object", "properties": {"note": {"type": "string"}}})
    return "note: %s" % (r.get("content") or {}).get("note")


@tool("Logs while it runs (sent only to a request that asked for a log level).")
def test_logging_tool():
    log("info", "test_logging_tool ran")
    return "logged"


@tool("Declares one more tool (a list change).")
def test_trigger_tool_change():
    tool("Added by test_trigger_tool_change.", name="test_added_tool")(lambda: "added")
    return "tool list changed"


@tool("Declares one more prompt (a list change).")
def test_trigger_prompt_change():
    prompt("Added by test_trigger_prompt_change.", name="test_added_prompt")(lambda: "added")
    return "prompt list changed"


@tool("Echoes a region also sent as the Mcp-Param-Region header (x-mcp-header, SEP-2243).",
      {"region": {"type": "string", "x-mcp-header": "Region"}, "text": {"type": "string", "default": ""}})
def test_custom_header(region, text=""):
    return "region=%s text=%s" % (region, text)


@prompt("A prompt that first asks the user for its context (input_required on prompts/get).", ctx=True)
async def test_input_required_result_prompt(ctx):
    r = await ctx.ask("elicitation/create", {"message": "What context should the prompt use?", "requestedSchema": {
        "type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}}, key="user_context")
    return "Answer with this context in mind: %s" % (r.get("content") or {}).get("context")
