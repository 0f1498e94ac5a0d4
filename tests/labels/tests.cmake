# Labels from logits and the fused segmentation → RGB path (docs/ops.md).
trainscope_add_test(labels_test SOURCES labels/labels_test.cpp labels/segmentation_test.cpp)
trainscope_add_test(labels_torch_test TORCH SOURCES labels/labels_torch_test.cpp)
trainscope_add_test(labels_gpu_test TORCH GPU SOURCES labels/labels_gpu_test.cpp labels/labels_mapping_gpu_test.cpp)
trainscope_add_test(labels_simd_test SOURCES labels/labels_simd_test.cpp)  # vector CPU paths vs scalar + reference
# How the CUDA labels kernels map rows onto threads (kernels/labels_mapping.h), on the CPU.
trainscope_add_test(labels_mapping_test SOURCES labels/labels_mapping_test.cpp)
