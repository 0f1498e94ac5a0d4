#include "upload/upload_state.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "run/file_io.h"
#include "trainscope/error.h"

namespace trainscope::detail {

UploadState UploadState::load(const std::string& path) {
  UploadState state;
  std::ifstream in(path, std::ios::binary);
  if (!in) return state;
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error("upload: state file '" + path + "' is not a JSON object; delete it to upload the run again");
  try {
    state.run_path = j.value("run_path", std::string());
    state.history_bytes = j.value("history_bytes", int64_t(0));
    state.history_lines = j.value("history_lines", int64_t(0));
    state.server_lines = j.value("server_lines", int64_t(0));
    state.dropped_lines = j.value("dropped_lines", int64_t(0));
    state.complete = j.value("complete", false);
    state.created = j.value("created", !state.run_path.empty());
    state.events_bytes = j.value("events_bytes", int64_t(0));
    state.events_lines = j.value("events_lines", int64_t(0));
    state.events_server_lines = j.value("events_server_lines", int64_t(0));
    if (j.contains("files")) {
      for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
        FileIdentity id;
        id.size = it.value().at("size").get<int64_t>();
        id.mtime_ns = it.value().at("mtime_ns").get<int64_t>();
        id.inode = it.value().at("inode").get<uint64_t>();
        id.device = it.value().at("device").get<uint64_t>();
        state.files[it.key()] = id;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("upload: state file '" + path + "' is malformed (" + e.what() +
                "); delete it to upload the run again");
  }
  if (state.history_bytes < 0 || state.server_lines < 0 || state.history_lines < 0)
    throw Error("upload: state file '" + path + "' holds negative offsets");
  return state;
}

void UploadState::save(const std::string& path) const {
  nlohmann::json j = {{"run_path", run_path},         {"history_bytes", history_bytes},
                      {"history_lines", history_lines}, {"server_lines", server_lines},
                      {"dropped_lines", dropped_lines}, {"complete", complete},
                      {"created", created},             {"events_bytes", events_bytes},
                      {"events_lines", events_lines},   {"events_server_lines", events_server_lines},
                      {"files", nlohmann::json::object()}};
  for (const auto& [name, id] : files) {
    j["files"][name] = {{"size", id.size}, {"mtime_ns", id.mtime_ns}, {"inode", id.inode},
                        {"device", id.device}};
  }
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace trainscope::detail
