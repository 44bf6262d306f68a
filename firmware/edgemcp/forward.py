# Store-and-forward of device events: every event emitted sits in the flash queue until a link
# has confirmed its delivery, then it is acknowledged there. On MQTT the confirmation is the
# broker's PUBACK; on the serial link it is the bridge's `edgemcp/events/ack`, which the bridge
# sends after its own PUBACK. One link drains at a time, oldest first; MQTT when configured.
import asyncio
from . import server, events

# const(): folded by MicroPython's compiler (no import needed).
_ACK_TIMEOUT_MS = const(10000)  # a serial delivery not acknowledged by then is sent again
mqtt_owns = False  # set by the app when the device has a broker: the serial link does not drain


async def drain(deliver, batch=8):
    """Delivers queued events with `await deliver(seq, record)`, oldest first, and acknowledges
    each once deliver returns. Ends by raising what deliver raises; the record stays queued."""
    q = events.queue()
    while True:
        recs = q.peek(batch)
        if not recs:
            events.wake.clear()
            await events.wake.wait()
            continue
        for seq, rec in recs:
            await deliver(seq, rec)
            q.ack(seq)


class _SerialSink:
    # The bridge on the serial link: one event in flight, resent until acknowledged. Kept in
    # its session's ext (the server declares that slot for an extension such as this one).
    def __init__(self, s):
        self.s = s
        self.acked = -1
        self.ev = asyncio.Event()
        self.task = None

    async def deliver(self, seq, rec):
        while self.acked < seq:
            self.s.write(b'{"jsonrpc":"2.0","method":"notifications/edgemcp/event","params":{"seq":%d,"event":%s}}'
                         % (seq, rec))
            self.ev.clear()
            try:
                await asyncio.wait_for_ms(self.ev.wait(), _ACK_TIMEOUT_MS)
            except asyncio.TimeoutError:
                pass


def _subscribe(s, rid, p):
    n = len(events.queue())
    if mqtt_owns:
        return {"pending": n, "forwarding": "mqtt"}
    sink = s.ext
    if sink is None or sink.task.done():
        s.ext = sink = _SerialSink(s)
        sink.task = asyncio.create_task(drain(sink.deliver))
        s.tasks["edgemcp/events"] = sink.task  # cancelled with the session
    return {"pending": n, "forwarding": "serial"}


def _ack(s, rid, p):
    sink = s.ext
    seq = p.get("seq")
    if sink is None or not isinstance(seq, int):
        raise server.RpcError(server.INVALID_PARAMS, "subscribe first; params.seq must be an integer")
    if seq > sink.acked:
        sink.acked = seq
        sink.ev.set()
    return {}


server.register("edgemcp/events/subscribe", _subscribe)
server.register("edgemcp/events/ack", _ack)
