# SPDX-License-Identifier: Apache-2.0
#
# Warnings and sanitizers for proxystore's own targets only. Nothing here
# touches add_compile_options() or CMAKE_CXX_FLAGS, so a parent project that
# add_subdirectory()s proxystore keeps its own flags.
#
#   proxystore_target_defaults(<target>)
#       Warnings (+ -Werror with PROXYSTORE_WERROR) and PROXYSTORE_SANITIZE.
#       Idempotent; does nothing for INTERFACE or IMPORTED targets.
#   proxystore_apply_defaults_in_directory(<dir>)
#       Calls proxystore_target_defaults() on every target defined in <dir>
#       and its subdirectories (used for tests/, examples/, bench/, fuzz/).
include_guard(GLOBAL)

function(proxystore_target_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(PROXYSTORE_WERROR)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(PROXYSTORE_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

function(proxystore_target_sanitizers target)
  if(PROXYSTORE_SANITIZE STREQUAL "")
    return()
  endif()
  if(MSVC)
    message(FATAL_ERROR "proxystore: PROXYSTORE_SANITIZE is only supported with GCC/Clang")
  endif()
  string(REPLACE ";" "," sanitizers "${PROXYSTORE_SANITIZE}")
  set(flags "-fsanitize=${sanitizers}" -fno-omit-frame-pointer)
  if(sanitizers MATCHES "undefined")
    # Report UB with a stack trace instead of silently carrying on.
    list(APPEND flags -fno-sanitize-recover=undefined)
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      # ...except in third-party headers listed there (rapidjson).
      list(APPEND flags "-fsanitize-ignorelist=${PROJECT_SOURCE_DIR}/cmake/sanitizer-ignorelist.txt")
    endif()
  endif()
  target_compile_options(${target} PRIVATE ${flags})
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "STATIC_LIBRARY" AND NOT type STREQUAL "OBJECT_LIBRARY")
    target_link_options(${target} PRIVATE ${flags})
  endif()
endfunction()

function(proxystore_target_defaults target)
  get_target_property(type ${target} TYPE)
  get_target_property(imported ${target} IMPORTED)
  get_target_property(done ${target} PROXYSTORE_DEFAULTS_APPLIED)
  if(imported OR done OR type STREQUAL "INTERFACE_LIBRARY" OR type STREQUAL "UTILITY")
    return()
  endif()
  proxystore_target_warnings(${target})
  proxystore_target_sanitizers(${target})
  set_target_properties(${target} PROPERTIES PROXYSTORE_DEFAULTS_APPLIED TRUE)
endfunction()

function(proxystore_apply_defaults_in_directory dir)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    proxystore_target_defaults(${target})
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    proxystore_apply_defaults_in_directory("${subdir}")
  endforeach()
endfunction()
