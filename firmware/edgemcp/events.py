# Device events: edgemcp.emit() stores them in the flash queue (the raw "queue" partition, or
# on a board without one sector files in the folder queue_dir on its filesystem), oldest
# first, until a link publishes and acknowledges them; device://queue shows the queue.
import json
import time
import asyncio

from .registry import resource

policy = "drop_oldest"  # the config's "queue_policy", set by the app: when full, the oldest events make room
queue_dir = "/eventq"  # the queue's files when the board has no "queue" partition (stock firmware) ...
queue_size = 65536  # ... and its size when created: 16 sectors, 65,024 bytes of records
_q = None
_ahead = False
wake = asyncio.Event()  # set on every emit: the forwarder (forward.py) has something to send


def queue():
    """The flash queue, opened on first use."""
    global _q
    if _q is None:
        from . import flashq
        _q = flashq.open_partition(policy, path=queue_dir, size=queue_size)
    return _q


def emit(stream, data):
    """Appends the event {"seq", "ts", "stream", "data"} (compact JSON) to the flash queue;
    it survives a power cut once this returns. -> its seq."""
    global _ahead
    q = queue()
    rec = json.dumps({"seq": q.next_seq, "ts": int(time.time()), "stream": stream, "data": data},
                     separators=(",", ":"))
    seq = q.append(rec.encode())
    wake.set()
    if not _ahead:  # erase the next sector while idle, not in a later emit
        _ahead = True
        asyncio.create_task(_erase_ahead())
    return seq


async def _erase_ahead():
    global _ahead
    try:
        await asyncio.sleep_ms(0)
        queue().erase_ahead()
    finally:
        _ahead = False


def depth():
    """Events stored and not yet acknowledged by a link; None while the queue is not open."""
    return None if _q is None else len(_q)


@resource("device://queue", description="Flash event queue: use, counters, wear.")
def queue_stats():
    q = queue()
    st = q.stats()
    st["next_seq"] = q.next_seq
    return st
