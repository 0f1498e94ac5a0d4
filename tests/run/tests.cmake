# Run directory (SPEC §3) and the callback's tensor-free policy (SPEC §1).
trainscope_add_test(run_test SOURCES run/run_test.cpp run/sha256_test.cpp run/policy_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
