# SPDX-License-Identifier: Apache-2.0
#
# proxystore_find_ucx([REQUIRED] [QUIET])
#
# Defines the INTERFACE IMPORTED target proxystore::ucx (UCX's ucp library
# and its dependencies) when UCX is found through pkg-config (module "ucx",
# falling back to "ucx-ucp"). Used by proxystore's own build
# (PROXYSTORE_WITH_UCX) and, installed next to proxystoreConfig.cmake, by
# consumers of a proxystore built with UCX.
include_guard(GLOBAL)

function(proxystore_find_ucx)
  cmake_parse_arguments(arg "REQUIRED;QUIET" "" "" ${ARGN})
  if(TARGET proxystore::ucx)
    return()
  endif()
  find_package(PkgConfig QUIET)
  set(impl "")
  if(PKG_CONFIG_FOUND)
    foreach(module IN ITEMS ucx ucx-ucp)
      pkg_check_modules(PROXYSTORE_UCX QUIET IMPORTED_TARGET GLOBAL ${module})
      if(TARGET PkgConfig::PROXYSTORE_UCX)
        set(impl PkgConfig::PROXYSTORE_UCX)
        set(how "pkg-config ${module} ${PROXYSTORE_UCX_VERSION}")
        break()
      endif()
    endforeach()
  endif()
  if(NOT impl)
    if(arg_REQUIRED)
      message(FATAL_ERROR
        "proxystore: UCX not found through pkg-config (modules ucx, ucx-ucp). Install "
        "libucx-dev, set PKG_CONFIG_PATH, or configure with -DPROXYSTORE_WITH_UCX=OFF.")
    endif()
    return()
  endif()
  add_library(proxystore::ucx INTERFACE IMPORTED GLOBAL)
  set_target_properties(proxystore::ucx PROPERTIES INTERFACE_LINK_LIBRARIES "${impl}")
  if(NOT arg_QUIET)
    message(STATUS "proxystore: using UCX from ${how}")
  endif()
endfunction()
