# Checks that cmodules/tflite/micropython.cmake (the ESP-IDF build) reads the module's one
# source list, sources.mk, as make does, without ESP-IDF: the target commands are stubbed, the
# file is included, and the sources it hands to the build are compared with the .c files.
#   cmake -P tests/tflite/check_cmake_sources.cmake
get_filename_component(_mod "${CMAKE_CURRENT_LIST_DIR}/../../cmodules/tflite" ABSOLUTE)

function(add_library)
endfunction()
function(target_include_directories)
endfunction()
function(target_link_libraries)
endfunction()
function(set_source_files_properties)
    set(_props "${ARGN}" PARENT_SCOPE)
endfunction()
function(target_sources _target _scope)
    set(_got "${ARGN}" PARENT_SCOPE)
endfunction()

include("${_mod}/micropython.cmake")

file(GLOB_RECURSE _want RELATIVE "${_mod}" "${_mod}/*.c")
list(FILTER _want EXCLUDE REGEX "^(fuzz|natmod)/")  # the fuzzer's and the native module's own files
list(SORT _want)
set(_rel)
foreach(_f ${_got})
    if(NOT EXISTS "${_f}")
        message(FATAL_ERROR "micropython.cmake lists ${_f}, which does not exist")
    endif()
    file(RELATIVE_PATH _r "${_mod}" "${_f}")
    list(APPEND _rel "${_r}")
endforeach()
list(SORT _rel)
if(NOT _rel STREQUAL _want)
    message(FATAL_ERROR "micropython.cmake sources: ${_rel}\n.c files in the module: ${_want}")
endif()
if(NOT _props MATCHES "COMPILE_OPTIONS;-Wall;-Werror;-O2;-ffp-contract=off$")
    message(FATAL_ERROR "module flags: ${_props}")
endif()
list(LENGTH _rel _n)
message(STATUS "micropython.cmake: ${_n} sources from sources.mk, the module's flags on each: ok")
