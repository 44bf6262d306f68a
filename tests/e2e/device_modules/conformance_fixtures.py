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
