"""A board on a serial port, through pyserial: the virtual device on the far side of a
pseudo-terminal pair, reached by a /dev/serial/by-id style symlink. Unplugging it (the device
dies, the port vanishes) fails the call in flight and leaves the device "down" while the port
is missing; plugging it back (a new port behind the same symlink) brings it up again and tells
the clients its tools changed."""
import json
import os
import signal
import subprocess
import tty

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from support import DEVICE_BIN
from _support.bridge import BridgeProc


class Board:
    """The virtual device behind a pty master; its slave is the 'USB serial port'."""

    def __init__(self, root):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.proc = subprocess.Popen([str(DEVICE_BIN), "-m", "edgemcp"], stdin=self.master, stdout=self.master,
                                     stderr=self.master, start_new_session=True,
                                     env=dict(os.environ, EDGEMCP_ROOT=str(root), EDGEMCP_DEVICE_ID="board"))
        os.close(self.master)

    def release_slave(self):
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None

    def unplug(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.release_slave()


def plug(link, board):
    tmp = link.with_suffix(".new")
    os.symlink(board.path, tmp)
    os.replace(tmp, link)


def test_board_unplugged_and_back(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "edgemcp.json").write_text(json.dumps({"test_tools": True, "name": "usb-board"}))
    link = tmp_path / "usb-Espressif_USB_JTAG_serial_debug_unit-if00"
    board = Board(root)
    plug(link, board)
    boards = [board]
    b = BridgeProc(tmp_path, (), "--serial", f"board={link}")
    try:
        board.release_slave()  # from now on only the bridge has the port open

        async def main():
            seen = []

            async def on_message(msg):
                seen.append(getattr(getattr(msg, "root", msg), "method", None))
            async with Client(b.url, mode="legacy", message_handler=on_message, read_timeout_seconds=30) as c:
                r = await c.call_tool("board.device_info", {})
                assert r.structured_content["name"] == "usb-board"
                assert "board.echo" in {t.name for t in (await c.list_tools()).tools}
                info = b.devices_info()["board"]
                assert info["kind"] == "serial" and info["port"] == str(link)

                started = anyio.Event()

                async def on_progress(*_):
                    started.set()
                with anyio.fail_after(20):
                    async with anyio.create_task_group() as tg:
                        async def call():
                            with pytest.raises(MCPError, match="disconnected"):
                                await c.call_tool("board.slow", {"seconds": 20, "steps": 40},
                                                  progress_callback=on_progress)
                        tg.start_soon(call)
                        await started.wait()
                        board.unplug()
                down = await anyio.to_thread.run_sync(lambda: b.wait_state("board", "down"))
                with anyio.fail_after(10):
                    while "cannot open" not in (b.devices_info()["board"]["last_error"] or ""):
                        await anyio.sleep(0.1)
                with pytest.raises(MCPError, match="not connected"):
                    await c.call_tool("board.echo", {"text": "nobody home"})
                assert down["connects"] == 1

                again = Board(root)
                boards.append(again)
                plug(link, again)
                await anyio.to_thread.run_sync(lambda: b.wait_state("board", "up", connects=2))
                again.release_slave()
                with anyio.fail_after(10):
                    while "notifications/tools/list_changed" not in seen:
                        await anyio.sleep(0.05)
                r = await c.call_tool("board.echo", {"text": "plugged back"})
                assert r.content[0].text == "plugged back"
        anyio.run(main)
        assert b.alive()
    finally:
        b.stop()
        for x in boards:
            x.release_slave()
            if x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait(10)
