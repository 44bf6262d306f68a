"""Starting the virtual device for tests: a folder for its board root with an /edgemcp.json,
and the command that runs the device app on stdin/stdout."""
import json
import os

from support import DEVICE_BIN


def board_root(tmp_path, config=None, name="root"):
    root = tmp_path / name
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "edgemcp.json").write_text(json.dumps(config))
    return root


def device_env(root, device_id=None):
    env = {"EDGEMCP_ROOT": str(root)}
    if device_id:
        env["EDGEMCP_DEVICE_ID"] = device_id
    return env


def device_cmd():
    return [str(DEVICE_BIN), "-m", "edgemcp"]


def stdio_params(root, device_id=None):
    from mcp.client.stdio import StdioServerParameters
    cmd = device_cmd()
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env={**os.environ, **device_env(root, device_id)})
