# tflite: the model runtime for ESP-IDF builds (included by cmodules/micropython.cmake).
# The sources come from sources.mk, the list the unix build and the fuzzer read too.
add_library(usermod_tflite INTERFACE)
file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/sources.mk _tflite_lines REGEX "^TFLITE_[A-Z]+_SRC \\+= ")
set(_tflite_srcs)
foreach(_line ${_tflite_lines})
    string(REGEX REPLACE "^TFLITE_[A-Z]+_SRC \\+= *([^ ]+) *$" "\\1" _src "${_line}")
    list(APPEND _tflite_srcs ${CMAKE_CURRENT_LIST_DIR}/${_src})
endforeach()
target_sources(usermod_tflite INTERFACE ${_tflite_srcs})
target_include_directories(usermod_tflite INTERFACE ${CMAKE_CURRENT_LIST_DIR})
# Flags for these files only, so other modules keep theirs.
set_source_files_properties(${_tflite_srcs} PROPERTIES COMPILE_OPTIONS "-Wall;-Werror;-O2;-ffp-contract=off")
target_link_libraries(usermod INTERFACE usermod_tflite)
