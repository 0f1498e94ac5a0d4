#pragma once
// SHA-256 (FIPS 180-4) for content-addressed media file names and the "sha256" fields of the
// history rows. Small and dependency-free; checked against the FIPS test vectors and hashlib.
#include <cstddef>
#include <cstdint>
#include <string>

namespace trainscope::detail {

// Lower-case hex digest of `size` bytes at `data`.
std::string sha256_hex(const void* data, std::size_t size);
inline std::string sha256_hex(const std::string& bytes) { return sha256_hex(bytes.data(), bytes.size()); }

}  // namespace trainscope::detail
