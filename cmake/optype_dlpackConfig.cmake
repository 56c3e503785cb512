# optype_dlpack's CMake package: the headers of the installed Python package, dlpack.h
# among them, as the imported INTERFACE target optype_dlpack::headers.
#
#     find_package(Python COMPONENTS Interpreter Development.Module REQUIRED)
#     find_package(pybind11 CONFIG REQUIRED)
#     find_package(optype_dlpack CONFIG REQUIRED)
#     pybind11_add_module(ext ext.cpp)
#     target_link_libraries(ext PRIVATE optype_dlpack::headers)
#
# with optype_dlpack_DIR (or CMAKE_PREFIX_PATH) set to optype_dlpack.get_cmake_dir().
# The extension needs optype_dlpack importable at run time: the headers use its _core module
# (errors, TensorInfo, the CUDA driver).

# This file lies in <package>/share/cmake/optype_dlpack.
get_filename_component(_optype_dlpack_package "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(optype_dlpack_INCLUDE_DIR "${_optype_dlpack_package}/include")
unset(_optype_dlpack_package)

if(NOT EXISTS "${optype_dlpack_INCLUDE_DIR}/optype_dlpack/optype_dlpack.hpp"
   OR NOT EXISTS "${optype_dlpack_INCLUDE_DIR}/dlpack/dlpack.h")
  set(optype_dlpack_FOUND FALSE)
  set(optype_dlpack_NOT_FOUND_MESSAGE
      "optype_dlpack: no headers in ${optype_dlpack_INCLUDE_DIR} (an incomplete installation)")
  return()
endif()

if(NOT TARGET optype_dlpack::headers)
  add_library(optype_dlpack::headers INTERFACE IMPORTED)
  set_target_properties(optype_dlpack::headers PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${optype_dlpack_INCLUDE_DIR}"
    INTERFACE_COMPILE_FEATURES cxx_std_17)
endif()
