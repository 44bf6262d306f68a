# Board start-up: the edgemcp app on the USB console. Ctrl-C leaves it for the REPL.
import edgemcp

edgemcp.main()
