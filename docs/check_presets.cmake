# SPDX-License-Identifier: Apache-2.0
# Checks CMakePresets.json (test docs.cmake.presets): CMake parses it, and the
# presets README.md and docs/getting-started.md promise exist — for each of
# dev, release and asan a configure, build, test and workflow preset.
#
#   cmake -DSOURCE_DIR=. -P docs/check_presets.cmake

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_presets.cmake: pass -DSOURCE_DIR=<source tree>")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --list-presets=all
  WORKING_DIRECTORY "${SOURCE_DIR}"
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE_DIR}/CMakePresets.json: cmake --list-presets=all failed "
                      "(${_rc}):\n${_err}")
endif()

# The listing has one section per kind; cut it there and look for each name.
set(_missing "")
foreach(_kind configure build test workflow)
  string(REGEX MATCH "Available ${_kind} presets:\n\n([^\n]+\n)+" _section "${_out}")
  foreach(_name dev release asan)
    if(NOT _section MATCHES "\"${_name}\"")
      list(APPEND _missing "${_kind} preset \"${_name}\"")
    endif()
  endforeach()
endforeach()
if(_missing)
  list(JOIN _missing ", " _missing)
  message(FATAL_ERROR "${SOURCE_DIR}/CMakePresets.json: missing ${_missing}\n"
                      "cmake --list-presets=all printed:\n${_out}")
endif()
message(STATUS "CMakePresets.json: dev, release and asan configure/build/test/workflow presets")
