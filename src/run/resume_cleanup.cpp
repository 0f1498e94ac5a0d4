#include "run/resume_cleanup.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "run/file_io.h"

namespace trainscope::detail {
namespace {

namespace fs = std::filesystem;

bool process_alive(long pid) {
  if (pid <= 0) return false;
  if (pid == static_cast<long>(::getpid())) return true;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

template <typename Remove>
int remove_in(const fs::path& folder, Remove&& should_remove) {
  int removed = 0;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return 0;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (should_remove(it->path().filename().string()) && ::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

bool is_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

int64_t media_file_step(const std::string& name) {
  std::string stem;
  for (const char* suffix : {".table.json", ".png"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      stem = name.substr(0, name.size() - s.size());
      break;
    }
  }
  // ..._<step>_<20 hex>
  if (stem.size() < 23 || stem[stem.size() - 21] != '_' || !is_hex(stem.substr(stem.size() - 20))) return -1;
  const std::size_t step_end = stem.size() - 21;
  const std::size_t underscore = stem.rfind('_', step_end - 1);
  if (underscore == std::string::npos || underscore + 1 == step_end) return -1;
  int64_t step = 0;
  for (std::size_t i = underscore + 1; i < step_end; ++i) {
    if (stem[i] < '0' || stem[i] > '9' || step > (int64_t(1) << 56)) return -1;
    step = step * 10 + (stem[i] - '0');
  }
  return step;
}

int remove_stale_temporaries(const std::string& run_dir) {
  auto stale = [](const std::string& name) {
    long pid = 0;
    return is_atomic_temp_name(name, &pid) && !process_alive(pid);
  };
  const fs::path root(run_dir);
  int removed = 0;
  for (const char* sub : {"", "media/images", "media/images/mask", "media/table", "checkpoints"}) removed += remove_in(root / sub, stale);
  return removed;
}

int remove_unreferenced_media(const std::string& run_dir, int64_t next_step) {
  auto orphan = [next_step](const std::string& name) {
    const int64_t step = media_file_step(name);
    return step >= 0 && step >= next_step;
  };
  const fs::path root(run_dir);
  return remove_in(root / "media/images", orphan) + remove_in(root / "media/images/mask", orphan) +
         remove_in(root / "media/table", orphan);
}

}  // namespace trainscope::detail
