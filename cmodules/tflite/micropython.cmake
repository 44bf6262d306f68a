# tflite: the model runtime for ESP-IDF builds (included by cmodules/micropython.cmake).
add_library(usermod_tflite INTERFACE)
set(_tflite_srcs
    ${CMAKE_CURRENT_LIST_DIR}/modtflite.c
    ${CMAKE_CURRENT_LIST_DIR}/tfl_model.c
    ${CMAKE_CURRENT_LIST_DIR}/tfl_ops.c)
target_sources(usermod_tflite INTERFACE ${_tflite_srcs})
target_include_directories(usermod_tflite INTERFACE ${CMAKE_CURRENT_LIST_DIR})
# Flags for these files only, so other modules keep theirs.
set_source_files_properties(${_tflite_srcs} PROPERTIES COMPILE_OPTIONS "-Wall;-Werror;-O2;-ffp-contract=off")
target_link_libraries(usermod INTERFACE usermod_tflite)
