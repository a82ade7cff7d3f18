# SPDX-License-Identifier: Apache-2.0
# Every public header must compile on its own: for each header under
# HEADER_DIR/proxystore (detail/ included; mpi.hpp only when MPI_INCLUDES is
# set), writes a file holding just `#include <proxystore/...>` and checks
# that it compiles (syntax only) with check_diagnostic.cmake, COMPILER and
# INCLUDES. Run with cmake -P; fails (FATAL_ERROR) listing every header
# that does not compile alone.
foreach(var COMPILER HEADER_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_headers.cmake: ${var} is not set")
  endif()
endforeach()
file(GLOB_RECURSE headers RELATIVE "${HEADER_DIR}" "${HEADER_DIR}/proxystore/*.hpp")
list(SORT headers)
file(MAKE_DIRECTORY "${WORK_DIR}")
set(failed "")
set(count 0)
foreach(header IN LISTS headers)
  if(header STREQUAL "proxystore/mpi.hpp" AND NOT MPI_INCLUDES)
    continue()
  endif()
  string(MAKE_C_IDENTIFIER "${header}" stem)
  set(source "${WORK_DIR}/${stem}.cpp")
  file(WRITE "${source}" "#include <${header}>\n")
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DCOMPILER=${COMPILER}" "-DSOURCE=${source}"
                          "-DEXPECT=success" "-DINCLUDES=${INCLUDES}${MPI_INCLUDES}"
                          -P "${CMAKE_CURRENT_LIST_DIR}/check_diagnostic.cmake"
                  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  math(EXPR count "${count} + 1")
  if(NOT status EQUAL 0)
    list(APPEND failed "${header}")
    message("${header} does not compile on its own:\n${out}${err}")
  endif()
endforeach()
if(failed)
  list(JOIN failed "\n  " failed)
  message(FATAL_ERROR "public headers that do not compile on their own:\n  ${failed}")
endif()
message(STATUS "all ${count} public headers compile on their own")
