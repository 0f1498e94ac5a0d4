#include "upload/wandb_client.h"

#include <curl/curl.h>

#include <chrono>
#include <sstream>

namespace trainscope::detail {
namespace {

const char* const kUpsertBucket = R"(mutation UpsertBucket($name: String, $project: String, $entity: String, $groupName: String, $displayName: String, $notes: String, $config: JSONString, $host: String, $program: String, $jobType: String, $tags: [String!]) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, groupName: $groupName, displayName: $displayName, notes: $notes, config: $config, host: $host, program: $program, jobType: $jobType, tags: $tags}) {
    bucket { id name project { name entity { name } } }
    inserted
  }
})";

const char* const kCreateRunFiles = R"(mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) {
    runID
    uploadHeaders
    files { name uploadUrl }
  }
})";

const char* const kRunResumeStatus = R"(query RunResumeStatus($project: String, $entity: String, $name: String!) {
  model(name: $project, entityName: $entity) {
    name
    entity { name }
    bucket(name: $name, missingOk: true) { id name historyLineCount eventsLineCount }
  }
})";

std::string url_escape(const std::string& part) {
  char* escaped = curl_easy_escape(nullptr, part.c_str(), int(part.size()));
  std::string out = escaped ? escaped : part;
  curl_free(escaped);
  return out;
}

// What to tell the user for a status W&B uses to say "this will never work".
std::string explain_status(long status) {
  switch (status) {
    case 400: return "the server rejected the request as malformed";
    case 401: return "the API key was rejected; check WANDB_API_KEY or ~/.netrc";
    case 403: return "the API key may not write to this entity/project";
    case 404: return "the entity, project or run does not exist";
    case 409: return "the run conflicts with an existing one";
    case 410: return "the run was deleted";
    case 413: return "the request is larger than the server accepts";
    case 422: return "the server could not process the request";
    default: return "the server refused the request";
  }
}

// The start of a server's answer for an error message (callers scrub the whole body first, so
// cutting it can never leave a partial secret).
std::string excerpt(const std::string& body) {
  constexpr size_t kMax = 200;
  std::string out = body.size() > kMax ? body.substr(0, kMax) + "..." : body;
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

bool looks_like_json(const HttpResponse& response) {
  if (response.content_type.find("json") != std::string::npos) return true;
  return !nlohmann::json::parse(response.body, nullptr, false).is_discarded();
}

}  // namespace

std::string url_origin(const std::string& url) {
  const auto scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const auto end = url.find_first_of("/?#", start);
  return url.substr(0, end == std::string::npos ? url.size() : end);
}

std::string url_for_message(const std::string& url) { return url.substr(0, url.find_first_of("?#")); }

WandbClient::WandbClient(Credentials credentials, const UploadOptions& options,
                         Cancellation& cancellation)
    : credentials_(std::move(credentials)),
      options_(options),
      cancellation_(cancellation),
      http_(HttpSettings{credentials_.api_key, &cancellation, options.ca_bundle,
                         options.connect_timeout_seconds, options.transfer_stall_seconds}),
      retry_(options.retry) {}

namespace {

// Why a file_stream answer is not W&B's (a JSON object such as {"exitcode":null,"limits":{}}).
std::string file_stream_acceptance(const HttpResponse& response) {
  const nlohmann::json reply = nlohmann::json::parse(response.body, nullptr, false);
  if (!reply.is_discarded() && reply.is_object()) return "";
  return "HTTP " + std::to_string(response.status) +
         " whose body is not W&B's JSON answer, so the lines may not have reached W&B (a proxy or "
         "captive portal?): " + excerpt(response.body);
}

std::string graphql_acceptance(const HttpResponse& response) {
  const nlohmann::json reply = nlohmann::json::parse(response.body, nullptr, false);
  if (!reply.is_discarded() && reply.is_object()) return "";
  return "HTTP " + std::to_string(response.status) + " whose body is not JSON (a proxy or captive portal?): " +
         excerpt(response.body);
}

}  // namespace

HttpResponse WandbClient::perform_with_retry(const HttpRequest& request, const std::string& what,
                                             const Acceptance& accept) {
  const auto started = std::chrono::steady_clock::now();
  for (int attempt = 0;; ++attempt) {
    if (cancellation_.cancelled()) throw Error("upload: " + what + ": cancelled");
    ++requests_sent_;
    HttpResponse response = http_.perform(request);
    response.body = http_.scrub(std::move(response.body));  // before any part of it is shown
    const std::string host = url_origin(request.url);
    const std::string shown_url = http_.scrub(url_for_message(request.url));
    if (response.status != 0) answered_hosts_.insert(host);
    // A name that never resolved in this session is a wrong URL far more often than an outage;
    // once the host has answered, a failing lookup is a network outage and is retried.
    if (response.unresolved && !answered_hosts_.count(host)) {
      throw UploadError(http_.scrub("upload: " + what + " failed: cannot resolve the host of " +
                                    shown_url + " (" + response.transport_error +
                                    "); check the base URL (--base-url, WANDB_BASE_URL: " +
                                    credentials_.base_url + ") and the network"),
                        0);
    }
    std::string failure = response.status == 0
                              ? response.transport_error
                              : "HTTP " + std::to_string(response.status);
    const bool answered_2xx = response.status >= 200 && response.status < 300;
    if (answered_2xx) {
      if (!accept) return response;
      failure = accept(response);
      if (failure.empty()) return response;
    }
    if (response.permanent) {
      throw UploadError(http_.scrub("upload: " + what + " failed at " + shown_url + ": " +
                                    response.transport_error +
                                    " (TLS certificates are always verified; a private CA can be "
                                    "given with --ca-bundle or CURL_CA_BUNDLE)"),
                        0);
    }
    if (response.status != 0 && !answered_2xx && !is_retryable_status(response.status)) {
      // W&B answers "no such run" in JSON; a 404 page of another kind means there is no W&B API
      // at that URL (a wrong base URL), which no entity or project can fix.
      const bool no_api = response.status == 404 && !looks_like_json(response);
      std::string message =
          "upload: " + what + " failed with HTTP " + std::to_string(response.status) + " at " +
          shown_url + ": " +
          (no_api ? "no W&B API answers there (the answer is not JSON); check the base URL "
                    "(--base-url, WANDB_BASE_URL: " + credentials_.base_url + ")"
                  : explain_status(response.status));
      if (!response.body.empty()) message += " (server said: " + excerpt(response.body) + ")";
      throw UploadError(http_.scrub(message), response.status);
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double delay = retry_.delay_seconds(attempt, response.retry_after_seconds);
    if (elapsed + delay > retry_.options().max_elapsed_seconds) {
      std::ostringstream message;
      message << "upload: " << what << " still failing after " << attempt + 1 << " attempts over "
              << int(elapsed) << " s (last: " << failure << " at " << shown_url
              << "); the run directory is intact, upload it later with `trainscope sync`";
      throw UploadError(http_.scrub(message.str()), response.status, /*transient=*/true);
    }
    if (!cancellation_.wait_for(delay)) throw Error("upload: " + what + ": cancelled");
  }
}

nlohmann::json WandbClient::graphql(const std::string& query, const nlohmann::json& variables,
                                    const std::string& what) {
  HttpRequest request;
  request.url = credentials_.base_url + "/graphql";
  request.headers = {"Content-Type: application/json", "Accept: application/json"};
  request.body = nlohmann::json{{"query", query}, {"variables", variables}}.dump();
  request.authenticate = true;
  request.timeout_seconds = options_.request_timeout_seconds;
  HttpResponse response = perform_with_retry(request, what, graphql_acceptance);
  nlohmann::json reply = nlohmann::json::parse(response.body, nullptr, false);
  if (reply.is_discarded() || !reply.is_object())
    throw UploadError(http_.scrub("upload: " + what + ": the server's answer is not JSON: " +
                                  excerpt(response.body)),
                      response.status);
  if (reply.contains("errors") && !reply["errors"].empty()) {
    throw UploadError(http_.scrub("upload: " + what + ": " + excerpt(http_.scrub(reply["errors"].dump()))),
                      response.status);
  }
  if (!reply.contains("data") || !reply["data"].is_object())
    throw UploadError("upload: " + what + ": the server's answer has no data", response.status);
  return reply["data"];
}

RunTarget WandbClient::upsert_run(const RunTarget& target, const nlohmann::json& config,
                                  const RunInfo& info, bool* inserted) {
  // W&B stores each config key as {"value": v}.
  nlohmann::json wrapped = nlohmann::json::object();
  if (config.is_object())
    for (auto it = config.begin(); it != config.end(); ++it) wrapped[it.key()] = {{"value", it.value()}};
  nlohmann::json variables = {{"name", target.run_id},
                              {"project", target.project},
                              {"config", wrapped.dump()}};
  if (!target.entity.empty()) variables["entity"] = target.entity;
  if (!info.host.empty()) variables["host"] = info.host;
  if (!info.program.empty()) variables["program"] = info.program;
  if (!info.display_name.empty()) variables["displayName"] = info.display_name;
  if (!info.notes.empty()) variables["notes"] = info.notes;
  if (!info.group.empty()) variables["groupName"] = info.group;
  if (!info.job_type.empty()) variables["jobType"] = info.job_type;
  if (info.tags) variables["tags"] = *info.tags;
  nlohmann::json data = graphql(kUpsertBucket, variables, "creating run " + target.run_id);
  if (inserted) {
    const auto flag = data.value("/upsertBucket/inserted"_json_pointer, nlohmann::json());
    *inserted = flag.is_boolean() && flag.get<bool>();
  }

  RunTarget resolved = target;
  const auto bucket = data.value("/upsertBucket/bucket"_json_pointer, nlohmann::json());
  if (bucket.is_object()) {
    resolved.project =
        bucket.value("/project/name"_json_pointer, nlohmann::json(target.project)).get<std::string>();
    const auto entity = bucket.value("/project/entity/name"_json_pointer, nlohmann::json());
    if (entity.is_string()) resolved.entity = entity.get<std::string>();
  }
  if (resolved.entity.empty())
    throw UploadError("upload: creating run " + target.run_id +
                          ": no entity given (set WANDB_ENTITY or --entity) and the server named none",
                      200);
  return resolved;
}

RunStatus WandbClient::run_status(const RunTarget& target) {
  nlohmann::json variables = {{"name", target.run_id}, {"project", target.project}};
  if (!target.entity.empty()) variables["entity"] = target.entity;
  nlohmann::json data = graphql(kRunResumeStatus, variables, "looking up run " + target.run_id);
  RunStatus status;
  status.project = target.project;
  status.entity = target.entity;
  const auto model = data.value("model", nlohmann::json());
  if (!model.is_object()) return status;  // no such project yet: no such run either
  const auto project = model.value("name", nlohmann::json());
  if (project.is_string()) status.project = project.get<std::string>();
  const auto entity = model.value("/entity/name"_json_pointer, nlohmann::json());
  if (entity.is_string()) status.entity = entity.get<std::string>();
  const auto bucket = model.value("bucket", nlohmann::json());
  if (!bucket.is_object()) return status;
  status.exists = true;
  auto count = [&](const char* key) {
    const auto v = bucket.value(key, nlohmann::json());
    return v.is_number_integer() ? v.get<int64_t>() : int64_t(0);
  };
  status.history_lines = count("historyLineCount");
  status.events_lines = count("eventsLineCount");
  return status;
}

void WandbClient::file_stream(const RunTarget& target, const nlohmann::json& body) {
  HttpRequest request;
  request.url = credentials_.base_url + "/files/" + url_escape(target.entity) + "/" +
                url_escape(target.project) + "/" + url_escape(target.run_id) + "/file_stream";
  request.headers = {"Content-Type: application/json"};
  request.body = body.dump();
  request.authenticate = true;
  request.timeout_seconds = options_.request_timeout_seconds;
  perform_with_retry(request, "file_stream of " + target.path(), file_stream_acceptance);
}

std::vector<UploadSlot> WandbClient::create_run_files(const RunTarget& target,
                                                      const std::vector<std::string>& names) {
  nlohmann::json variables = {{"entity", target.entity},
                              {"project", target.project},
                              {"run", target.run_id},
                              {"files", names}};
  nlohmann::json data = graphql(kCreateRunFiles, variables, "requesting upload URLs");
  const auto result = data.value("createRunFiles", nlohmann::json());
  if (!result.is_object() || !result.contains("files") || !result["files"].is_array())
    throw UploadError("upload: requesting upload URLs: the answer has no files", 200);
  std::vector<std::string> headers;
  if (result.contains("uploadHeaders") && result["uploadHeaders"].is_array()) {
    for (const auto& header : result["uploadHeaders"]) {
      // W&B sends "Name:value"; libcurl wants "Name: value".
      std::string text = header.get<std::string>();
      const auto colon = text.find(':');
      if (colon == std::string::npos) continue;
      std::string value = text.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      headers.push_back(text.substr(0, colon) + ": " + value);
    }
  }
  std::vector<UploadSlot> slots;
  for (const auto& file : result["files"]) {
    if (!file.is_object() || !file.value("uploadUrl", nlohmann::json()).is_string()) continue;
    slots.push_back({file.value("name", std::string()), file["uploadUrl"].get<std::string>(), headers});
  }
  return slots;
}

void WandbClient::put_file(const UploadSlot& slot, int fd, int64_t size) {
  HttpRequest request;
  request.method = "PUT";
  request.url = slot.url;
  request.headers = slot.headers;
  request.upload_fd = fd;
  request.upload_size = size;
  request.authenticate = false;  // signed URL: the key must not travel to the storage service
  perform_with_retry(request, "uploading " + slot.name);
}

}  // namespace trainscope::detail
