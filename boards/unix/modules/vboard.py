# The virtual device's board: what a real board's start-up gives the firmware.
# The board's filesystem root "/" is a host folder: EDGEMCP_ROOT, default build/vdev/<device id>
# under the current directory, so "/edgemcp.json" and "/models/" mean the same as on the board.
import os
import vfs


def _mkdirs(path):
    p = ""
    for part in path.split("/"):
        p = p + part + "/" if p or not part else part + "/"
        try:
            os.mkdir(p)
        except OSError:
            pass


def mount_root():
    root = os.getenv("EDGEMCP_ROOT")
    if not root:
        import binascii
        import machine
        root = os.getcwd() + "/build/vdev/" + binascii.hexlify(machine.unique_id()).decode()
    if not root.startswith("/"):
        root = os.getcwd() + "/" + root
    _mkdirs(root)
    vfs.umount("/")
    vfs.mount(vfs.VfsPosix(root), "/")
    os.chdir("/")


mount_root()


# The console read the serial link uses: one read(2) of what has arrived (MicroPython's
# stream readinto on a blocking fd waits until the whole buffer is full).
_libc_read = None


def console_readinto(mv):
    global _libc_read
    if _libc_read is None:
        import ffi
        _libc_read = ffi.open("libc.so.6").func("i", "read", "ipi")
    n = _libc_read(0, mv, len(mv))
    return n if n > 0 else 0
