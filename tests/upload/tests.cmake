# Upload to W&B: unit tests of the pieces, and integration tests against a W&B-protocol server
# (tests/upload/fake_wandb_server.py) that the tests start on loopback and inject faults into.
trainscope_add_test(upload_unit_test
  SOURCES upload/retry_policy_test.cpp upload/credentials_test.cpp upload/history_reader_test.cpp
          upload/upload_state_test.cpp upload/run_fixture.cpp upload/wandb_format_test.cpp
  LIBS nlohmann_json::nlohmann_json)

trainscope_add_test(upload_integration_test INTEGRATION
  SOURCES upload/upload_integration_test.cpp upload/fake_server.cpp upload/run_fixture.cpp
  LIBS nlohmann_json::nlohmann_json CURL::libcurl)
if(TARGET upload_integration_test)
  target_compile_definitions(upload_integration_test PRIVATE
    TRAINSCOPE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TRAINSCOPE_CLI_PATH="$<TARGET_FILE:trainscope_cli>")
  add_dependencies(upload_integration_test trainscope_cli)
endif()

# The Callback's upload option (online / offline / disabled, WANDB_MODE) against the same server.
trainscope_add_test(callback_upload_test TORCH INTEGRATION
  SOURCES upload/callback_upload_test.cpp upload/fake_server.cpp upload/run_fixture.cpp
  LIBS nlohmann_json::nlohmann_json CURL::libcurl)
if(TARGET callback_upload_test)
  target_compile_definitions(callback_upload_test PRIVATE TRAINSCOPE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
