#pragma once
// The uploader's durable progress, <run-dir>/upload/wandb-state.json, replaced atomically (temp
// file, fsync, rename, fsync of the directory). It only ever records what the server acknowledged,
// so after a crash the next session resends at most the unacknowledged tail — at the same offsets,
// which the server treats as a replacement, never as new lines.
#include <cstdint>
#include <map>
#include <string>

namespace trainscope::detail {

// Which version of a file was uploaded: a file replaced by rename gets a new inode and mtime.
struct FileIdentity {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
  bool operator==(const FileIdentity& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && inode == o.inode && device == o.device;
  }
  bool operator!=(const FileIdentity& o) const { return !(*this == o); }
};

struct UploadState {
  std::string run_path;           // entity/project/run this progress belongs to
  int64_t history_bytes = 0;      // prefix of history.jsonl fully handled (sent or dropped)
  int64_t history_lines = 0;      // local lines in that prefix
  int64_t server_lines = 0;       // lines the server holds: the offset of the next line sent
  int64_t dropped_lines = 0;      // local lines not sent (too long, not JSON)
  std::map<std::string, FileIdentity> files;  // run-relative path → version the server has
  bool complete = false;          // complete/exitcode acknowledged
  // This directory created run_path (the run did not exist when it was first uploaded), so it
  // may keep writing to it; a state of an older version without the field counts as created.
  bool created = false;
  int64_t events_bytes = 0;         // prefix of wandb-events.jsonl handled
  int64_t events_lines = 0;         // local lines in that prefix
  int64_t events_server_lines = 0;  // offset of the next wandb-events.jsonl line

  // A missing file is a fresh state; a corrupt one is an Error (never guess progress).
  static UploadState load(const std::string& path);
  void save(const std::string& path) const;
};

}  // namespace trainscope::detail
