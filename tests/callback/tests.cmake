# The libtorch Callback (docs/callback.md) writing a run directory (docs/run-directory.md), on the CPU; the GPU test
# checks that device metrics and histograms reach the run without host synchronisation.
trainscope_add_test(callback_test TORCH SOURCES callback/callback_test.cpp callback/checkpoint_test.cpp
                    callback/logger_test.cpp callback/flops_test.cpp callback/policy_test.cpp
                    callback/mask_media_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
trainscope_add_test(callback_gpu_test TORCH GPU SOURCES callback/callback_gpu_test.cpp
                    LIBS nlohmann_json::nlohmann_json)
