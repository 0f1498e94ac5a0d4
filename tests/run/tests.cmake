# Run directory (docs/run-directory.md) and the callback's tensor-free policy (docs/callback.md).
trainscope_add_test(run_test SOURCES run/run_test.cpp run/sha256_test.cpp run/policy_test.cpp run/log_test.cpp
                    ${PROJECT_SOURCE_DIR}/src/torch/callback/policy.cpp
                    LIBS nlohmann_json::nlohmann_json)
