# ESP-IDF builds of MicroPython: USER_C_MODULES=<this file> pulls in every edgemcp C module.
file(GLOB _edgemcp_cmodules "${CMAKE_CURRENT_LIST_DIR}/*/micropython.cmake")
foreach(_m ${_edgemcp_cmodules})
    include(${_m})
endforeach()
