# `micropython -m edgemcp`: the device app with its serial link on stdin/stdout.
try:
    import vboard  # the unix build's board: filesystem root, and the REPL around the app
except ImportError:
    vboard = None
if vboard:
    vboard.board_loop("edgemcp")  # runs edgemcp.main(); Ctrl-C leaves for the REPL
else:
    import edgemcp

    edgemcp.main()
