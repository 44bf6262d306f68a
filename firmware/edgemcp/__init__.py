# edgemcp on the device: an MCP server for the board's tools.
# Public API for device tools: tool, resource, prompt, ToolError, log, emit, run.
from .registry import tool, resource, prompt, ToolError
from .server import log
from .events import emit

VERSION = "0.1.0"


def run(config=None):
    """Run the device app; config None loads /edgemcp.json (defaults without it)."""
    from . import app
    app.run(config, VERSION)


def main():
    # The start-up entry (main.py, `-m edgemcp`): Ctrl-C ends the app quietly, for the REPL.
    try:
        run()
    except KeyboardInterrupt:
        pass
    except MemoryError as e:  # a heap too small for the app: say so on the console, not just leave
        from .app import _no_heap
        _no_heap(e)
