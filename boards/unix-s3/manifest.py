# The board-faithful virtual device freezes exactly what the virtual device does.
include("../unix/manifest.py")
