"""`edgemcp install` refuses a board whose MicroPython loads another .mpy format or is no
known platform. A board with another MicroPython cannot be made here (the virtual boards run
1.25), so the board's answer is faked at the transport: the one place a fake is needed."""
import pytest

from edgemcp_host.commands import install


class Board:
    def __init__(self, platform, version, mpy):
        self.answer = (platform, version, mpy)

    def exec(self, code):
        pass

    def eval(self, expr):
        return self.answer


def test_board_of_accepts_micropython_1_25():
    # sys.implementation._mpy: version 6, sub-version 3 (bits 8-9), arch in the bits above
    assert install.board_of(Board("esp32", "1.25.0", 6 | 3 << 8 | 10 << 10)) == ("esp32", "1.25.0", "xtensawin")
    assert install.board_of(Board("linux", "1.25.0", 6 | 3 << 8 | 5 << 10)) == ("unix", "1.25.0", "armv7m")
    assert install.board_of(Board("linux", "1.25.0", 6 | 3 << 8)) == ("unix", "1.25.0", None)  # no native code


@pytest.mark.parametrize("board,says", [
    (Board("esp32", "1.19.1", 6), "MicroPython 1.19.1"),  # mpy v6.0: cannot load v6.3 files
    (Board("esp32", "1.22.2", 6 | 2 << 8), "MicroPython 1.22.2"),
    (Board("esp32", "1.11.0", 5), "flash MicroPython 1.25 first"),
    (Board("rp2", "1.25.0", 6 | 3 << 8), "platform 'rp2'"),
])
def test_board_of_refuses_what_cannot_run_the_package(board, says):
    with pytest.raises(install.InstallError) as e:
        install.board_of(board)
    assert says in str(e.value)


def test_native_module_architecture_from_its_header():
    assert install.mpy_arch(b"M\x06\x2b\x1f", "a.mpy") == "xtensawin"  # 10 << 2 | 3
    assert install.mpy_arch(b"M\x06\x0b\x1f", "a.mpy") == "x64"
    for bad, says in [(b"M\x06\x00\x1f", "holds no native code"), (b"M\x06\x2a\x1f", "not a .mpy file"),
                      (b"M\x05\x0b\x1f", "not a .mpy file"), (b"M\x06", "not a .mpy file"),
                      (b"M\x06\xfb\x1f", "unknown architecture 62")]:
        with pytest.raises(install.InstallError) as e:
            install.mpy_arch(bad, "a.mpy")
        assert says in str(e.value), bad
