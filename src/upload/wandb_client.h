#pragma once
// W&B's run API (docs/upload.md): UpsertBucket creates or resumes a run, file_stream appends history
// lines at explicit offsets and replaces the summary, CreateRunFiles hands out signed URLs that
// files are PUT to. Every call retries as RetryPolicy says and throws Error when it gives up or
// when the server refuses for good; error texts never contain the API key.
#include <cstdint>
#include <functional>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainscope/error.h"
#include "upload/cancellation.h"
#include "upload/credentials.h"
#include "upload/http_client.h"
#include "upload/retry_policy.h"

namespace trainscope::detail {

struct RunTarget {
  std::string entity;   // filled in from the server's answer when the options left it empty
  std::string project;
  std::string run_id;
  std::string path() const { return entity + "/" + project + "/" + run_id; }
};

struct UploadSlot {
  std::string name;  // path inside the run, e.g. "media/images/x.png"
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
};

// Thrown when a request failed for good (non-retryable status or retries exhausted).
class UploadError : public Error {
 public:
  UploadError(const std::string& message, long status, bool transient = false)
      : Error(message), status_(status), transient_(transient) {}
  long status() const { return status_; }
  // Retries were exhausted on a failure that may pass (connection, 408, 429, 5xx): trying the
  // same upload again later can succeed.
  bool transient() const { return transient_; }

 private:
  long status_;
  bool transient_;
};

// What RunResumeStatus says about a run id.
struct RunStatus {
  bool exists = false;
  int64_t history_lines = 0;  // lines the server holds: where appended history goes
  int64_t events_lines = 0;
  std::string entity;         // as the server named them (the key's default entity when unset)
  std::string project;
};

// Values UpsertBucket takes besides the config (empty ones are not sent).
struct RunInfo {
  std::string host;
  std::string program;
  // The run's identity (run.json): W&B's displayName, notes, groupName, jobType, tags.
  std::string display_name, notes, group, job_type;
  std::optional<std::vector<std::string>> tags;  // sent when recorded, even empty (clears them)
};

class WandbClient {
 public:
  WandbClient(Credentials credentials, const UploadOptions& options, Cancellation& cancellation);

  // Creates the run or resumes it; `config` is the run's config.json object (each key is sent
  // wrapped as {"value": v}). Returns the target with entity and project as the server named
  // them; `inserted` (when given) receives whether the server created the run.
  RunTarget upsert_run(const RunTarget& target, const nlohmann::json& config,
                       const RunInfo& info = {}, bool* inserted = nullptr);

  // RunResumeStatus: whether the run exists and how many history lines it holds.
  RunStatus run_status(const RunTarget& target);

  // One file_stream request; the body is {"files": {...}} and/or "complete"/"exitcode".
  void file_stream(const RunTarget& target, const nlohmann::json& body);

  std::vector<UploadSlot> create_run_files(const RunTarget& target,
                                           const std::vector<std::string>& names);

  // PUTs the first `size` bytes of the open file to the slot's signed URL (no API key sent there).
  void put_file(const UploadSlot& slot, int fd, int64_t size);

  int64_t requests_sent() const { return requests_sent_; }

 private:
  // Performs the request until it succeeds, throwing UploadError when it must not be retried or
  // max_elapsed has passed, and Error("cancelled") when cancelled. Success is a 2xx answer that
  // `accept` (when given) finds well-formed: it returns why not, or "" — a proxy or captive
  // portal can answer 2xx without the server having seen the request, so that is retried too.
  using Acceptance = std::function<std::string(const HttpResponse&)>;
  HttpResponse perform_with_retry(const HttpRequest& request, const std::string& what,
                                  const Acceptance& accept = {});
  nlohmann::json graphql(const std::string& query, const nlohmann::json& variables,
                         const std::string& what);

  Credentials credentials_;
  UploadOptions options_;
  Cancellation& cancellation_;
  HttpClient http_;
  RetryPolicy retry_;
  int64_t requests_sent_ = 0;
  std::set<std::string> answered_hosts_;  // hosts that answered in this session
};

// "scheme://host[:port]" of a URL, and the URL without its query (signed URLs carry tokens there).
std::string url_origin(const std::string& url);
std::string url_for_message(const std::string& url);

}  // namespace trainscope::detail
