# SPDX-License-Identifier: Apache-2.0
#
# cmake -DBUILD_DIR=<build> -DPREFIX=<dir> [-DCONFIG=<cfg>] [-DFORBIDDEN=<paths>] -P install.cmake
#
# Installs the build tree into a fresh PREFIX and checks the installed package
# files are relocatable: none may mention a path from FORBIDDEN (the source and
# build directories).
foreach(var IN ITEMS BUILD_DIR PREFIX)
  if(NOT ${var})
    message(FATAL_ERROR "install.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${PREFIX}")
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  COMMAND_ERROR_IS_FATAL ANY)

file(GLOB_RECURSE package_files "${PREFIX}/*.cmake" "${PREFIX}/*.pc")
if(NOT package_files MATCHES "proxystoreConfig\\.cmake")
  message(FATAL_ERROR "install.cmake: no proxystoreConfig.cmake under ${PREFIX}")
endif()
if(NOT package_files MATCHES "proxystore\\.pc")
  message(FATAL_ERROR "install.cmake: no proxystore.pc under ${PREFIX}")
endif()
foreach(file IN LISTS package_files)
  file(READ "${file}" content)
  foreach(path IN LISTS FORBIDDEN)
    string(FIND "${content}" "${path}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "install.cmake: ${file} is not relocatable: it mentions ${path}")
    endif()
  endforeach()
endforeach()
file(GLOB_RECURSE leaked "${PREFIX}/include/*redis_connection*")
if(leaked)
  message(FATAL_ERROR "install.cmake: private headers were installed: ${leaked}")
endif()
message(STATUS "install.cmake: installed into ${PREFIX}; package files are relocatable")
