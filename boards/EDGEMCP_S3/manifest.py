# What the edgemcp ESP32-S3 image freezes: the port's start-up modules (_boot.py mounts the
# vfs partition), and the edgemcp firmware package list shared with the unix virtual device.
# Nothing from micropython-lib: only what MicroPython's own tree and this repository provide.
freeze("$(PORT_DIR)/modules")
include("$(BOARD_DIR)/../../firmware/manifest.py")
