# The virtual device has what the firmware relies on: frozen asyncio and the machine shims.
import asyncio
import machine

assert len(machine.unique_id()) >= 4
assert hasattr(asyncio, "create_task")
print("ok")
