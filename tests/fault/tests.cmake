# Fault injection: what the library does when the disk fills, the process is killed, input is
# not UTF-8, state files are damaged or a server lies. Every run directory these tests leave is
# checked by one verifier (tests/support/run_dir_verifier.cpp), TensorBoard's reader included.
set(fault_reader_definitions
  TRAINSCOPE_CONFIGURED_PYTHON="${TRAINSCOPE_PYTHON}"
  TRAINSCOPE_CONFIGURED_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

trainscope_add_test(fault_unit_test
  SOURCES fault/fault_unit_test.cpp support/run_dir_verifier.cpp
  LIBS nlohmann_json::nlohmann_json)
if(TARGET fault_unit_test)
  target_compile_definitions(fault_unit_test PRIVATE ${fault_reader_definitions})
endif()

trainscope_add_test(fault_integration_test INTEGRATION
  SOURCES fault/fault_integration_test.cpp support/run_dir_verifier.cpp
          upload/fake_server.cpp upload/run_fixture.cpp
  LIBS nlohmann_json::nlohmann_json CURL::libcurl)
if(TARGET fault_integration_test)
  target_compile_definitions(fault_integration_test PRIVATE ${fault_reader_definitions}
    TRAINSCOPE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()

# Best tracking across a resume whose summary was damaged (libtorch: checkpoints). Linked to
# trainscope::torch directly rather than with TORCH, so that its one label stays `integration`.
if(TARGET trainscope_torch)
  trainscope_add_test(fault_torch_test INTEGRATION
    SOURCES fault/best_resume_test.cpp
    LIBS nlohmann_json::nlohmann_json trainscope::torch)
endif()
