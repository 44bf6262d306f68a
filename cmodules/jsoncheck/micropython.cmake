add_library(usermod_jsoncheck INTERFACE)
target_sources(usermod_jsoncheck INTERFACE ${CMAKE_CURRENT_LIST_DIR}/jsoncheck.c)
target_include_directories(usermod_jsoncheck INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(usermod INTERFACE usermod_jsoncheck)
