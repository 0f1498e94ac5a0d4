# Distributed training on c10d (docs/distributed.md): Gloo over loopback with 2 and 4 processes,
# created in Python and passed to trainscope through a torch extension built (once) in the build
# tree. The script's watchdog turns a hang into a failure well before the ctest timeout.
# The op's two passes split for sharded tensors, against the op itself (no torch, no processes).
trainscope_add_test(histogram_parts_test SOURCES distributed/histogram_parts_test.cpp)

if(TARGET trainscope_torch AND TRAINSCOPE_PYTHON)
  add_test(NAME distributed_gloo
    COMMAND ${TRAINSCOPE_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/distributed_test.py
      --source-dir ${PROJECT_SOURCE_DIR} --build-dir ${PROJECT_BINARY_DIR} --worlds 2,4)
  set_tests_properties(distributed_gloo PROPERTIES
    LABELS torch-integration
    TIMEOUT 280
    ENVIRONMENT "MAX_JOBS=2;OMP_NUM_THREADS=1;TRAINSCOPE_NUM_THREADS=1")
endif()

# The data-parallel example: 2 Gloo ranks, one run directory (rank 0's) with its checkpoint.
if(TARGET trainscope_torch AND TRAINSCOPE_PYTHON)
  set(ddp_root ${CMAKE_CURRENT_BINARY_DIR}/ddp-example-runs)
  add_test(NAME example_ddp_classifier
    COMMAND ${TRAINSCOPE_PYTHON} ${PROJECT_SOURCE_DIR}/examples/ddp_classifier.py
      --build-dir ${PROJECT_BINARY_DIR} --world 2 --epochs 2 --root ${ddp_root} --check)
  set_tests_properties(example_ddp_classifier PROPERTIES
    LABELS torch-integration
    TIMEOUT 280
    ENVIRONMENT "MAX_JOBS=2;OMP_NUM_THREADS=1;TRAINSCOPE_NUM_THREADS=1")
endif()
