# The device package, as frozen into every edgemcp image (the ESP32-S3 board and the unix
# virtual device both include this file, so they freeze the same list).
include("$(MPY_DIR)/extmod/asyncio")
package("edgemcp")
