#pragma once
// Bytes as lowercase hex, for comparing encodings with published test vectors.
#include <cstdio>
#include <string>

namespace trainscope::test_support {

inline std::string hex_bytes(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

}  // namespace trainscope::test_support
