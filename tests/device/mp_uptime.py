# uptime_ms (firmware/edgemcp/builtin.py) keeps counting past the ticks_ms wrap: ticks_diff is
# only right for spans under 2**29 ms (6.2 days on a board), so the spans are added up.
import time

from edgemcp import builtin


class Ticks:  # time.ticks_* of a board, with a clock the test moves: 2**30 ms period
    now = 0

    def ticks_ms(self):
        return self.now & (2 ** 30 - 1)

    def ticks_diff(self, a, b):
        return ((a - b + 2 ** 29) & (2 ** 30 - 1)) - 2 ** 29


t = Ticks()
builtin.time = t
builtin._up[:] = [0, 0]
day = 86400 * 1000
last = 0
for step in range(40):  # 20 days, a reading every 12 hours
    t.now += day // 2
    u = builtin.uptime_ms()
    assert u == t.now and u > last, (step, u, t.now)
    last = u
builtin.time = time

# and a task on the app's loop reads it (hourly; here every millisecond): no 6 days unread
import asyncio  # noqa: E402


class Fast:
    create_task = staticmethod(asyncio.create_task)

    @staticmethod
    def sleep(s):
        return asyncio.sleep_ms(1)


builtin.asyncio = Fast
builtin.setup({}, None)
builtin._up[:] = [0, time.ticks_add(time.ticks_ms(), -5000)]


async def main():
    await asyncio.sleep_ms(30)


asyncio.run(main())
assert builtin._up[0] >= 5000, builtin._up
builtin.asyncio = asyncio
print("uptime after %d days: %d ms" % (last // day, last))
print("ok")
