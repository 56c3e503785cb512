# Installs the CMake package that lets an extension say find_package(optype_dlpack CONFIG)
# and link the imported target optype_dlpack::headers, as pybind11 does:
#
#     cmake -Doptype_dlpack_DIR="$(python -c 'import optype_dlpack; print(optype_dlpack.get_cmake_dir())')"
#
# The files land in optype_dlpack/share/cmake/optype_dlpack inside the package; the
# configuration finds the headers relative to itself, so a wheel can be installed anywhere.

include(CMakePackageConfigHelpers)

# The one version of the package is pyproject.toml's.
file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/pyproject.toml" _optype_dlpack_version_line
     REGEX "^version = \"[^\"]+\"" LIMIT_COUNT 1)
string(REGEX REPLACE "^version = \"([^\"]+)\".*" "\\1" OPTYPE_DLPACK_PACKAGE_VERSION "${_optype_dlpack_version_line}")
if(NOT OPTYPE_DLPACK_PACKAGE_VERSION)
  message(FATAL_ERROR "optype_dlpack: no version = \"...\" line in pyproject.toml")
endif()

set(_optype_dlpack_cmake_dir "${CMAKE_CURRENT_BINARY_DIR}/package")
write_basic_package_version_file(
  "${_optype_dlpack_cmake_dir}/optype_dlpackConfigVersion.cmake"
  VERSION "${OPTYPE_DLPACK_PACKAGE_VERSION}"
  COMPATIBILITY SameMinorVersion   # 0.x: a minor release may change the headers' ABI with _core
  ARCH_INDEPENDENT)                # headers only
install(FILES cmake/optype_dlpackConfig.cmake "${_optype_dlpack_cmake_dir}/optype_dlpackConfigVersion.cmake"
        DESTINATION optype_dlpack/share/cmake/optype_dlpack)
