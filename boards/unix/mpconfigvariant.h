// edgemcp's virtual device: the unix port with the standard feature set,
// plus the frozen firmware/ package and the C modules under cmodules/.
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#include "variants/mpconfigvariant_common.h"
