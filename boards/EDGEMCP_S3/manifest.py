# What the edgemcp ESP32-S3 image freezes: the port's start-up modules (_boot.py mounts the
# vfs partition), the board start-up (boot.py, main.py: a flashed board runs the app at once;
# frozen ones are found before the filesystem's), and the edgemcp firmware package list
# shared with the unix virtual device. Nothing from micropython-lib: only what MicroPython's
# own tree and this repository provide.
freeze("$(PORT_DIR)/modules")
module("boot.py", base_path="$(BOARD_DIR)/../../firmware")
module("main.py", base_path="$(BOARD_DIR)/../../firmware")
include("$(BOARD_DIR)/../../firmware/manifest.py")
