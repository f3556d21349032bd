# twincache_disk.napi.node: the disk tier's Node addon (node/src/disk_addon.cpp over
# twincache::disk). Included from the top-level CMakeLists.txt after node/ (which finds the
# Node-API headers). A separate binary from twincache.napi.node: it links SQLite and zstd (the
# system's shared libraries, or in the portable build the fetched sources, statically), and
# node/lib/disk.js loads it only when a DiskCache is made.
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
target_link_options(twincache_disk_node PRIVATE ${TWINCACHE_NODE_LINK_OPTIONS})  # node/CMakeLists.txt
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set_property(TARGET twincache_disk_node APPEND PROPERTY LINK_DEPENDS ${_tc_addon_map})
endif()
set_target_properties(twincache_disk_node PROPERTIES
  PREFIX ""
  OUTPUT_NAME "twincache_disk.napi"
  SUFFIX ".node")
