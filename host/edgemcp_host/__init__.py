"""edgemcp host companion: the bridge between edgemcp devices and MCP clients, and the
everyday board tools (flash, deploy, REPL, MQTT)."""
__version__ = "0.1.0"
