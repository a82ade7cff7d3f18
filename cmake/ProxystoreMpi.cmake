# SPDX-License-Identifier: Apache-2.0
#
# The optional MPI component: library proxystore_mpi (proxystore::mpi) from
# src/mpi/, header include/proxystore/mpi.hpp. PROXYSTORE_WITH_MPI:
#   AUTO  build it when find_package(MPI) finds a C++-usable MPI (default)
#   ON    require MPI
#   OFF   never build it
# Sets PROXYSTORE_HAS_MPI (ON/OFF) for the install rules and the tests.
include_guard(GLOBAL)

set(PROXYSTORE_WITH_MPI "AUTO" CACHE STRING "Build the MPI helpers, proxystore::mpi (AUTO, ON or OFF)")
set_property(CACHE PROXYSTORE_WITH_MPI PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${PROXYSTORE_WITH_MPI}" _proxystore_with_mpi)

set(PROXYSTORE_HAS_MPI OFF)
if(NOT _proxystore_with_mpi STREQUAL "OFF")
  # The helpers use MPI's C API only: never pull in the deprecated C++ bindings.
  set(MPI_CXX_SKIP_MPICXX ON CACHE BOOL "proxystore uses the MPI C API only")
  if(_proxystore_with_mpi STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS CXX)
  elseif(_proxystore_with_mpi STREQUAL "AUTO")
    find_package(MPI QUIET COMPONENTS CXX)
  else()
    message(FATAL_ERROR "PROXYSTORE_WITH_MPI must be AUTO, ON or OFF (is '${PROXYSTORE_WITH_MPI}')")
  endif()
  if(MPI_CXX_FOUND)
    set(PROXYSTORE_HAS_MPI ON)
  else()
    message(STATUS "proxystore: MPI not found; proxystore::mpi not built (PROXYSTORE_WITH_MPI=AUTO)")
  endif()
endif()

if(PROXYSTORE_HAS_MPI)
  add_library(proxystore_mpi "${PROJECT_SOURCE_DIR}/src/mpi/mpi.cpp"
                             "${PROJECT_SOURCE_DIR}/include/proxystore/mpi.hpp")
  add_library(proxystore::mpi ALIAS proxystore_mpi)
  target_link_libraries(proxystore_mpi PUBLIC proxystore MPI::MPI_CXX)
  target_include_directories(proxystore_mpi PRIVATE "${PROJECT_SOURCE_DIR}/src")
  set_target_properties(proxystore_mpi PROPERTIES
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROXYSTORE_SOVERSION}
    EXPORT_NAME mpi)
  if(BUILD_SHARED_LIBS)
    set_target_properties(proxystore_mpi PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
  proxystore_target_defaults(proxystore_mpi)
  message(STATUS "proxystore: building proxystore::mpi (MPI ${MPI_CXX_VERSION})")

  # How ctest launches MPI programs: Open MPI on a small shared machine needs
  # oversubscription, loopback/shared-memory transports only, and (in CI
  # containers) permission to run as root, given through the environment.
  execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version
                  OUTPUT_VARIABLE _proxystore_mpiexec_version ERROR_QUIET)
  if(_proxystore_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(_proxystore_mpiexec_flags --oversubscribe --mca btl self,vader
                                  --mca btl_vader_single_copy_mechanism none)
    set(_proxystore_mpiexec_env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
  else()
    set(_proxystore_mpiexec_flags "")
    set(_proxystore_mpiexec_env "")
  endif()
  set(PROXYSTORE_MPIEXEC_FLAGS "${_proxystore_mpiexec_flags}" CACHE STRING
      "Flags ctest passes to mpiexec before the program (tests, examples, bench)")
  set(PROXYSTORE_MPIEXEC_ENVIRONMENT "${_proxystore_mpiexec_env}" CACHE STRING
      "Environment ctest sets for mpiexec runs")
  mark_as_advanced(PROXYSTORE_MPIEXEC_FLAGS PROXYSTORE_MPIEXEC_ENVIRONMENT)
endif()
