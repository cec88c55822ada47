# Flags and helpers shared by the host, the framework library, plugins and tests, so that every
# binary is compiled the same way (see the ABI record in framework/include/lmlab/plugin.hpp).
# The same file serves the lmlab tree and, installed beside lmlabConfig.cmake, every outside
# plugin project that does find_package(lmlab): one definition of how a plugin is built.

# -fPIC everywhere (rather than CMake's per-kind -fPIE/-fPIC) keeps the flags of libraries and
# executables identical, which is what lets them all reuse one precompiled LibTorch header.
set(LMLAB_COMMON_OPTIONS -fPIC -Wall -Wextra)

# The precompiled LibTorch header for `target`. The lmlab tree defines lmlab_pch itself; an
# outside project gets one made from the installed header on first use, shared by its targets.
function(_lmlab_reuse_pch target)
  if(NOT LMLAB_USE_PCH OR "${target}" STREQUAL "lmlab_pch")
    return()
  endif()
  if(NOT TARGET lmlab_pch)
    if(NOT LMLAB_PCH_HEADER)
      return()
    endif()
    set(source ${CMAKE_BINARY_DIR}/lmlab_sdk/pch.cpp)
    if(NOT EXISTS ${source})
      file(WRITE ${source} "// Compiles the precompiled header that this project's plugins and tests reuse.\n")
    endif()
    add_library(lmlab_pch OBJECT ${source})
    target_link_libraries(lmlab_pch PRIVATE lmlab::framework)
    target_compile_options(lmlab_pch PRIVATE ${LMLAB_COMMON_OPTIONS})
    set_target_properties(lmlab_pch PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    target_precompile_headers(lmlab_pch PRIVATE ${LMLAB_PCH_HEADER})
  endif()
  target_precompile_headers(${target} REUSE_FROM lmlab_pch)
endfunction()

function(lmlab_target_defaults target)
  target_compile_options(${target} PRIVATE ${LMLAB_COMMON_OPTIONS})
  target_compile_definitions(${target} PRIVATE BOOST_DLL_USE_STD_FS)
  set_target_properties(${target} PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  _lmlab_reuse_pch(${target})
endfunction()

# lmlab_add_plugin(<name> SOURCES <files...> [OUTPUT_DIR <dir>] [NO_PCH])
# Builds a plugin as a loadable module lib<name>.so linked against the framework library, into
# OUTPUT_DIR: by default the tree's plugin folder (built-ins, installed with the host), or in
# an outside project <build>/plugins, the folder to put on LMLAB_PLUGIN_PATH.
function(lmlab_add_plugin name)
  cmake_parse_arguments(ARG "NO_PCH" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "lmlab_add_plugin(${name}): SOURCES is empty; list the plugin's .cpp files")
  endif()
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${LMLAB_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  if(TARGET lmlab_runtime AND ARG_OUTPUT_DIR STREQUAL LMLAB_PLUGIN_OUTPUT_DIR)
    # A built-in: part of the runtime, and installed where the host looks for built-ins.
    add_dependencies(lmlab_runtime ${name})
    install(TARGETS ${name} LIBRARY DESTINATION ${LMLAB_INSTALL_PLUGIN_DIR})
  endif()
  target_link_libraries(${name} PRIVATE lmlab::framework)
  if(ARG_NO_PCH)
    target_compile_options(${name} PRIVATE ${LMLAB_COMMON_OPTIONS})
    target_compile_definitions(${name} PRIVATE BOOST_DLL_USE_STD_FS)
    set_target_properties(${name} PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  else()
    lmlab_target_defaults(${name})
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR}
    CXX_VISIBILITY_PRESET default)
endfunction()

# lmlab_add_plugin_test(<name> SOURCES <files...> [PLUGINS <plugin targets...>])
# A Catch2 (v2) test executable registered with ctest. It runs with LMLAB_PLUGIN_PATH set to
# this project's plugin folder, so PluginLoader::load_standard() finds the built-ins and the
# plugins under test exactly as `lmlab run` would. Without Catch2 the test is left out, loudly.
function(lmlab_add_plugin_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PLUGINS" ${ARGN})
  if(NOT TARGET Catch2::Catch2)
    find_package(Catch2 2 QUIET)
  endif()
  # The tests include <catch2/catch.hpp>, which Catch2 v3 no longer has.
  if(NOT TARGET Catch2::Catch2 OR (DEFINED Catch2_VERSION AND Catch2_VERSION VERSION_GREATER_EQUAL 3))
    message(WARNING "lmlab_add_plugin_test(${name}): Catch2 v2 was not found (Debian 12: apt install catch2; "
                    "elsewhere pass -DCatch2_DIR=<a Catch2 2.x install>/lib/cmake/Catch2); the test is not built")
    return()
  endif()
  if(NOT TARGET lmlab_catch_main)
    set(main ${CMAKE_BINARY_DIR}/lmlab_sdk/catch_main.cpp)
    if(NOT EXISTS ${main})
      file(WRITE ${main} "#define CATCH_CONFIG_MAIN\n#include <catch2/catch.hpp>\n")
    endif()
    add_library(lmlab_catch_main OBJECT ${main})
    # LibTorch's flags too (via the framework), so the main agrees with the tests on the C++ ABI.
    target_link_libraries(lmlab_catch_main PRIVATE Catch2::Catch2 lmlab::framework)
    target_compile_options(lmlab_catch_main PRIVATE ${LMLAB_COMMON_OPTIONS})
    set_target_properties(lmlab_catch_main PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  endif()
  add_executable(${name} ${ARG_SOURCES} $<TARGET_OBJECTS:lmlab_catch_main>)
  target_link_libraries(${name} PRIVATE lmlab::framework Catch2::Catch2)
  lmlab_target_defaults(${name})
  if(ARG_PLUGINS)
    add_dependencies(${name} ${ARG_PLUGINS})
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "LMLAB_PLUGIN_PATH=${LMLAB_PLUGIN_OUTPUT_DIR}")
endfunction()
