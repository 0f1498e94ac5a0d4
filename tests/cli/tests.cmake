# The `trainscope` command-line tool, run as a child process on run directories written by
# trainscope::Run (and, for sync, against loopback ports that refuse or reject).
trainscope_add_test(cli_test SOURCES cli/cli_test.cpp LIBS nlohmann_json::nlohmann_json)
if(TARGET cli_test)
  target_compile_definitions(cli_test PRIVATE
    TRAINSCOPE_CLI_PATH="$<TARGET_FILE:trainscope_cli>" TRAINSCOPE_VERSION="${PROJECT_VERSION}")
  add_dependencies(cli_test trainscope_cli)
endif()
