# Modules with octal PSRAM (ESP32-S3-WROOM-1 N8R8 and similar), as ESP32_GENERIC_S3's variant.
set(SDKCONFIG_DEFAULTS
    ${SDKCONFIG_DEFAULTS}
    boards/sdkconfig.240mhz
    boards/sdkconfig.spiram_oct
)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="edgemcp ESP32-S3 with Octal-SPIRAM"
)
