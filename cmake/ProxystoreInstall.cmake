# SPDX-License-Identifier: Apache-2.0
#
# Install rules, the relocatable CMake package (proxystoreConfig.cmake),
# proxystore.pc and, for the top-level project, CPack (.deb).
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(PROXYSTORE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/proxystore" CACHE STRING
    "Install directory of proxystoreConfig.cmake, relative to the prefix")
set(PROXYSTORE_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig" CACHE STRING
    "Install directory of proxystore.pc, relative to the prefix")
mark_as_advanced(PROXYSTORE_INSTALL_CMAKEDIR PROXYSTORE_INSTALL_PKGCONFIGDIR)

# Public headers. src/ (including src/detail/*.hpp) is private and never installed.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/proxystore"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT proxystore_development
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

# proxystore, and the optional components that were built (ProxystoreMpi.cmake).
set(_proxystore_install_targets proxystore)
if(TARGET proxystore_mpi)
  list(APPEND _proxystore_install_targets proxystore_mpi)
  set(PROXYSTORE_CONFIG_HAS_MPI TRUE)
else()
  set(PROXYSTORE_CONFIG_HAS_MPI FALSE)
endif()
install(TARGETS ${_proxystore_install_targets}
        EXPORT proxystoreTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT proxystore_development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT proxystore_runtime
                NAMELINK_COMPONENT proxystore_development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT proxystore_runtime
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

if(TARGET proxystore-endpoint)
  install(TARGETS proxystore-endpoint
          RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT proxystore_runtime)
endif()

install(EXPORT proxystoreTargets
        NAMESPACE proxystore::
        FILE proxystoreTargets.cmake
        DESTINATION "${PROXYSTORE_INSTALL_CMAKEDIR}"
        COMPONENT proxystore_development)

# A static proxystore carries hiredis as $<LINK_ONLY:proxystore::hiredis>, so
# the installed config must find hiredis again; a shared one does not need it.
get_target_property(_proxystore_type proxystore TYPE)
if(_proxystore_type STREQUAL "STATIC_LIBRARY")
  set(PROXYSTORE_CONFIG_NEEDS_HIREDIS TRUE)
else()
  set(PROXYSTORE_CONFIG_NEEDS_HIREDIS FALSE)
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/proxystoreConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/proxystoreConfig.cmake"
  INSTALL_DESTINATION "${PROXYSTORE_INSTALL_CMAKEDIR}"
  NO_SET_AND_CHECK_MACRO
  NO_CHECK_REQUIRED_COMPONENTS_MACRO)
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/proxystoreConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
          "${PROJECT_BINARY_DIR}/proxystoreConfig.cmake"
          "${PROJECT_BINARY_DIR}/proxystoreConfigVersion.cmake"
          "${PROJECT_SOURCE_DIR}/cmake/ProxystoreHiredis.cmake"
          "${PROJECT_SOURCE_DIR}/cmake/ProxystoreUcx.cmake"
        DESTINATION "${PROXYSTORE_INSTALL_CMAKEDIR}"
        COMPONENT proxystore_development)

# pkg-config: the prefix is derived from ${pcfiledir}, so the file stays valid
# wherever the tree is installed or moved.
if(IS_ABSOLUTE "${PROXYSTORE_INSTALL_PKGCONFIGDIR}")
  set(PROXYSTORE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _proxystore_pc_up "/prefix/${PROXYSTORE_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" _proxystore_pc_up "${_proxystore_pc_up}")
  set(PROXYSTORE_PC_PREFIX "\${pcfiledir}/${_proxystore_pc_up}")
endif()
foreach(_dir IN ITEMS LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(PROXYSTORE_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(PROXYSTORE_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# cereal ships no .pc file: add its include directory unless the compiler
# searches it anyway (never emit -I/usr/include).
set(PROXYSTORE_PC_EXTRA_CFLAGS "")
get_target_property(_proxystore_cereal_dirs cereal::cereal INTERFACE_INCLUDE_DIRECTORIES)
foreach(_dir IN LISTS _proxystore_cereal_dirs)
  if(_dir AND NOT _dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND PROXYSTORE_PC_EXTRA_CFLAGS " -I${_dir}")
  endif()
endforeach()
if(PROXYSTORE_CONFIG_NEEDS_HIREDIS)
  set(PROXYSTORE_PC_REQUIRES "Requires: fmt hiredis")
else()
  set(PROXYSTORE_PC_REQUIRES "Requires: fmt\nRequires.private: hiredis")
endif()
if(PROXYSTORE_HAS_UCX)
  # The UCX stores: consumers see PROXYSTORE_HAS_UCX and link ucp.
  string(APPEND PROXYSTORE_PC_EXTRA_CFLAGS " -DPROXYSTORE_HAS_UCX=1")
  if(PROXYSTORE_CONFIG_NEEDS_HIREDIS)
    string(REPLACE "hiredis" "hiredis ucx" PROXYSTORE_PC_REQUIRES "${PROXYSTORE_PC_REQUIRES}")
  else()
    string(APPEND PROXYSTORE_PC_REQUIRES " ucx")
  endif()
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/proxystore.pc.in"
               "${PROJECT_BINARY_DIR}/proxystore.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/proxystore.pc"
        DESTINATION "${PROXYSTORE_INSTALL_PKGCONFIGDIR}"
        COMPONENT proxystore_development)

if(EXISTS "${PROJECT_SOURCE_DIR}/LICENSE")
  install(FILES "${PROJECT_SOURCE_DIR}/LICENSE"
          DESTINATION "${CMAKE_INSTALL_DOCDIR}"
          COMPONENT proxystore_development)
endif()

# ---------------------------------------------------------------------------
# CPack: `cpack -G DEB --config <build>/CPackConfig.cmake` -> libproxystore-dev_<v>_<arch>.deb
# ---------------------------------------------------------------------------
if(PROXYSTORE_MASTER_PROJECT)
  set(CPACK_PACKAGE_NAME "proxystore")
  set(CPACK_PACKAGE_VENDOR "The proxystore-cpp authors")
  set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
  set(CPACK_PACKAGE_CONTACT "The proxystore-cpp authors <maintainers@proxystore-cpp.invalid>")
  if(EXISTS "${PROJECT_SOURCE_DIR}/LICENSE")
    set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
  endif()
  set(CPACK_GENERATOR "DEB")
  set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
  set(CPACK_DEBIAN_PACKAGE_NAME "libproxystore-dev")
  set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
  set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
  set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libhiredis-dev, libfmt-dev, libcereal-dev")
  if(PROXYSTORE_HAS_UCX)
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libucx-dev")
  endif()
  if(BUILD_SHARED_LIBS)
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  endif()
  set(CPACK_SOURCE_GENERATOR "TGZ")
  set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/\\\\.cache/")
  include(CPack)
endif()
