"""Copying files onto a board through mpremote's transport (raw REPL), as `deploy` and
`install` do: a file whose SHA-256 on the board (computed there) equals the local one is not
copied again; a copied file is written to DEST.part, checked and renamed over DEST, so an
interrupted copy leaves the old file."""
import hashlib
import posixpath
import sys

from . import console


class CopyError(Exception):
    """A copy that did not arrive intact; the board keeps its old file."""


def board_sha256(t, path):
    """The file's SHA-256 computed on the board; None if it is not there."""
    from mpremote.transport import TransportError
    try:
        return t.fs_hashfile(path, "sha256")
    except OSError:
        return None
    except TransportError as e:
        if "ENOENT" in str(e) or "Errno 2" in str(e):
            return None
        raise


def makedirs(t, path, made):
    parts = [p for p in posixpath.dirname(path).split("/") if p]
    d = ""
    for p in parts:
        d += "/" + p
        if d in made:
            continue
        if not t.fs_isdir(d):
            t.fs_mkdir(d)
        made.add(d)


def put(t, data, dest, made, progress=None):
    """Write bytes `data` as dest on the board unless it holds them already. -> copied?"""
    want = hashlib.sha256(data).digest()
    if board_sha256(t, dest) == want:
        return False
    makedirs(t, dest, made)
    tmp = dest + ".part"
    t.fs_writefile(tmp, data, chunk_size=512, progress_callback=progress)
    if board_sha256(t, tmp) != want:
        raise CopyError(f"{dest}: the copy on the board does not match (SHA-256); old file kept")
    console.replace(t, tmp, dest)
    return True


def put_all(t, files):
    """files: [(bytes or a local path, board path)]; prints one line per file (a percentage while a file is
    written, on a terminal). -> (copied, unchanged, bytes copied)"""
    copied = unchanged = nbytes = 0
    made = set()
    for data, dest in files:
        if not isinstance(data, bytes):
            data = data.read_bytes()  # one file in memory at a time
        def progress(done, total, dest=dest):
            if sys.stdout.isatty():
                print(f"\r  {dest}: {done * 100 // max(total, 1)}%", end="", flush=True)

        if put(t, data, dest, made, progress):
            copied += 1
            nbytes += len(data)
            print(f"\rcopied    {dest} ({len(data)} bytes)")
        else:
            unchanged += 1
            print(f"unchanged {dest}")
    return copied, unchanged, nbytes
