# ctest driver: install the build tree to a scratch prefix, then configure, build and run the
# consumer project against it with find_package(trainscope).
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
set(generator_args)
if(GENERATOR)
  set(generator_args -G ${GENERATOR})
endif()
# Through the environment (':'-separated): a ';' list does not survive execute_process.
string(REPLACE ";" ":" prefix_path "${prefix};${CMAKE_PREFIX_PATH}")
set(ENV{CMAKE_PREFIX_PATH} "${prefix_path}")
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build ${generator_args}
    -DCMAKE_BUILD_TYPE=Release -DWITH_TORCH=${WITH_TORCH})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(WITH_TORCH)
  run(${WORK_DIR}/build/consumer_torch)
endif()
