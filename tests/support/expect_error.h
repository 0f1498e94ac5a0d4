#pragma once
// Asserts that fn throws trainscope::Error whose message mentions `needle` (the argument name,
// usually): the bad-argument tests of every op use it.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "trainscope/error.h"

namespace trainscope::test_support {

inline void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected trainscope::Error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The same, with a message that mentions every one of `needles`.
inline void expect_error_all(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected trainscope::Error mentioning " << needles.front();
  } catch (const Error& e) {
    for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace trainscope::test_support
