#pragma once
// Argument checks that throw trainscope::Error naming the operation and the argument.
#include <sstream>
#include <string>

#include "trainscope/error.h"
#include "trainscope/tensor_view.h"

namespace trainscope::detail {

template <typename... Parts>
[[noreturn]] void fail(const char* op, const char* arg, const Parts&... parts) {
  std::ostringstream os;
  os << op << ": " << arg << ": ";
  (os << ... << parts);
  throw Error(os.str());
}

// Message parts are evaluated before the call: where one costs (describe(), str()) and the check
// runs per tensor, write `if (!ok) fail(...)` instead.
template <typename... Parts>
void check(bool ok, const char* op, const char* arg, const Parts&... parts) {
  if (!ok) fail(op, arg, parts...);
}

inline void check_not_null(const TensorView& t, const char* op, const char* arg) {
  if (t.data == nullptr && t.numel() != 0) fail(op, arg, "data pointer is null for ", t.describe());
  check(t.strides.size() == t.shape.size(), op, arg, "has ", t.shape.size(), " dims but ",
        t.strides.size(), " strides");
}

inline void check_same_device(const TensorView& a, const TensorView& b, const char* op,
                              const char* arg_b) {
  if (!(a.device == b.device)) fail(op, arg_b, "expected device ", a.device.str(), ", got ", b.device.str());
}

// Throws unless this build can run work on `device`.
void check_device_usable(const Device& device, const char* op, const char* arg);

}  // namespace trainscope::detail
