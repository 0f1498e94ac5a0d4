# The libtorch Callback (docs/callback.md) writing a run directory (docs/run-directory.md), on the CPU; the GPU test
# checks that device metrics and histograms reach the run without host synchronisation.
trainscope_add_test(callback_test TORCH SOURCES callback/callback_test.cpp callback/checkpoint_test.cpp
                    callback/logger_test.cpp callback/flops_test.cpp callback/policy_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
trainscope_add_test(callback_gpu_test TORCH GPU SOURCES callback/callback_gpu_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
trainscope_add_test(logger_gpu_test TORCH GPU SOURCES callback/logger_gpu_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
# W&B masks from the run and the Callback (its own target: new tests do not wait on callback_test).
trainscope_add_test(mask_media_test TORCH SOURCES callback/mask_media_test.cpp LIBS nlohmann_json::nlohmann_json)
