# Histogram op: CPU semantics (unit) and CUDA agreement with the CPU and torch (gpu).
trainscope_add_test(histogram_test SOURCES hist/histogram_test.cpp)
