# Runs before main.py on every boot. The filesystem (the `vfs` partition) is mounted by
# MicroPython itself; nothing else is needed before the app starts.
