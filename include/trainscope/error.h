#pragma once
// The one exception type trainscope throws at its API boundaries.
#include <stdexcept>
#include <string>

namespace trainscope {

// Thrown for bad arguments and failed operations. The message names the argument (or the
// operation) and what was expected, e.g. "mask_to_rgb: mask: expected rank 2 or 3, got rank 4".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace trainscope
