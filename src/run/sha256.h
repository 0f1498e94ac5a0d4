#pragma once
// SHA-256 for content-addressed media file names and the "sha256" fields of the history rows.
// Computed by OpenSSL's libcrypto (already in the process through libcurl); checked against the
// FIPS 180-4 test vectors.
#include <cstddef>
#include <cstdint>
#include <string>

namespace trainscope::detail {

// Lower-case hex digest of `size` bytes at `data`. Throws Error if libcrypto fails.
std::string sha256_hex(const void* data, std::size_t size);
inline std::string sha256_hex(const std::string& bytes) { return sha256_hex(bytes.data(), bytes.size()); }

}  // namespace trainscope::detail
