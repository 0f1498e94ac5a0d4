# Run directory (docs/run-directory.md): writing, resume, Run::log's step rules.
trainscope_add_test(run_test SOURCES run/run_test.cpp run/sha256_test.cpp run/log_test.cpp run/identity_metrics_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
