# SPDX-License-Identifier: Apache-2.0
#
# proxystore_find_hiredis([REQUIRED] [QUIET])
#
# Defines the INTERFACE IMPORTED target proxystore::hiredis, which links the
# hiredis C client. Used both by proxystore's own build and, installed next to
# proxystoreConfig.cmake, by consumers of a static proxystore (where hiredis
# is exported as $<LINK_ONLY:proxystore::hiredis>).
#
# Search order:
#   1. the hiredis CMake config package, accepted only if it defines the
#      target hiredis::hiredis (hiredis >= 1.0; Debian's 0.14.1 config sets
#      variables only and is skipped);
#   2. pkg-config module "hiredis" (hiredis.pc ships with every version);
#   3. find_path()/find_library() for hiredis/hiredis.h and libhiredis.
# Consumers include <hiredis/hiredis.h>; every route makes that spelling work.
include_guard(GLOBAL)

function(proxystore_find_hiredis)
  cmake_parse_arguments(arg "REQUIRED;QUIET" "" "" ${ARGN})
  if(TARGET proxystore::hiredis)
    return()
  endif()

  set(impl "")
  set(how "")

  # 1. Config package with a real imported target.
  find_package(hiredis CONFIG QUIET)
  if(TARGET hiredis::hiredis)
    set(impl hiredis::hiredis)
    set(how "hiredis CMake package")
  endif()

  # 2. pkg-config.
  if(NOT impl)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(PROXYSTORE_HIREDIS QUIET IMPORTED_TARGET hiredis)
      if(TARGET PkgConfig::PROXYSTORE_HIREDIS)
        set(impl PkgConfig::PROXYSTORE_HIREDIS)
        set(how "pkg-config hiredis ${PROXYSTORE_HIREDIS_VERSION}")
        # hiredis.pc points at <prefix>/include/hiredis; add <prefix>/include
        # too so that #include <hiredis/hiredis.h> works outside /usr.
        set(extra_dirs "")
        foreach(dir IN LISTS PROXYSTORE_HIREDIS_INCLUDE_DIRS)
          if(dir MATCHES "/hiredis/?$")
            get_filename_component(parent "${dir}" DIRECTORY)
            list(APPEND extra_dirs "${parent}")
          endif()
        endforeach()
      endif()
    endif()
  endif()

  # 3. Plain search.
  if(NOT impl)
    find_path(PROXYSTORE_HIREDIS_INCLUDE_DIR NAMES hiredis/hiredis.h
              DOC "Directory containing hiredis/hiredis.h")
    find_library(PROXYSTORE_HIREDIS_LIBRARY NAMES hiredis DOC "The hiredis library")
    mark_as_advanced(PROXYSTORE_HIREDIS_INCLUDE_DIR PROXYSTORE_HIREDIS_LIBRARY)
    if(PROXYSTORE_HIREDIS_INCLUDE_DIR AND PROXYSTORE_HIREDIS_LIBRARY)
      set(impl "${PROXYSTORE_HIREDIS_LIBRARY}")
      set(extra_dirs "${PROXYSTORE_HIREDIS_INCLUDE_DIR}")
      set(how "${PROXYSTORE_HIREDIS_LIBRARY}")
    endif()
  endif()

  if(NOT impl)
    if(arg_REQUIRED)
      message(FATAL_ERROR
        "proxystore: hiredis not found (tried the hiredis CMake package, pkg-config "
        "and a plain search). Install libhiredis-dev or set CMAKE_PREFIX_PATH.")
    endif()
    return()
  endif()

  add_library(proxystore::hiredis INTERFACE IMPORTED)
  set_target_properties(proxystore::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES "${impl}")
  if(extra_dirs)
    set_target_properties(proxystore::hiredis PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${extra_dirs}")
  endif()
  if(NOT arg_QUIET)
    message(STATUS "proxystore: using hiredis from ${how}")
  endif()
endfunction()
