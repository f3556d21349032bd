# deps.cmake: where the core's and the disk tier's third-party code comes from (TWINCACHE_DEPS,
# see core/CMakeLists.txt): the system's headers and libraries, or sources that
# cmake/fetch-sources.py fetches from PyPI into the build directory. Every lookup ends in a
# result or an empty value, never an error (except TWINCACHE_DEPS=system with something missing).

# A Python for the fetch script: scikit-build-core's, else the first python3 on PATH.
function(_tc_python out)
  if(Python_EXECUTABLE)
    set(${out} ${Python_EXECUTABLE} PARENT_SCOPE)
  elseif(Python3_EXECUTABLE)
    set(${out} ${Python3_EXECUTABLE} PARENT_SCOPE)
  else()
    find_program(TWINCACHE_PYTHON NAMES python3 python)
    set(${out} ${TWINCACHE_PYTHON} PARENT_SCOPE)
  endif()
endfunction()

# Fetches NAME (xxhash, zstd, sqlite) into <build>/_deps/NAME; sets OUT to that folder or "".
function(_tc_fetch name out)
  set(${out} "" PARENT_SCOPE)
  _tc_python(py)
  if(NOT py)
    message(STATUS "twincache: no Python to fetch ${name} with")
    return()
  endif()
  set(dir ${CMAKE_BINARY_DIR}/_deps/${name})
  message(STATUS "twincache: ${name} from PyPI (cmake/fetch-sources.py)")
  execute_process(
    COMMAND ${py} ${PROJECT_SOURCE_DIR}/cmake/fetch-sources.py ${name} ${dir}
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(rc EQUAL 0)
    set(${out} ${dir} PARENT_SCOPE)
  else()
    message(STATUS "twincache: could not fetch ${name}: ${err}")
  endif()
endfunction()

function(twincache_find_xxhash out)
  set(${out} "" PARENT_SCOPE)
  if(NOT TWINCACHE_DEPS STREQUAL "fetched")
    find_path(TWINCACHE_SYSTEM_XXHASH_INCLUDE xxhash.h)
    if(TWINCACHE_SYSTEM_XXHASH_INCLUDE)
      set(${out} ${TWINCACHE_SYSTEM_XXHASH_INCLUDE} PARENT_SCOPE)
      return()
    elseif(TWINCACHE_DEPS STREQUAL "system")
      message(FATAL_ERROR "twincache: TWINCACHE_DEPS=system and no xxhash.h (libxxhash-dev)")
    endif()
  endif()
  _tc_fetch(xxhash dir)
  set(${out} ${dir} PARENT_SCOPE)
endfunction()

# One disk-tier library: the system's (header + shared library) or the fetched source compiled
# into a static PIC library with hidden symbols (so it never clashes with another copy loaded in
# the same process, e.g. Python's own sqlite3). Sets OUT to a link target or "".
function(_tc_disk_lib name header libname fetch_name sources defines out)
  set(${out} "" PARENT_SCOPE)
  if(NOT TWINCACHE_DEPS STREQUAL "fetched")
    find_path(TWINCACHE_SYSTEM_${name}_INCLUDE ${header})
    find_library(TWINCACHE_SYSTEM_${name}_LIBRARY ${libname})
    if(TWINCACHE_SYSTEM_${name}_INCLUDE AND TWINCACHE_SYSTEM_${name}_LIBRARY)
      add_library(twincache_dep_${name} INTERFACE)
      target_include_directories(twincache_dep_${name} INTERFACE
        ${TWINCACHE_SYSTEM_${name}_INCLUDE})
      target_link_libraries(twincache_dep_${name} INTERFACE ${TWINCACHE_SYSTEM_${name}_LIBRARY})
      message(STATUS "twincache: ${name} from the system (${TWINCACHE_SYSTEM_${name}_LIBRARY})")
      set(${out} twincache_dep_${name} PARENT_SCOPE)
      return()
    elseif(TWINCACHE_DEPS STREQUAL "system")
      message(FATAL_ERROR "twincache: TWINCACHE_DEPS=system and no ${header} / lib${libname}")
    endif()
  endif()
  _tc_fetch(${fetch_name} dir)
  if(NOT dir)
    return()
  endif()
  list(TRANSFORM sources PREPEND ${dir}/)
  enable_language(C)
  add_library(twincache_dep_${name} STATIC ${sources})
  target_include_directories(twincache_dep_${name} SYSTEM PUBLIC ${dir})
  target_compile_definitions(twincache_dep_${name} PRIVATE ${defines})
  # Third-party code: its own warnings are not ours to fix.
  target_compile_options(twincache_dep_${name} PRIVATE -w -O2)
  set_target_properties(twincache_dep_${name} PROPERTIES
    POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  target_link_libraries(twincache_dep_${name} PUBLIC Threads::Threads)
  set(${out} twincache_dep_${name} PARENT_SCOPE)
endfunction()

# Sets OUT to the link targets for SQLite and zstd, or "" when either is missing.
function(twincache_find_disk_deps out)
  set(${out} "" PARENT_SCOPE)
  # SQLite as a library linked into one module: threadsafe (the store's threads share it), no
  # extension loading (nothing dlopen()s).
  _tc_disk_lib(sqlite sqlite3.h sqlite3 sqlite "sqlite3.c"
    "SQLITE_THREADSAFE=1;SQLITE_OMIT_LOAD_EXTENSION=1" sqlite)
  _tc_disk_lib(zstd zstd.h zstd zstd "zstd.c" "" zstd)
  if(sqlite AND zstd)
    set(${out} ${sqlite} ${zstd} PARENT_SCOPE)
  endif()
endfunction()
