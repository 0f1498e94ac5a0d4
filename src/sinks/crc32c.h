#pragma once
// CRC-32C (Castagnoli), the checksum of TensorBoard's record framing, and its masked form.
// Two implementations with identical results: the SSE4.2 crc32 instruction, used when the CPU has
// it (detected at run time, so one binary serves every x86-64), and a portable slicing-by-8 path.
#include <cstddef>
#include <cstdint>

namespace trainscope::detail {

// CRC-32C of `size` bytes at `data`, continuing from `crc` (0 to start). Picks the fastest path.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32c(const void* data, size_t size) { return crc32c_extend(0, data, size); }

// The two paths, exposed so tests can compare them. crc32c_hardware must only be called when
// crc32c_hardware_available() is true.
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t size);
bool crc32c_hardware_available();
uint32_t crc32c_hardware(uint32_t crc, const void* data, size_t size);

// TensorBoard stores CRCs masked (rotated right by 15 bits plus a constant) because a CRC of data
// that itself contains CRCs is weak.
constexpr uint32_t mask_crc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
constexpr uint32_t unmask_crc32c(uint32_t masked) {
  const uint32_t rotated = masked - 0xa282ead8u;
  return (rotated >> 17) | (rotated << 15);
}
inline uint32_t masked_crc32c(const void* data, size_t size) {
  return mask_crc32c(crc32c(data, size));
}

}  // namespace trainscope::detail
