"""The mcp SDK's Streamable HTTP session manager as the bridge uses it: a handshake-era (2025-11-25)
POST is answered with one `application/json` body instead of an event stream when nothing can
stream on it, and with the SDK's event stream otherwise.

Nothing can stream on a POST that carries no progress token, unless it is a tools/call of a
client that declared it can answer elicitation or sampling: the bridge sends a request's own
channel nothing but the progress it asked for (log messages and list changes go on the client's
standalone GET stream) and the device's questions during such a call. One JSON body costs the bridge and
the client much less than an event stream (task group, pings, event framing). The SDK offers
JSON answers only for a whole endpoint (`json_response`), which would drop progress; here its
JSON mode is chosen per POST. The 2026-07-28 era is untouched: the SDK already answers JSON there
unless the call emits something first."""
import asyncio
import collections
import itertools
import weakref

from mcp.server.streamable_http import EventMessage, EventStore, StreamableHTTPServerTransport, check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request

# The tasks serving a POST that is answered with JSON (uvicorn serves each request in its own task;
# the SDK reads its JSON-mode flag in that task while it handles the POST).
_JSON_POSTS = weakref.WeakSet()


class _Transport(StreamableHTTPServerTransport):
    may_ask = False  # the session's client declared elicitation or sampling (in its initialize)

    @property
    def is_json_response_enabled(self):
        return asyncio.current_task() in _JSON_POSTS

    @is_json_response_enabled.setter
    def is_json_response_enabled(self, value):
        pass  # the SDK's per-endpoint setting (off): decided per POST instead

    async def handle_request(self, scope, receive, send):
        if scope["method"] != "POST":
            await super().handle_request(scope, receive, send)
            return
        # The SDK's body-size limit has already read the whole body into one message.
        first = await receive()
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return first
            return await receive()

        body = first.get("body", b"") if first["type"] == "http.request" and not first.get("more_body") else None
        # The same Accept the SDK asks of an event-stream answer (both types): only the answer's form
        # changes. A substring test for the token: cheap on a large body, and SSE when in doubt.
        if body is not None and b'"initialize"' in body and (b'"elicitation"' in body or b'"sampling"' in body):
            self.may_ask = True
        if body is None or b"progressToken" in body or (self.may_ask and b'"tools/call"' in body) \
                or not all(check_accept_headers(Request(scope))):
            await super().handle_request(scope, replay, send)
            return
        task = asyncio.current_task()
        _JSON_POSTS.add(task)
        try:
            await super().handle_request(scope, replay, send)
        finally:
            _JSON_POSTS.discard(task)


class RecentEvents(EventStore):
    """The last `keep` event-stream messages of an endpoint, so a client whose stream broke can
    resume it with Last-Event-ID (and the SDK sends each stream's priming event, with the
    reconnection delay, once it has somewhere to store the cursor). Older events are dropped:
    a client gone that long starts again."""

    def __init__(self, keep=2000):
        self.events = collections.OrderedDict()  # event id -> (stream id, message or None)
        self.ids = itertools.count(1)
        self.keep = keep

    async def store_event(self, stream_id, message):
        eid = str(next(self.ids))
        self.events[eid] = (stream_id, message)
        while len(self.events) > self.keep:
            self.events.popitem(last=False)
        return eid

    async def replay_events_after(self, last_event_id, send_callback):
        if last_event_id not in self.events:
            return None
        stream = self.events[last_event_id][0]
        later = False
        for eid, (sid, message) in list(self.events.items()):
            if later and sid == stream and message is not None:
                await send_callback(EventMessage(message, eid))
            later = later or eid == last_event_id
        return stream


class SessionManager(StreamableHTTPSessionManager):
    """StreamableHTTPSessionManager whose handshake-era sessions answer JSON where nothing streams."""

    def _admit_session(self, requestor):
        transport = super()._admit_session(requestor)
        if transport is not None:  # the SDK builds the session's transport; the bridge's kind serves it
            transport.__class__ = _Transport
        return transport
