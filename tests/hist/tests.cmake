# Histogram op: CPU semantics (unit) and CUDA agreement with the CPU and torch (gpu).
trainscope_add_test(histogram_test SOURCES hist/histogram_test.cpp)
trainscope_add_test(histogram_torch_test TORCH SOURCES hist/histogram_torch_test.cpp)
trainscope_add_test(histogram_gpu_test TORCH GPU SOURCES hist/histogram_gpu_test.cpp)
trainscope_add_test(histogram_schedule_test SOURCES hist/histogram_schedule_test.cpp)
trainscope_add_test(histogram_l2_schedule_test SOURCES hist/histogram_l2_schedule_test.cpp)
trainscope_add_test(histogram_fast_bin_test SOURCES hist/histogram_fast_bin_test.cpp)
