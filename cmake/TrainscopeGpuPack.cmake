# Writes <build>/gpu-pack-manifest.txt: what scripts/gpu-pack.sh copies for the GPU runner (the
# GPU test executables, the benchmark, the libraries they load) and the GPU test sources (whose
# test names the pack's dry run checks against what the binaries list).
if(NOT TRAINSCOPE_WITH_CUDA OR NOT TARGET trainscope_torch)
  file(REMOVE ${PROJECT_BINARY_DIR}/gpu-pack-manifest.txt)
  return()
endif()
get_property(_gpu_targets GLOBAL PROPERTY TRAINSCOPE_GPU_TEST_TARGETS)
get_property(_gpu_sources GLOBAL PROPERTY TRAINSCOPE_GPU_TEST_SOURCES)
set(_lines "cuda_architectures ${CMAKE_CUDA_ARCHITECTURES}\n")
foreach(t IN LISTS _gpu_targets)
  string(APPEND _lines "test $<TARGET_FILE:${t}>\n")
endforeach()
foreach(s IN LISTS _gpu_sources)
  string(APPEND _lines "source ${PROJECT_SOURCE_DIR}/tests/${s}\n")
endforeach()
if(TARGET trainscope_bench)
  string(APPEND _lines "bench $<TARGET_FILE:trainscope_bench>\n")
endif()
string(APPEND _lines "lib $<TARGET_SONAME_FILE:trainscope_core>\n")
string(APPEND _lines "lib $<TARGET_SONAME_FILE:trainscope_torch>\n")
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/gpu-pack-manifest.txt CONTENT "${_lines}")

# The GPU check's dry run: the pack for the GPU runner is built from this build, fits a device
# call, its binaries resolve their libraries and start, and the script's steps run (GPU ones
# skipped). A broken check is caught in CI, not in a rare, short device call.
if(TRAINSCOPE_TESTS AND TARGET trainscope_bench)
  add_test(NAME gpu_check_dry_run COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/gpu-check.sh --dry-run)
  set_tests_properties(gpu_check_dry_run PROPERTIES LABELS "integration" TIMEOUT 900
    ENVIRONMENT "BUILD_DIR=${PROJECT_BINARY_DIR};PACK_DIR=${PROJECT_BINARY_DIR}/gpu-pack;OUT=${PROJECT_BINARY_DIR}/gpu-check-dry;GPU_PACK_ARGS=--no-build")
endif()
