# The virtual device: the firmware package exactly as the board freezes it, plus the unix
# board shims (file-backed flash partition, machine extras) under modules/.
include("../../firmware/manifest.py")
freeze("modules")
