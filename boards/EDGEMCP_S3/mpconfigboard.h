// edgemcp on an ESP32-S3 module with 8 MiB flash (quad or, with the SPIRAM_OCT variant, octal PSRAM).
#ifndef MICROPY_HW_BOARD_NAME
// Set by a variant's mpconfigvariant_*.cmake.
#define MICROPY_HW_BOARD_NAME               "edgemcp ESP32-S3"
#endif
#define MICROPY_HW_MCU_NAME                 "ESP32S3"

#define MICROPY_PY_BLUETOOTH                (0)

// The console (REPL and the MCP serial link) is the native USB port; boards that only have a
// USB-UART bridge get it on UART0 as well.
#define MICROPY_HW_ENABLE_UART_REPL         (1)

#define MICROPY_HW_I2C0_SCL                 (9)
#define MICROPY_HW_I2C0_SDA                 (8)
