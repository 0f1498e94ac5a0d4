#include "run/run_json.h"

#include "common/utf8.h"
#include "run/file_io.h"
#include "trainscope/error.h"

namespace trainscope::detail {

namespace {
constexpr std::size_t kMaxTagCharacters = 64;  // W&B refuses longer tags

std::size_t code_points(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}
}  // namespace

void check_identity(const RunOptions& o) {
  check_utf8(o.name, "Run", "name");
  check_utf8(o.notes, "Run", "notes");
  check_utf8(o.group, "Run", "group");
  check_utf8(o.job_type, "Run", "job_type");
  for (std::size_t i = 0; i < o.tags.size(); ++i) {
    const std::string& tag = o.tags[i];
    check_utf8(tag, "Run", "tag " + std::to_string(i));
    const std::size_t length = code_points(tag);
    if (length == 0 || length > kMaxTagCharacters)
      throw Error("Run: tags[" + std::to_string(i) + "] '" + tag + "': expected 1.." +
                  std::to_string(kMaxTagCharacters) + " characters, got " + std::to_string(length));
  }
}

nlohmann::json read_run_json(const std::string& dir) {
  const auto text = read_file_if_present(dir + "/run.json");
  if (!text) return nlohmann::json::object();
  auto value = nlohmann::json::parse(*text, nullptr, false);
  return value.is_object() ? value : nlohmann::json::object();
}

nlohmann::json merge_identity(nlohmann::json recorded, const std::string& id, const RunOptions& o) {
  if (!recorded.is_object()) recorded = nlohmann::json::object();
  recorded["id"] = id;
  for (auto [key, value] : {std::pair<const char*, const std::string*>{"name", &o.name}, {"notes", &o.notes},
                            {"group", &o.group}, {"job_type", &o.job_type}})
    if (!value->empty()) recorded[key] = *value;
  if (!o.tags.empty()) recorded["tags"] = o.tags;
  return recorded;
}

}  // namespace trainscope::detail
