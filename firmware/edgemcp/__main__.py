# `micropython -m edgemcp`: the device app with its serial link on stdin/stdout.
try:
    import vboard  # noqa: F401  (the unix build's board: filesystem root, REPL); absent on a board
except ImportError:
    pass
import edgemcp

edgemcp.main()
