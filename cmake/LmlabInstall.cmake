# `cmake --install build --prefix P`: the host, the framework library, the built-in plugins, the
# public headers and the CMake package that outside plugin projects find with find_package(lmlab).
#   P/bin/lmlab
#   P/lib/liblmlab.so
#   P/lib/lmlab/plugins/lib*.so        (the host finds them from the library's own folder)
#   P/include/lmlab/...                (the plugin SDK alone, with sdk/pch.hpp, the precompiled header of plugin projects)
#   P/lib/cmake/lmlab/                 (lmlabConfig.cmake, lmlabTargets.cmake, LmlabPlugin.cmake)
include(CMakePackageConfigHelpers)

set(LMLAB_INSTALL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lmlab)

set_target_properties(lmlab_framework PROPERTIES EXPORT_NAME framework INSTALL_RPATH_USE_LINK_PATH TRUE)
# The installed host finds its library beside itself wherever the prefix is moved, and LibTorch
# where it was linked from (a wheel's site-packages is on no default path).
set_target_properties(lmlab PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}" INSTALL_RPATH_USE_LINK_PATH TRUE)

install(TARGETS lmlab_framework EXPORT lmlabTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS lmlab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/framework/include/lmlab DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_SOURCE_DIR}/framework/pch/lmlab_pch.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lmlab/sdk RENAME pch.hpp)
install(EXPORT lmlabTargets NAMESPACE lmlab:: DESTINATION ${LMLAB_INSTALL_CMAKE_DIR})

# The folders the host's dependencies came from, so that a plugin project finds the same ones.
set(LMLAB_BUILT_WITH_DIRS "")
foreach(dep IN ITEMS Torch Boost tomlplusplus fmt Catch2)
  string(APPEND LMLAB_BUILT_WITH_DIRS "set(LMLAB_BUILT_WITH_${dep}_DIR \"${${dep}_DIR}\")\n")
endforeach()

configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/lmlabConfig.cmake.in
  ${CMAKE_BINARY_DIR}/lmlab_sdk/lmlabConfig.cmake.tmp
  INSTALL_DESTINATION ${LMLAB_INSTALL_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_BINDIR CMAKE_INSTALL_INCLUDEDIR LMLAB_INSTALL_PLUGIN_DIR)
# The dependency folders go first, before the package's code reads them.
file(READ ${CMAKE_BINARY_DIR}/lmlab_sdk/lmlabConfig.cmake.tmp LMLAB_CONFIG_BODY)
file(WRITE ${CMAKE_BINARY_DIR}/lmlab_sdk/lmlabConfig.cmake "${LMLAB_BUILT_WITH_DIRS}${LMLAB_CONFIG_BODY}")
# Plugins load only into the very host they were built against, so only the same version fits.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/lmlab_sdk/lmlabConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ExactVersion)
install(FILES
  ${CMAKE_BINARY_DIR}/lmlab_sdk/lmlabConfig.cmake
  ${CMAKE_BINARY_DIR}/lmlab_sdk/lmlabConfigVersion.cmake
  ${CMAKE_SOURCE_DIR}/cmake/LmlabPlugin.cmake
  DESTINATION ${LMLAB_INSTALL_CMAKE_DIR})
