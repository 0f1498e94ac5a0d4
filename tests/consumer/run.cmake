# ctest driver: install the build tree to a scratch prefix, then configure, build and run the
# consumer project against it with find_package(trainscope), as a user's project would.
foreach(var TRAINSCOPE_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "run.cmake: ${var} is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${TRAINSCOPE_BUILD_DIR} --prefix ${prefix})

# Nothing installed may point into the build machine: its .venv (libtorch), its build tree.
# Text files (package config, headers) are grepped; the binaries' RUNPATHs are read, since their
# strings legitimately hold libtorch's header paths (__FILE__ in its assertion messages).
set(needles "/.venv/" "site-packages/torch" "${TRAINSCOPE_BUILD_DIR}")
foreach(needle IN LISTS needles)
  execute_process(COMMAND grep -rlF "${needle}" ${prefix}/lib/cmake ${prefix}/include
                  OUTPUT_VARIABLE hits RESULT_VARIABLE rc)
  if(rc EQUAL 0)
    message(FATAL_ERROR "installed files mention '${needle}':\n${hits}")
  endif()
endforeach()
file(GLOB binaries ${prefix}/lib/*.so.*.*.* ${prefix}/bin/*)
foreach(binary IN LISTS binaries)
  file(READ_ELF ${binary} RUNPATH runpath)
  foreach(needle IN LISTS needles)
    string(FIND "${runpath}" "${needle}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${binary}: RUNPATH '${runpath}' points into the build machine ('${needle}')")
    endif()
  endforeach()
endforeach()

set(generator_args)
if(GENERATOR)
  set(generator_args -G ${GENERATOR})
endif()

if(WITH_TORCH)
  # With only trainscope's prefix, the torch component fails with advice on finding libtorch.
  set(ENV{CMAKE_PREFIX_PATH} "${prefix}")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build-no-torch ${generator_args}
            -DWITH_TORCH=ON
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "torch.utils.cmake_prefix_path")
    message(FATAL_ERROR "configuring without libtorch: expected a failure naming "
                        "torch.utils.cmake_prefix_path, got rc=${rc}:\n${out}${err}")
  endif()
endif()

# Through the environment (':'-separated): a ';' list does not survive execute_process.
string(REPLACE ";" ":" prefix_path "${prefix};${CMAKE_PREFIX_PATH}")
set(ENV{CMAKE_PREFIX_PATH} "${prefix_path}")
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build ${generator_args}
    -DCMAKE_BUILD_TYPE=Release -DWITH_TORCH=${WITH_TORCH})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
# A clean environment: no LD_LIBRARY_PATH, so every library is found through RUNPATHs.
set(clean_env env -i PATH=/usr/bin:/bin)
run(${clean_env} ${WORK_DIR}/build/consumer)
if(WITH_TORCH)
  run(${clean_env} ${WORK_DIR}/build/consumer_torch ${WORK_DIR}/runs)
endif()
