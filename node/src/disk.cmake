# twincache_disk.napi.node: the disk tier's Node addon (node/src/disk_addon.cpp over
# twincache::disk). Included from the top-level CMakeLists.txt after node/ (which finds the
# Node-API headers). A separate binary from twincache.napi.node: it links the shared libsqlite3,
# libzstd and libcrypto, and node/lib/disk.js loads it only when a DiskCache is made.
add_library(twincache_disk_node MODULE ${PROJECT_SOURCE_DIR}/node/src/disk_addon.cpp
  ${CMAKE_JS_SRC})
target_include_directories(twincache_disk_node PRIVATE ${_tc_napi_include}
  ${_tc_addon_api_include})
target_compile_definitions(twincache_disk_node PRIVATE
  NAPI_VERSION=${TWINCACHE_NAPI_VERSION}
  NAPI_CPP_EXCEPTIONS
  NODE_ADDON_API_DISABLE_DEPRECATED
  BUILDING_NODE_EXTENSION)
target_compile_options(twincache_disk_node PRIVATE -Wall -Wextra -fvisibility=hidden)
target_link_libraries(twincache_disk_node PRIVATE twincache::disk ${CMAKE_JS_LIB})
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  target_link_options(twincache_disk_node PRIVATE -static-libstdc++ -static-libgcc
    -Wl,--as-needed $<$<CONFIG:Release>:-s>)
endif()
set_target_properties(twincache_disk_node PROPERTIES
  PREFIX ""
  OUTPUT_NAME "twincache_disk.napi"
  SUFFIX ".node")
