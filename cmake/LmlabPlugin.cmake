# Flags and helpers shared by the host, the framework library, plugins and tests, so that every
# binary of the tree is compiled the same way (see the ABI record in framework/include/lmlab/plugin.hpp).

# -fPIC everywhere (rather than CMake's per-kind -fPIE/-fPIC) keeps the flags of libraries and
# executables identical, which is what lets them all reuse one precompiled LibTorch header.
set(LMLAB_COMMON_OPTIONS -fPIC -Wall -Wextra)

function(lmlab_target_defaults target)
  target_compile_options(${target} PRIVATE ${LMLAB_COMMON_OPTIONS})
  target_compile_definitions(${target} PRIVATE BOOST_DLL_USE_STD_FS)
  if(LMLAB_USE_PCH AND TARGET lmlab_pch AND NOT "${target}" STREQUAL "lmlab_pch")
    target_precompile_headers(${target} REUSE_FROM lmlab_pch)
  endif()
endfunction()

# lmlab_add_plugin(<name> SOURCES <files...> [OUTPUT_DIR <dir>] [NO_PCH])
# Builds a plugin as a loadable module linked against the framework library.
function(lmlab_add_plugin name)
  cmake_parse_arguments(ARG "NO_PCH" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${LMLAB_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  if(ARG_OUTPUT_DIR STREQUAL LMLAB_PLUGIN_OUTPUT_DIR)
    add_dependencies(lmlab_runtime ${name})
  endif()
  target_link_libraries(${name} PRIVATE lmlab::framework)
  target_compile_options(${name} PRIVATE ${LMLAB_COMMON_OPTIONS})
  target_compile_definitions(${name} PRIVATE BOOST_DLL_USE_STD_FS)
  if(LMLAB_USE_PCH AND NOT ARG_NO_PCH)
    target_precompile_headers(${name} REUSE_FROM lmlab_pch)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR}
    CXX_VISIBILITY_PRESET default)
endfunction()
