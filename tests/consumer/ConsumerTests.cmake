# SPDX-License-Identifier: Apache-2.0
#
# ctest cases (label "consumer") that build tests/consumer/main.cpp the three
# ways a user would: add_subdirectory() of this source tree, find_package()
# against an install, and pkg-config against the same install. The install
# goes into a private prefix under the build tree (fixture "proxystore_installed").
set(_consumer_src "${CMAKE_CURRENT_SOURCE_DIR}/consumer")
set(_consumer_bin "${CMAKE_CURRENT_BINARY_DIR}/consumer")
set(_consumer_prefix "${_consumer_bin}/prefix")

set(_consumer_build_options
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=$<CONFIG>"
  "-DPROXYSTORE_CONSUMER_MAIN=${_consumer_src}/main.cpp")
if(CMAKE_CXX_STANDARD)
  list(APPEND _consumer_build_options "-DCMAKE_CXX_STANDARD=${CMAKE_CXX_STANDARD}")
endif()
set(_consumer_generator --build-generator "${CMAKE_GENERATOR}")
if(CMAKE_GENERATOR_PLATFORM)
  list(APPEND _consumer_generator --build-generator-platform "${CMAKE_GENERATOR_PLATFORM}")
endif()
if(CMAKE_MAKE_PROGRAM)
  list(APPEND _consumer_generator --build-makeprogram "${CMAKE_MAKE_PROGRAM}")
endif()

# proxystore_add_consumer_test(<name> [OPTIONS <cmake -D...>...])
function(proxystore_add_consumer_test name)
  cmake_parse_arguments(arg "" "" "OPTIONS;PROPERTIES" ${ARGN})
  add_test(NAME consumer.${name}
    COMMAND "${CMAKE_CTEST_COMMAND}" -C $<CONFIG>
      --build-and-test "${_consumer_src}/${name}" "${_consumer_bin}/${name}"
      ${_consumer_generator}
      --build-options ${_consumer_build_options} ${arg_OPTIONS}
      --test-command "${CMAKE_CTEST_COMMAND}" -C $<CONFIG> --output-on-failure)
  set_tests_properties(consumer.${name} PROPERTIES
    LABELS consumer TIMEOUT 900 ${arg_PROPERTIES})
endfunction()

set(_shared_option "")
if(DEFINED BUILD_SHARED_LIBS)
  set(_shared_option "-DBUILD_SHARED_LIBS=${BUILD_SHARED_LIBS}")
endif()
# It rebuilds the library: unoptimised, without debug information (the point
# is the CMake integration; half the compile time of RelWithDebInfo), and
# first (a high COST), so it runs beside the rest of the suite.
proxystore_add_consumer_test(add_subdirectory
  OPTIONS "-DPROXYSTORE_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "-DPROXYSTORE_WERROR=${PROXYSTORE_WERROR}" ${_shared_option}
          "-DCMAKE_BUILD_TYPE=Debug" "-DCMAKE_CXX_FLAGS_DEBUG=-O0"
  PROPERTIES COST 10000)

if(PROXYSTORE_INSTALL)
  add_test(NAME consumer.install
    COMMAND "${CMAKE_COMMAND}"
      "-DBUILD_DIR=${PROJECT_BINARY_DIR}"
      "-DPREFIX=${_consumer_prefix}"
      "-DCONFIG=$<CONFIG>"
      "-DFORBIDDEN=${PROJECT_SOURCE_DIR};${PROJECT_BINARY_DIR}"
      -P "${_consumer_src}/install.cmake")
  set_tests_properties(consumer.install PROPERTIES
    LABELS consumer TIMEOUT 300 FIXTURES_SETUP proxystore_installed)

  proxystore_add_consumer_test(find_package
    OPTIONS "-DCMAKE_PREFIX_PATH=${_consumer_prefix}"
    PROPERTIES FIXTURES_REQUIRED proxystore_installed)

  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    proxystore_add_consumer_test(pkg_config
      OPTIONS "-DCMAKE_PREFIX_PATH=${_consumer_prefix}"
      PROPERTIES FIXTURES_REQUIRED proxystore_installed)
  endif()
endif()
