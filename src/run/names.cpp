#include "run/names.h"

#include <cstdio>
#include <ctime>
#include <random>

#include "trainscope/run/run.h"

namespace trainscope {

std::string sanitize_file_component(const std::string& key) {
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || c == '_';
    out.push_back(safe ? static_cast<char>(c) : '_');
  }
  if (out.size() > 120) out.resize(120);
  if (out.empty() || out.find_first_not_of('.') == std::string::npos) out = "_" + out;
  return out;
}

namespace detail {

std::string new_run_id() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xffffff);
  return std::string("run-") + stamp + "-" + suffix;
}

}  // namespace detail
}  // namespace trainscope
